package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// TestPresenceLossKeepsWriting kills the session holding a replica's
// presence lock (pg_terminate_backend, as a failover, an idle-session
// killer or an operator would) while another replica holds the migration
// lock, as during a rolling upgrade's long migration. The replica must go
// on committing writes while its re-check of the protocol waits for that
// lock, and take its presence back once the lock is free.
//
// Before the re-check moved to the read pool, it ran a transaction on the
// writer's one connection and held it while waiting for the migration
// lock: every commit of the replica queued behind it.
func TestPresenceLossKeepsWriting(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := OpenPostgres(ctx, url, Options{CommitTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := s.locks.schema
	presence, migrating := presenceKey(schema, Protocol), migrateLockKey(schema)
	// holders lists the backends holding (granted) or waiting for key.
	holders := func(key int64, granted bool) ([]int, error) {
		rows, err := db.Query(`SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted = $2
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND ((classid::bigint << 32) | objid::bigint) = $1`, key, granted)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var pids []int
		for rows.Next() {
			var pid int
			if err := rows.Scan(&pid); err != nil {
				return nil, err
			}
			pids = append(pids, pid)
		}
		return pids, rows.Err()
	}
	pids, err := holders(presence, true)
	if err != nil || len(pids) != 1 {
		t.Fatalf("presence lock holders: %v (%v), want one", pids, err)
	}

	// Another replica migrating: the migration lock held by a session.
	other, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrating); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
		t.Fatal(err)
	}

	// A write must commit while one re-check waits for the migration lock:
	// the same waiting backend, with the same query start, before and
	// after it. (The re-check gives up after 5 s and tries again, so a
	// write that happens to straddle two of them is tried again.)
	n := 0
	waiter := func() (string, error) {
		var w string
		err := db.QueryRow(`SELECT a.pid || '@' || a.query_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND NOT l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`, migrating).Scan(&w)
		return w, err
	}
	proctest.Eventually(t, "a write committing while the presence re-check waits", 60*time.Second, func() error {
		before, err := waiter()
		if err != nil {
			return fmt.Errorf("no re-check waiting for the migration lock yet: %v", err)
		}
		n++
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		res, err := s.Ingest(wctx, []hogpipe.Event{gf(fmt.Sprint("p-", n))})
		if err != nil {
			return fmt.Errorf("write: %v", err)
		}
		if len(res) != 1 || res[0].Duplicate {
			return fmt.Errorf("write not stored: %+v", res)
		}
		after, err := waiter()
		if err != nil || after != before {
			return fmt.Errorf("the write committed only after the re-check %s ended (now %q, %v)", before, after, err)
		}
		return nil
	})

	// The migration done, the replica takes its presence back and is not
	// fenced: its protocol is still the schema's.
	if _, err := other.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, migrating); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "the presence lock taken back", 60*time.Second, func() error {
		pids, err := holders(presence, true)
		if err != nil {
			return err
		}
		if len(pids) != 1 {
			return errors.New("no session holds the presence lock")
		}
		return nil
	})
	if s.presence.fenced.Load() {
		t.Fatal("the replica fenced itself though no newer protocol took the schema over")
	}
	if _, err := s.Ingest(ctx, []hogpipe.Event{gf("after")}); err != nil {
		t.Fatalf("write after the presence came back: %v", err)
	}
}
