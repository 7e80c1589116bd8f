package sqlstore

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestLockDataDir: while one holder has the data directory a second is
// refused with an error naming the directory; after unlock it gets it.
func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by the lock
	unlock, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := LockDataDir(dir); err == nil {
		u()
		t.Fatal("second lock on a held data directory succeeded")
	} else if !strings.Contains(err.Error(), dir) {
		t.Fatalf("refusal does not name the directory: %v", err)
	}
	unlock()
	again, err := LockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}
