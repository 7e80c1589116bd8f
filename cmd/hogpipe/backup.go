package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hogpipe/hogpipe/sqlstore"
)

// runBackup copies the SQLite database while hogpipe serves, so backing up
// needs no sqlite3 tool and no downtime.
func runBackup(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet("backup", "Write a consistent copy of the SQLite database, while hogpipe runs.", env)
	var dataDir, database, out string
	fs.fs.StringVar(&dataDir, "data-dir", "./data", "directory for hogpipe's database")
	fs.bind("data-dir", "HOGPIPE_DATA_DIR")
	addDatabaseFlag(fs, &database)
	fs.fs.StringVar(&out, "o", "", "file to write the copy to (must not exist)")
	if err := fs.parse(args); err != nil {
		return usageError{err}
	}
	if database != "" {
		return usagef("the database is PostgreSQL: back it up with pg_dump or continuous archiving (docs/deploy.md)")
	}
	if out == "" {
		return usagef("say where to write the copy: hogpipe backup -o FILE")
	}
	if _, err := os.Stat(dbPath(dataDir)); err != nil {
		return usagef("no hogpipe database in %s (set --data-dir or HOGPIPE_DATA_DIR)", dataDir)
	}
	n, err := sqlstore.BackupSQLite(ctx, dbPath(dataDir), out)
	if errors.Is(err, sqlstore.ErrBackupExists) {
		return usageError{err}
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(env.stdout, "backed up %s to %s (%d bytes)\n", dbPath(dataDir), out, n)
	return nil
}
