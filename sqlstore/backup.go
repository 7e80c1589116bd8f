package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/hogpipe/hogpipe/internal/atomicfile"
)

// ErrBackupExists: BackupSQLite never overwrites a file.
var ErrBackupExists = errors.New("file exists; back up to a new file")

// BackupSQLite writes a consistent copy of the SQLite database at dbPath to
// out while hogpipe keeps running: VACUUM INTO reads one snapshot (in WAL
// mode writers go on meanwhile) and writes it as a compact database. The
// copy is written beside out, fsync'd and renamed (internal/atomicfile), so
// out is either absent or whole. It returns the copy's size.
func BackupSQLite(ctx context.Context, dbPath, out string) (int64, error) {
	if _, err := os.Stat(out); err == nil {
		return 0, fmt.Errorf("%s: %w", out, ErrBackupExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	// VACUUM INTO fills an empty file and keeps its mode: 0600, as the
	// copy holds the same personal data as the database (left to SQLite,
	// it would create the file world-readable).
	tmp, err := atomicfile.Create(out, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create backup file: %w", err)
	}
	defer tmp.Abort() // no-op once committed

	// Its own connection: the read pool is query_only, which refuses
	// VACUUM INTO, and the writer belongs to the committer.
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", dbPath, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp.Name()); err != nil {
		return 0, fmt.Errorf("copy %s: %w", dbPath, err)
	}
	// SQLite wrote through its own descriptor; fsync through ours (in
	// Commit) reaches the same file.
	info, err := tmp.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat the copy: %w", err)
	}
	if err := tmp.Commit(); err != nil {
		return 0, fmt.Errorf("move the copy into place: %w", err)
	}
	return info.Size(), nil
}
