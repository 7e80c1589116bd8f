package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/pgtest"
)

// TestOpenSQLiteLocksDataDir: Open on SQLite creates the database in the
// data directory and holds the directory until closeStore; a second Open
// meanwhile is refused naming the directory, and closeStore releases it.
func TestOpenSQLiteLocksDataDir(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s, closeStore, err := Open(ctx, dir, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Postgres() {
		t.Error("no database URL, yet the store is PostgreSQL")
	}
	if _, err := os.Stat(SQLitePath(dir)); err != nil {
		t.Errorf("no database at %s: %v", SQLitePath(dir), err)
	}
	if _, c2, err := Open(ctx, dir, "", Options{}); err == nil {
		c2()
		t.Fatal("second Open of a data directory in use succeeded")
	} else if !strings.Contains(err.Error(), dir) {
		t.Errorf("refusal does not name the directory: %v", err)
	}
	closeStore()
	_, again, err := Open(ctx, dir, "", Options{})
	if err != nil {
		t.Fatalf("Open after closeStore: %v", err)
	}
	again()
}

// TestOpenSQLiteError: a data directory whose database cannot be opened
// names the directory, and leaves it unlocked.
func TestOpenSQLiteError(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(SQLitePath(dir), 0o755); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	if _, c, err := Open(context.Background(), dir, "", Options{}); err == nil {
		c()
		t.Fatal("opened a database that is a directory")
	} else if !strings.Contains(err.Error(), "open store in "+dir) {
		t.Errorf("error does not name the data directory: %v", err)
	}
	unlock, err := LockDataDir(dir)
	if err != nil {
		t.Fatalf("data directory still locked after a failed Open: %v", err)
	}
	unlock()
}

// TestOpenPostgresLeavesDataDir: with a database URL, Open uses PostgreSQL
// and neither creates nor locks the data directory (replicas share the
// database, not a directory).
func TestOpenPostgresLeavesDataDir(t *testing.T) {
	url := pgtest.URL(t)
	dir := filepath.Join(t.TempDir(), "data")
	s, closeStore, err := Open(context.Background(), dir, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if !s.Postgres() {
		t.Error("a database URL, yet the store is not PostgreSQL")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data directory touched on PostgreSQL: %v", err)
	}
}
