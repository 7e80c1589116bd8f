package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestSIGTERMDuringRecovery stops a replica while it brings the training
// file up to date (held there by a lock on the file's watermark table, as a
// slow or busy database would): /readyz says it is recovering, and SIGTERM
// must end it at once with exit code 0, as SIGTERM during the wait for a
// migration does — not after the recovery's own 30 s bound, with exit code
// 1, long past an orchestrator's grace period (as before the fix).
func TestSIGTERMDuringRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := sqlstore.OpenPostgres(ctx, url, sqlstore.Options{}) // the schema, migrated
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`LOCK TABLE mirror_state IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	r := launch(t, "recovering replica", bin, []string{"DATABASE_URL=" + url},
		"--data-dir", filepath.Join(dir, "data"), "--training-file", filepath.Join(dir, "training_data.jsonl"), "--shutdown-grace", "5s")
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
