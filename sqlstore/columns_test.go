package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/pgtest"
)

// canonicalTime is hogpipe.FormatTime's shape: fixed width, so that text
// order is time order, on SQLite and under any PostgreSQL collation.
var canonicalTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$`)

// timeColumns lists the store's time columns from the database's own
// catalog, so that a column added later is checked too.
func timeColumns(t *testing.T, s *Store) [][2]string {
	t.Helper()
	q := `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table'
		AND (p.name IN ('timestamp', 'lease_until', 'at') OR p.name LIKE '%\_at' ESCAPE '\')`
	if s.Postgres() {
		q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()
			AND (column_name IN ('timestamp', 'lease_until', 'at') OR column_name LIKE '%\_at' ESCAPE '\')`
	}
	rows, err := s.r.DB.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestStoreTimeColumnsAreCanonicalText: every time the store writes, on
// both databases, is UTC text of one fixed width, read back unchanged, and
// the database orders it as time — what keeping TEXT relies on
// (docs/schema.md). Hostile event times: year 0000 and 9999, an offset,
// sub-millisecond digits, before 1970. On PostgreSQL it also shows why the
// columns are not converted in place: year 0000 is stored, and
// timestamptz refuses it, so a USING cast would fail the migration.
func TestStoreTimeColumnsAreCanonicalText(t *testing.T) {
	claimed := []string{
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "2026-11-29T12:00:00.123456789+05:30",
		"1969-12-31T23:59:59.9995Z", "2026-01-01T00:00:00Z", "2026-11-29T06:30:00.123Z",
	}
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}, CapWindow: time.Hour}
		s := open(Options{Email: pol})
		ctx := context.Background()
		var batch []hogpipe.Event
		want := map[string]time.Time{}
		for i, c := range claimed {
			ts, err := time.Parse(time.RFC3339Nano, c)
			if err != nil {
				t.Fatal(err)
			}
			e := gf("t" + string(rune('a'+i)))
			e.Timestamp = ts
			want[e.UUID] = ts.UTC().Truncate(time.Millisecond)
			batch = append(batch, e)
		}
		batch = append(batch, fuTo("mail", "ann@example.com"), captured("who", "d-who", map[string]any{"plan": "pro"}))
		if _, err := s.Ingest(ctx, batch); err != nil {
			t.Fatal(err)
		}
		sendAll(t, s, time.Now(), hogpipe.EmailSent)
		if _, err := s.AddSuppressions(ctx, []hogpipe.Suppression{{Address: "bob@example.com", Reason: hogpipe.SuppressionReason("manual"), Source: "cli", CreatedAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if s.Postgres() {
			if _, err := s.SharedSecret(ctx, "test", func() (string, error) { return "k", nil }); err != nil {
				t.Fatal(err)
			}
		}

		checked := map[string]int{}
		for _, c := range timeColumns(t, s) {
			rows, err := s.r.DB.Query(`SELECT ` + c[1] + ` FROM ` + c[0] + ` WHERE ` + c[1] + ` IS NOT NULL ORDER BY ` + c[1])
			if err != nil {
				t.Fatal(err)
			}
			var prev time.Time
			first := true
			for rows.Next() {
				var v string
				if err := rows.Scan(&v); err != nil {
					t.Fatal(err)
				}
				if !canonicalTime.MatchString(v) {
					t.Errorf("%s.%s holds %q, not YYYY-MM-DDTHH:MM:SS.mmmZ", c[0], c[1], v)
					continue
				}
				tv, err := time.Parse(time.RFC3339Nano, v)
				if err != nil {
					t.Errorf("%s.%s holds %q: %v", c[0], c[1], v, err)
					continue
				}
				if !first && tv.Before(prev) {
					t.Errorf("%s.%s: the database orders %q after %s", c[0], c[1], v, prev.Format(time.RFC3339Nano))
				}
				prev, first = tv, false
				checked[c[0]+"."+c[1]]++
			}
			rows.Close()
		}
		// Not vacuous: the columns this test wrote were found and read.
		for _, c := range []string{"events.timestamp", "events.received_at", "training_examples.timestamp", "persons.updated_at",
			"emails.created_at", "emails.updated_at", "emails.attempted_at", "suppressions.created_at"} {
			if checked[c] == 0 {
				t.Errorf("no value of %s checked (checked: %v)", c, checked)
			}
		}
		if s.Postgres() && checked["shared_secrets.created_at"] != 1 {
			t.Errorf("shared_secrets.created_at not checked (checked: %v)", checked)
		}
		if checked["events.timestamp"] != len(claimed)+2 {
			t.Errorf("%d event times checked, want %d", checked["events.timestamp"], len(claimed)+2)
		}
		for id, ts := range want {
			got, err := s.Event(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Event.Timestamp.Equal(ts) {
				t.Errorf("event %s: timestamp read back %s, want %s", id, got.Event.Timestamp.Format(time.RFC3339Nano), ts.Format(time.RFC3339Nano))
			}
		}
		if s.Postgres() {
			var n int
			err := s.r.DB.QueryRow(`SELECT count(*) FROM events WHERE timestamp::timestamptz IS NOT NULL`).Scan(&n)
			if err == nil || !strings.Contains(err.Error(), "out of range") {
				t.Errorf("casting every stored event time to timestamptz: %d rows, %v; want year 0000 refused "+
					"(if PostgreSQL takes it now, docs/schema.md's reason against converting the column is gone)", n, err)
			}
		}
	})
}

// migration00010Up is the Up section of PostgreSQL's migration 00010.
func migration00010Up(t *testing.T) string {
	t.Helper()
	b, err := fs.ReadFile(migrations, "migrations/postgres/00010_column_types.sql")
	if err != nil {
		t.Fatal(err)
	}
	up, _, ok := strings.Cut(string(b), "-- +goose Down")
	if !ok || !strings.Contains(up, "-- +goose Up") {
		t.Fatal("00010 has no Up and Down sections")
	}
	return up
}

// TestMigration00010BlocksNoWrites runs migration 00010's statements on
// the schema as 00009 left it, inside a transaction held open as if the
// migration were still running, and checks every table lock it took:
// none may conflict with the reads and writes of the replicas that keep
// serving meanwhile (ROW EXCLUSIVE). A type change (ALTER COLUMN ... TYPE)
// would take ACCESS EXCLUSIVE and fail this test.
func TestMigration00010BlocksNoWrites(t *testing.T) {
	url := pgtest.URL(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations/postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 9); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, migration00010Up(t)); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT relation::regclass::text, mode FROM pg_locks
		WHERE pid = pg_backend_pid() AND locktype = 'relation'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	// The modes that do not conflict with ROW EXCLUSIVE (INSERT, UPDATE,
	// DELETE) nor with ACCESS SHARE (SELECT).
	harmless := map[string]bool{"AccessShareLock": true, "RowShareLock": true, "RowExclusiveLock": true, "ShareUpdateExclusiveLock": true}
	tables := map[string]bool{}
	for rows.Next() {
		var rel, mode string
		if err := rows.Scan(&rel, &mode); err != nil {
			t.Fatal(err)
		}
		if !harmless[mode] {
			t.Errorf("migration 00010 holds %s on %s: replicas serving meanwhile would wait", mode, rel)
		}
		tables[rel] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !tables["events"] || !tables["emails"] {
		t.Errorf("migration 00010 locked only %v; expected it to touch events and emails", tables)
	}
}

// TestPostgresColumnsSayTheirFormat: after the migrations, every time and
// JSON column of the PostgreSQL schema is still TEXT (the previous
// release reads it as such) and carries a comment saying its format, so a
// column added without one fails here.
func TestPostgresColumnsSayTheirFormat(t *testing.T) {
	url := pgtest.URL(t)
	s, err := OpenPostgres(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows, err := s.r.DB.Query(`SELECT c.table_name, c.column_name, c.data_type,
			coalesce(col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, c.ordinal_position::int), '')
		FROM information_schema.columns c
		WHERE c.table_schema = current_schema() AND c.table_name <> 'goose_db_version'
		AND (c.column_name IN ('timestamp', 'lease_until', 'at', 'properties', 'person', 'line', 'v1_line', 'minute', 'day')
			OR c.column_name LIKE '%\_at' ESCAPE '\')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var table, col, typ, comment string
		if err := rows.Scan(&table, &col, &typ, &comment); err != nil {
			t.Fatal(err)
		}
		found = append(found, table+"."+col)
		if typ != "text" {
			t.Errorf("%s.%s is %s; the previous release reads it as text (docs/schema.md)", table, col, typ)
		}
		if len(comment) < 20 {
			t.Errorf("%s.%s has no comment saying its format (%q)", table, col, comment)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(found) < 20 {
		t.Errorf("time and JSON columns found: %v; want the 20 of migration 00010 at least", found)
	}
}
