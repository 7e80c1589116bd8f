package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// runBackup copies the SQLite database while hogpipe serves, so backing up
// needs no sqlite3 tool and no downtime.
func runBackup(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("backup", "Write a consistent copy of the SQLite database, while hogpipe runs.")
	var dataDir, database, out string
	fs.StringVar(&dataDir, "data-dir", "HOGPIPE_DATA_DIR", "./data", "directory for hogpipe's database")
	addDatabaseFlag(fs, &database)
	fs.StringVar(&out, "o", "", "", "file to write the copy to (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if database != "" {
		return cli.Usagef("the database is PostgreSQL: back it up with pg_dump or continuous archiving (docs/deploy.md)")
	}
	if out == "" {
		return cli.Usagef("say where to write the copy: hogpipe backup -o FILE")
	}
	if _, err := os.Stat(dbPath(dataDir)); err != nil {
		return cli.Usagef("no hogpipe database in %s (set --data-dir or HOGPIPE_DATA_DIR)", dataDir)
	}
	n, err := sqlstore.BackupSQLite(ctx, dbPath(dataDir), out)
	if errors.Is(err, sqlstore.ErrBackupExists) {
		return cli.Usage(err)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(env.stdout, "backed up %s to %s (%d bytes)\n", dbPath(dataDir), out, n)
	return nil
}
