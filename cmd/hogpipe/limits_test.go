package main

import (
	"runtime/debug"
	"testing"
)

// TestMemoryLimit: serve sets --memory-limit while it runs and puts the
// previous limit back when it returns. (How the flag is read, with
// GOMEMLIMIT and the cgroup: internal/memlimit.)
func TestMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	ts := startServer(t, map[string]string{"HOGPIPE_MEMORY_LIMIT": "768MiB"})
	if during := debug.SetMemoryLimit(-1); during != 768<<20 {
		t.Errorf("memory limit %d while serving, want 768MiB", during)
	}
	ts.stop()
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("memory limit %d after serve returned, was %d", after, before)
	}
}
