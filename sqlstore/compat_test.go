package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/pgtest"
)

// TestProtocolChangeNeedsOldReplicasStopped plays a future release that
// changes the replica protocol: while a replica of protocol 1 runs, one of
// protocol 2 refuses to start; once it is stopped, protocol 2 takes the
// schema over, and from then on protocol 1 refuses. Replicas of one
// protocol start side by side.
func TestProtocolChangeNeedsOldReplicasStopped(t *testing.T) {
	url := pgtest.URL(t)
	ctx := context.Background()
	open := func(protocol int) (*Store, error) {
		return OpenPostgres(ctx, url, Options{protocol: protocol})
	}
	old, err := open(1)
	if err != nil {
		t.Fatal(err)
	}
	old2, err := open(1)
	if err != nil {
		t.Fatalf("a second replica of the same protocol: %v", err)
	}
	if _, err := open(2); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("protocol 2 beside running protocol 1 replicas: %v, want ErrIncompatible", err)
	}
	old.Close()
	if _, err := open(2); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("protocol 2 beside one running protocol 1 replica: %v, want ErrIncompatible", err)
	}
	old2.Close()
	// A closed session's advisory locks go when PostgreSQL has processed
	// the disconnect, a moment after Close returns (this flaked once in a
	// full run): try for a while before calling it a failure.
	var next *Store
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if next, err = open(2); err == nil || !errors.Is(err, ErrIncompatible) || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("protocol 2 once protocol 1 replicas stopped: %v", err)
	}
	defer next.Close()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(`SELECT value FROM hogpipe_meta WHERE key = 'protocol'`).Scan(&v); err != nil || v != "2" {
		t.Fatalf("hogpipe_meta protocol = %q (%v), want 2", v, err)
	}
	if _, err := open(1); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("protocol 1 after protocol 2 took over: %v, want ErrIncompatible", err)
	}
	if s, err := open(2); err != nil {
		t.Fatalf("a second protocol 2 replica: %v", err)
	} else {
		s.Close()
	}
}
