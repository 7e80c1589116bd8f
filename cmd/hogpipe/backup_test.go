package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBackupWhileServing backs up the database while events keep coming,
// then serves the copy from a fresh data directory with the live training
// file beside it, as a restore onto a new machine would: every event
// acknowledged before the backup began is there, and the training file is
// cut back to exactly the examples the copy holds.
func TestBackupWhileServing(t *testing.T) {
	ts := startServer(t, nil)
	var acked sync.Map
	var n atomic.Int64
	stop := underLoad(4, func(context.Context, int, int) {
		id := fmt.Sprintf("bk-%d", n.Add(1))
		if r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody(id, "prompt "+id)); r.Status == 200 {
			acked.Store(id, true)
		}
	})
	for n.Load() < 200 {
		runtime.Gosched()
	}
	var before []string
	acked.Range(func(k, _ any) bool { before = append(before, k.(string)); return true })

	backup := filepath.Join(t.TempDir(), "hogpipe-backup.db")
	var out bytes.Buffer
	err := run(t.Context(), []string{"hogpipe", "backup", "--data-dir", ts.DataDir, "-o", backup}, func(string) string { return "" }, &out, &out)
	for n.Load() < 400 { // keep writing after the copy too
		runtime.Gosched()
	}
	stop()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "backed up") {
		t.Errorf("backup said %q", out.String())
	}
	// A second backup to the same file is refused, not overwritten.
	if err := run(t.Context(), []string{"hogpipe", "backup", "--data-dir", ts.DataDir, "-o", backup}, func(string) string { return "" }, &out, &out); exitCode(err) != exitUsage {
		t.Errorf("backup over an existing file: %v", err)
	}
	ts.stop()

	// Restore: the copy as the database of a new data directory, and the
	// live training file (ahead of the copy) beside it.
	restored := &testServer{DataDir: filepath.Join(t.TempDir(), "data"), TrainingFile: filepath.Join(t.TempDir(), "training_data.jsonl")}
	os.MkdirAll(restored.DataDir, 0o755)
	copyFile(t, backup, filepath.Join(restored.DataDir, "hogpipe.db"))
	copyFile(t, ts.TrainingFile, restored.TrainingFile)
	restored = restartServer(t, restored, nil)
	for _, id := range before {
		if r := get(t, restored.URL+"/api/events/"+id); r.Status != 200 {
			t.Fatalf("%s was acknowledged before the backup began but is not in it: %d", id, r.Status)
		}
	}
	stored := int(restored.stats(t)["training_examples"].(float64))
	lines := restored.trainingLines(t)
	live := len(readLines(t, ts.TrainingFile))
	if len(lines) != stored || stored < len(before) || live <= stored {
		t.Fatalf("restored: %d examples stored, %d lines; %d acknowledged before the backup, %d lines in the live file", stored, len(lines), len(before), live)
	}
	for _, l := range lines {
		if r := get(t, restored.URL+"/api/events/"+l["id"].(string)); r.Status != 200 {
			t.Errorf("training line for %s, which the copy does not hold", l["id"])
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
