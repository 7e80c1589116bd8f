package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"log/slog"
	"os"
	"path/filepath"
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
	if file == "" {
		return cli.Usagef("say which file to import: hogpipe import [flags] FILE")
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return cli.Usagef("%s: %v", file, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return cli.Usagef("cannot import %s: %v", file, err)
	}
	if !fi.Mode().IsRegular() {
		return cli.Usagef("cannot import %s: not a regular file", file)
	}
	live := false
	if tf, err := os.Stat(trainingFile); err == nil && os.SameFile(fi, tf) {
		live = true
	}
	log, err := newLogger(env.stderr, "info")
	if err != nil {
		return err
	}
	if live {
		return importLive(ctx, abs, dataDir, database, env, log)
	}

	store, err := openForImport(ctx, dataDir, database)
	if err != nil {
		return err
	}
	defer store.Close()
	// ImportFile reads the whole file before it stores anything: a file
	// that is not JSONL changes nothing.
	res, err := trainingfile.ImportFile(ctx, abs, store, time.Now())
	if errors.Is(err, trainingfile.ErrNotJSONL) {
		return cli.Usagef("%v; nothing was imported: hogpipe imports files whose every line is a JSON object", err)
	}
	if err != nil {
		return fmt.Errorf("import %s: %w (examples stored so far stay; importing again adds only the rest)", file, err)
	}
	if res.Torn > 0 {
		fmt.Fprintf(env.stderr, "%s: the last line is incomplete (no newline, not a whole JSON object): not imported (%d bytes)\n", file, res.Torn)
	}
	fmt.Fprintf(env.stdout, "imported %d examples from %s (%d lines already stored); the training file gets them appended (at once by a running hogpipe serve, else at its next start)\n",
		res.Added, file, res.Lines-res.Added)
	return nil
}

// importLive imports the training file hogpipe itself keeps: its lines up
// to the watermark are stored already, so this adopts it when it was never
// adopted (a stopped setup) and otherwise adds nothing.
func importLive(ctx context.Context, abs, dataDir, database string, env *environment, log *slog.Logger) error {
	if database == "" {
		unlock, err := sqlstore.LockDataDir(dataDir)
		if err != nil {
			// A serve runs: it adopted the file when it started.
			return importLiveRunning(ctx, abs, dataDir, database, env)
		}
		defer unlock()
	}
	store, err := openForImport(ctx, dataDir, database)
	if err != nil {
		return err
	}
	leader, err := store.TryLead(ctx)
	if err != nil || leader == nil {
		store.Close()
		if err != nil {
			return err
		}
		return importLiveRunning(ctx, abs, dataDir, database, env)
	}
	defer store.Close()
	defer leader.Release()
	m, err := trainingfile.Open(ctx, abs, store, log)
	if err != nil {
		var nj *trainingfile.NotJSONLError
		if errors.As(err, &nj) {
			return cli.Usage(err)
		}
		return err
	}
	err = m.CatchUp(ctx)
	pos := m.Position()
	err = errors.Join(err, m.Close())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "%s is hogpipe's training file: adopted %d lines; it holds %d bytes, all of them stored examples\n", abs, m.Adopted(), pos.Bytes)
	return nil
}

// importLiveRunning answers an import of the training file a running
// serve writes: it adopted the file when it started.
func importLiveRunning(ctx context.Context, abs, dataDir, database string, env *environment) error {
	store, err := openForImport(ctx, dataDir, database)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := store.MirrorState(ctx, abs)
	if err != nil {
		return err
	}
	if st.Bytes == 0 {
		return fmt.Errorf("%s is the training file of a running hogpipe serve that has not adopted it; stop hogpipe serve (every replica) and run hogpipe import again, or restart it: it adopts the file at start", abs)
	}
	fmt.Fprintf(env.stdout, "%s is the training file of a running hogpipe serve: its first %d bytes are stored examples already; nothing imported\n", abs, st.Bytes)
	return nil
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
