package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// previousSchema is the newest migration of the release a rolling upgrade
// starts from (56144a1).
const previousSchema = 4

// oldSchema returns a schema migrated as the previous release left it, with
// n emails written by it, and a goose provider of this build's migrations.
func oldSchema(t *testing.T, n int) (*sql.DB, *goose.Provider) {
	t.Helper()
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations/postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), previousSchema); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO emails (event_uuid, state, recipient, template, created_at, updated_at)
		SELECT 'old-' || g, 'sent', ' User' || g || '@Example.COM. ', 'feature_used', '2026-11-28T12:00:00Z', '2026-11-28T12:00:00Z'
		FROM generate_series(1, $1) g`, n); err != nil {
		t.Fatal(err)
	}
	return db, p
}

// stallMigration makes the migrations stop at the creation of
// training_stats_state (late in 00006): a session creates a table of that
// name and keeps its transaction open. It returns the migrating session's
// pid once it waits there, and a function that lets it go on.
func stallMigration(t *testing.T, db *sql.DB, migrate func() error) (pid int, release func(), done <-chan error) {
	t.Helper()
	ctx := context.Background()
	blocker, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec(`CREATE TABLE training_stats_state (x INT)`); err != nil {
		t.Fatal(err)
	}
	var blockerPid int
	if err := blocker.QueryRow(`SELECT pg_backend_pid()`).Scan(&blockerPid); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- migrate() }()
	proctest.Eventually(t, "the migration waiting at training_stats_state", 60*time.Second, func() error {
		err := db.QueryRow(`SELECT pid FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))
			AND query ILIKE '%training_stats_state%'`, blockerPid).Scan(&pid)
		if err != nil {
			return fmt.Errorf("not waiting yet: %v", err)
		}
		return nil
	})
	return pid, func() { blocker.Rollback() }, ch
}

// TestMigration00006KeepsEmailsWritable runs migration 00006 on the
// previous release's schema and stops it late (after its backfill of
// emails): meanwhile the previous release's replicas must still be able
// to insert emails. When 00006 ran as one transaction, its ALTER TABLE
// held the emails table's exclusive lock to the end, and every commit of
// every old replica queued behind it (measured: 45 s with a million
// emails on the 2-core test machine).
func TestMigration00006KeepsEmailsWritable(t *testing.T) {
	db, p := oldSchema(t, 200)
	ctx := context.Background()
	_, release, done := stallMigration(t, db, func() error { _, err := p.UpTo(ctx, 6); return err })
	defer release()

	// An old replica's insert, on its own session.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	inserted := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(ctx, `INSERT INTO emails (event_uuid, state, recipient, template, created_at, updated_at)
			VALUES ('during', 'queued', 'during@example.com', 'feature_used', '2026-11-29T12:00:00Z', '2026-11-29T12:00:00Z')`)
		inserted <- err
	}()
	for waiting := false; !waiting; {
		select {
		case err := <-inserted:
			if err != nil {
				t.Fatalf("insert during the migration: %v", err)
			}
			waiting = true // done: not waiting
			continue
		case <-time.After(50 * time.Millisecond):
		}
		var blockedOnEmails bool
		if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted AND relation = 'emails'::regclass)`, pid).Scan(&blockedOnEmails); err != nil {
			t.Fatal(err)
		}
		if blockedOnEmails {
			release()
			<-inserted
			t.Fatal("an insert into emails waits for the migration's lock on the table")
		}
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("migration: %v", err)
	}
	checkMigrated00006(t, db, 200)
}

// TestMigration00006Rerun kills the session running 00006 late in the
// migration, then runs the migrations again: as 00006 commits statement by
// statement, its second run must find part of its work done and finish it.
func TestMigration00006Rerun(t *testing.T) {
	db, p := oldSchema(t, 200)
	ctx := context.Background()
	pid, release, done := stallMigration(t, db, func() error { _, err := p.UpTo(ctx, 6); return err })
	if _, err := db.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("the killed migration reported success")
	}
	release()
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatalf("the migrations run again after 00006 was killed half way: %v", err)
	}
	checkMigrated00006(t, db, 200)
}

// checkMigrated00006 checks what 00006 promises: every email row
// of the previous release keyed, the indexes valid, the version recorded.
// (Rows an old replica writes after the backfill stay unkeyed: the code
// reads them by recipient.)
func checkMigrated00006(t *testing.T, db *sql.DB, rows int) {
	t.Helper()
	var keyed, wrong int
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE recipient_key IS NOT NULL),
		count(*) FILTER (WHERE recipient_key <> rtrim(lower(trim(recipient)), '.')) FROM emails WHERE event_uuid LIKE 'old-%'`).Scan(&keyed, &wrong); err != nil {
		t.Fatal(err)
	}
	if keyed != rows || wrong != 0 {
		t.Errorf("%d of %d emails keyed, %d keyed wrong", keyed, rows, wrong)
	}
	var valid int
	if err := db.QueryRow(`SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname IN ('emails_cap_key', 'emails_attempted', 'emails_domain_attempted', 'training_prompt_top')
		AND c.relnamespace = current_schema()::regnamespace AND i.indisvalid`).Scan(&valid); err != nil {
		t.Fatal(err)
	}
	if valid != 4 {
		t.Errorf("%d of the 4 indexes of 00006 exist and are valid", valid)
	}
	var v int64
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&v); err != nil || v != 6 {
		t.Errorf("schema version %d (%v), want 6", v, err)
	}
}
