package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
)

// SQLitePath is the SQLite database's file in a data directory.
func SQLitePath(dataDir string) string { return filepath.Join(dataDir, "hogpipe.db") }

// Open opens (and migrates) the store a command runs on: PostgreSQL when
// databaseURL is set (replicas share it; the data directory is not used),
// else SQLite in dataDir, which it locks for this process (LockDataDir).
// closeStore closes the store, then unlocks the directory.
func Open(ctx context.Context, dataDir, databaseURL string, opt Options) (s *Store, closeStore func(), err error) {
	if databaseURL != "" {
		if s, err = OpenPostgres(ctx, databaseURL, opt); err != nil {
			return nil, nil, err
		}
		return s, func() { s.Close() }, nil
	}
	unlock, err := LockDataDir(dataDir)
	if err != nil {
		return nil, nil, err
	}
	if s, err = OpenSQLite(ctx, SQLitePath(dataDir), opt); err != nil {
		unlock()
		return nil, nil, fmt.Errorf("open store in %s: %w", dataDir, err)
	}
	return s, func() { s.Close(); unlock() }, nil
}
