package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// TestFilesHoldingPersonalDataArePrivate: the data directory hogpipe
// creates is 0700, and the database (with its -wal and -shm), the lock,
// the training file, a backup and an export are 0600 — under umask 0, so
// the modes are hogpipe's own and not the umask's. Before the fix they were
// 0755 and 0644.
func TestFilesHoldingPersonalDataArePrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	ts := startServer(t, nil)
	if r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("perm-1", "my email is a@example.com")); r.Status != 200 {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	proctest.Eventually(t, "training line written", 10*time.Second, func() error {
		if fi, err := os.Stat(ts.TrainingFile); err != nil || fi.Size() == 0 {
			return fmt.Errorf("training file: %v", err)
		}
		return nil
	})
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := run(t.Context(), []string{"hogpipe", "backup", "--data-dir", ts.DataDir, "-o", backup}, func(string) string { return "" }, os.Stderr, os.Stderr); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(t.TempDir(), "export.jsonl")
	if err := run(t.Context(), []string{"hogpipe", "export", "--data-dir", ts.DataDir, "-o", export}, func(string) string { return "" }, os.Stderr, os.Stderr); err != nil {
		t.Fatal(err)
	}
	want := map[string]os.FileMode{
		ts.DataDir:                                  0o700,
		filepath.Join(ts.DataDir, "hogpipe.db"):     0o600,
		filepath.Join(ts.DataDir, "hogpipe.db-wal"): 0o600,
		filepath.Join(ts.DataDir, "hogpipe.db-shm"): 0o600,
		filepath.Join(ts.DataDir, "hogpipe.lock"):   0o600,
		ts.TrainingFile:                             0o600,
		backup:                                      0o600,
		export:                                      0o600,
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if got := fi.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, mode)
		}
	}
}
