package unsubscribe

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// fileOnly is a store that keeps no shared secrets: SQLite.
type fileOnly struct{}

func (fileOnly) SharedSecret(context.Context, string, func() (string, error)) (string, error) {
	panic("SharedSecret called on SQLite")
}
func (fileOnly) Postgres() bool { return false }

// The key file is made once, readable by its owner only, and the same key
// comes back on every later start.
func TestLoadSecretMakesAPrivateKeyFileOnce(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadSecret(context.Background(), fileOnly{}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < MinSecretLen {
		t.Fatalf("key of %d characters, want at least %d", len(first), MinSecretLen)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadSecret(context.Background(), fileOnly{}, dir)
	if err != nil || again != first {
		t.Errorf("second start: %q, %v; want the first key %q", again, err, first)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(left) != 0 {
		t.Errorf("files left aside: %v", left)
	}
}

// Starts racing for a fresh data directory all end up with one key.
func TestLoadSecretRacingStartsAgree(t *testing.T) {
	dir := t.TempDir()
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadSecret(context.Background(), fileOnly{}, dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatalf("keys differ: %q", keys)
		}
	}
}

// A key file too short to be a key is refused, with what to do, and left
// alone: removing it is the operator's call (old links stop working).
func TestLoadSecretRefusesAShortKeyFile(t *testing.T) {
	for _, content := range []string{"", "\n", "short\n", strings.Repeat("k", MinSecretLen-1) + "\n"} {
		dir := t.TempDir()
		path := filepath.Join(dir, KeyFile)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSecret(context.Background(), fileOnly{}, dir)
		if err == nil || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("%q: %v, want a refusal saying to remove it", content, err)
		}
		if b, _ := os.ReadFile(path); string(b) != content {
			t.Errorf("%q: file changed to %q", content, b)
		}
	}
}

// On PostgreSQL the key is the database's, shared by replicas starting at
// once, and no file is written.
func TestLoadSecretSharedOnPostgres(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	keys := make([]string, 3)
	dir := t.TempDir()
	var wg sync.WaitGroup
	for i := range keys {
		s, err := sqlstore.OpenPostgres(ctx, url, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		wg.Go(func() {
			k, err := LoadSecret(ctx, s, dir)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	if len(keys[0]) < MinSecretLen || keys[1] != keys[0] || keys[2] != keys[0] {
		t.Errorf("replicas got keys %q, want one shared key", keys)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !os.IsNotExist(err) {
		t.Errorf("a key file was written on PostgreSQL: %v", err)
	}
}
