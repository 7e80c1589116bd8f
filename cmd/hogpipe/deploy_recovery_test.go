package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// startingAddr is the address a replica logged when it bound its listener,
// before it is ready (the "listening" line comes only once it is).
func startingAddr(r *replica) string {
	for _, line := range strings.Split(r.Logs(), "\n") {
		if strings.Contains(line, `"msg":"starting;`) {
			_, a, _ := strings.Cut(line, `"addr":"`)
			addr, _, _ := strings.Cut(a, `"`)
			return addr
		}
	}
	return ""
}

// lockTable locks table in a transaction of its own, as a slow or busy
// database (or another session's long statement) would hold it.
func lockTable(t *testing.T, db *sql.DB, table string) *sql.Tx {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE ` + table + ` IN ACCESS EXCLUSIVE MODE`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	return tx
}

// TestSIGTERMDuringRecovery stops a replica while it brings the training
// file up to date (held there by a lock on the file's watermark table, as a
// slow or busy database would): /readyz says it is recovering, and SIGTERM
// must end it at once with exit code 0, as SIGTERM during the wait for a
// migration does — not after the recovery's own 30 s bound, with exit code
// 1, long past an orchestrator's grace period (as before the fix).
func TestSIGTERMDuringRecovery(t *testing.T) {
	bin := needBinary(t)
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := sqlstore.OpenPostgres(ctx, url, sqlstore.Options{}) // the schema, migrated
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := openPG(t, url)
	tx := lockTable(t, db, "mirror_state")
	defer tx.Rollback()

	dir := t.TempDir()
	r := launch(t, "recovering replica", bin, []string{"DATABASE_URL=" + url}, append(replicaDirs(dir, "data"), "--shutdown-grace", "5s")...)
	proctest.Eventually(t, "/readyz saying the training file is being recovered", 60*time.Second, func() error {
		addr := startingAddr(r)
		if addr == "" {
			return errors.New("no address logged yet")
		}
		ready := get(t, "http://"+addr+"/readyz")
		if ready.Status != 503 || !strings.Contains(fmt.Sprint(ready.Body["error"]), "recovering the training file") {
			return fmt.Errorf("/readyz: %d %v", ready.Status, ready.Body)
		}
		return nil
	})
	if err := r.stop(t); err != nil {
		t.Errorf("SIGTERM during the training file's recovery: %v, want exit 0", err)
	}
	if !strings.Contains(r.Logs(), "stopped while starting") {
		t.Errorf("the log does not say it stopped while starting:\n%s", r.Logs())
	}
	// The recovery was still held up when the replica exited: it did not
	// wait for it.
	if err := tx.Commit(); err != nil {
		t.Fatalf("the lock holder's transaction: %v", err)
	}
}

// TestKilledMidMigration kills (SIGKILL) the replica that is migrating the
// schema, in the middle of a migration (held there by a lock on the
// emails table that 00006 alters), while a second replica waits for the
// migration lock. The killed replica's lock must go with its session
// (what it had done stays: 00006 commits statement by statement and can
// run again), and the waiting replica must apply every migration and
// serve: no version recorded half applied, no stuck lock.
func TestKilledMidMigration(t *testing.T) {
	bin := needBinary(t)
	url := pgtest.URL(t)
	ctx := context.Background()
	db := openPG(t, url)
	// The schema of the previous release: migrations up to 00004.
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("../../sqlstore/migrations/postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	tx := lockTable(t, db, "emails")
	defer tx.Rollback()
	// blocked is how many sessions wait for a lock on the emails table.
	blocked := func() (int, error) {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'emails'::regclass`).Scan(&n)
		return n, err
	}

	dir := t.TempDir()
	env := []string{"DATABASE_URL=" + url}
	killed := launch(t, "killed mid-migration", bin, env, replicaDirs(dir, "a")...)
	proctest.Eventually(t, "the first replica's migration waiting on the emails table", 60*time.Second, func() error {
		if n, err := blocked(); err != nil || n == 0 {
			return fmt.Errorf("%d sessions waiting (%v)", n, err)
		}
		return nil
	})
	next := launch(t, "next", bin, env, replicaDirs(dir, "b")...)
	waitLogged(t, "the second replica waiting for the migration lock", next.Logs, "waiting for another replica to finish migrating the schema")
	killed.cmd.Process.Kill()
	<-killed.exited
	// The dead replica's statement still waits in its backend; once the
	// table is free, the backend finds its client gone and rolls back.
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	next.ready(t)
	var version int64
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	sources := p.ListSources()
	if want := sources[len(sources)-1].Version; version != want {
		t.Errorf("schema version %d after the second replica started, want %d", version, want)
	}
	if p := post(t, next.URL+"/api/webhooks/posthog", `{"event":{"uuid":"after-kill","event":"feature_used"},"person":{"properties":{"email":"k@example.com"}}}`); p.Status != 200 {
		t.Errorf("ingest after the migration: %d %v", p.Status, p.Body)
	}
	if err := next.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestSecondSignalExitsAtOnce: a replica whose shutdown waits (an email
// send hangs, --shutdown-grace is 10 minutes) ends at once on a second
// SIGTERM, as an operator pressing Ctrl-C twice expects, instead of
// ignoring it for the rest of the grace (as before).
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := needBinary(t)
	r := replicaWithHungSend(t, bin, "twice", "--email-timeout", "10m", "--shutdown-grace", "10m")
	r.cmd.Process.Signal(syscall.SIGTERM)
	waitLogged(t, "the replica shutting down", r.Logs, `"msg":"shutting down"`)
	select {
	case <-r.exited:
		t.Fatalf("exited before the second signal (%v); the send was to hang", r.err)
	default:
	}
	// Sent again each second: the one right after the log line may come
	// before main has restored the default action.
	proctest.Eventually(t, "the replica ending on a second SIGTERM", 60*time.Second, func() error {
		select {
		case <-r.exited:
			return nil
		default:
		}
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
			return nil
		case <-time.After(time.Second):
			return errors.New("still running")
		}
	})
	if r.err == nil {
		t.Error("exit 0 after a shutdown cut short by a second signal")
	}
}
