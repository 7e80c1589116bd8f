package redact

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Processes that start at once on a fresh data directory agree on one key
// (a key that changed would split one user's examples over two
// pseudonyms), the file is the owner's only, and a key file too short to
// be a secret is refused rather than used.
func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), PseudonymKeyFile)
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if k != keys[0] || len(k) != 64 {
			t.Fatalf("keys differ or are short: %q", keys)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	if k, err := LoadOrCreateKey(path); err != nil || k != keys[0] {
		t.Errorf("read again: %q, %v", k, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}

	short := filepath.Join(t.TempDir(), PseudonymKeyFile)
	os.WriteFile(short, []byte("  too-short  \n"), 0o600)
	if k, err := LoadOrCreateKey(short); err == nil || !strings.Contains(err.Error(), "16 or more") {
		t.Errorf("short key file: %q, %v", k, err)
	}
}
