package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// runImport stores the lines of an existing JSONL training file (the
// original NestJS service's training_data.jsonl, say) as training examples
// with source "import", each line kept byte for byte; the training file
// gets them appended. Importing the same file again adds nothing.
func runImport(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("import", "Import an existing JSONL training file as training examples: hogpipe import [flags] FILE.")
	var dataDir, trainingFile, database string
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	// FILE comes last, after the flags (the flag package stops at the
	// first argument that is not a flag).
	var file string
	if n := len(args); n > 0 && !strings.HasPrefix(args[n-1], "-") {
		file, args = args[n-1], args[:n-1]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, live, err := trainingfile.CheckImport(file, trainingFile)
	if err != nil {
		return err
	}
	log, err := newLogger(env.stderr, "info")
	if err != nil {
		return err
	}
	// The training file itself: adopted unless a serve runs, which holds
	// the data directory's lock (SQLite) or the writer's lease.
	running := false
	if live && database == "" {
		unlock, err := sqlstore.LockDataDir(dataDir)
		if running = err != nil; !running {
			defer unlock()
		}
	}
	store, err := openForImport(ctx, dataDir, database)
	if err != nil {
		return err
	}
	defer store.Close()
	if live {
		return trainingfile.ImportLive(ctx, abs, store, running, env.stdout, log)
	}
	return trainingfile.ImportAndReport(ctx, file, abs, store, time.Now(), env.stdout, env.stderr)
}

// openForImport opens the store, creating the SQLite database when the
// data directory has none yet: importing the old service's file before the
// first serve is a natural first step.
func openForImport(ctx context.Context, dataDir, database string) (*sqlstore.Store, error) {
	if database != "" {
		return sqlstore.OpenPostgres(ctx, database, sqlstore.Options{})
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dataDir, err)
	}
	s, err := sqlstore.OpenSQLite(ctx, dbPath(dataDir), sqlstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", dataDir, err)
	}
	return s, nil
}
