package unsubscribe

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// An upgrade keeps the key earlier releases made, so links already sent
// keep working: the file's name and format (hex and a newline) and the
// shared secret's name on PostgreSQL are written out here, not taken from
// the constants the code uses, so renaming either fails this test.
func TestLoadSecretKeepsAnEarlierReleasesKey(t *testing.T) {
	const earlier = "4f0c9a7d3b2e18f6a5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2"
	ctx := context.Background()

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "unsubscribe.key"), []byte(earlier+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadSecret(ctx, fileOnly{}, dir); err != nil || k != earlier {
		t.Errorf("SQLite: key %q, %v; want the data directory's unsubscribe.key", k, err)
	}

	s, err := sqlstore.OpenPostgres(ctx, pgtest.URL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SharedSecret(ctx, "unsubscribe", func() (string, error) { return earlier, nil }); err != nil {
		t.Fatal(err)
	}
	if k, err := LoadSecret(ctx, s, t.TempDir()); err != nil || k != earlier {
		t.Errorf("PostgreSQL: key %q, %v; want the shared secret \"unsubscribe\"", k, err)
	}
}
