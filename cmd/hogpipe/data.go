package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// The commands on the stored data: export, import, rebuild-training-file,
// stats and backup. What they do lives in trainingfile and sqlstore; here
// are their flags and the order of the steps.

// storeFlags name the store a command works on, and the training file.
type storeFlags struct{ dataDir, trainingFile, database string }

// register adds --data-dir, --database and, when the command uses the
// training file, --training-file.
func (s *storeFlags) register(fs *cli.FlagSet, trainingFile bool) {
	fs.StringVar(&s.dataDir, "data-dir", "HOGPIPE_DATA_DIR", "./data", "directory for hogpipe's database")
	if trainingFile {
		fs.StringVar(&s.trainingFile, "training-file", "HOGPIPE_TRAINING_FILE", "training_data.jsonl", "training data file kept in step with the store")
	}
	fs.StringVar(&s.database, "database", "DATABASE_URL", "", "PostgreSQL URL (postgres://…) shared by replicas; unset: SQLite in --data-dir")
}

func (s *storeFlags) postgres() bool { return s.database != "" }

// open opens the store a command works on: PostgreSQL when a URL is given,
// else the SQLite database of a data directory that must exist.
func (s *storeFlags) open(ctx context.Context) (*sqlstore.Store, error) {
	if s.postgres() {
		return sqlstore.OpenPostgres(ctx, s.database, sqlstore.Options{})
	}
	if _, err := os.Stat(sqlstore.SQLitePath(s.dataDir)); err != nil {
		return nil, cli.Usagef("no hogpipe database in %s (set --data-dir or HOGPIPE_DATA_DIR, or DATABASE_URL)", s.dataDir)
	}
	st, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLitePath(s.dataDir), sqlstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return st, nil
}

// openCreating is open, but it creates the SQLite database when the data
// directory has none yet: importing the old service's file before the
// first serve is a natural first step.
func (s *storeFlags) openCreating(ctx context.Context) (*sqlstore.Store, error) {
	if s.postgres() {
		return sqlstore.OpenPostgres(ctx, s.database, sqlstore.Options{})
	}
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", s.dataDir, err)
	}
	st, err := sqlstore.OpenSQLite(ctx, sqlstore.SQLitePath(s.dataDir), sqlstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w", s.dataDir, err)
	}
	return st, nil
}

func runExport(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("export", "Write the stored training examples as JSONL, in commit order.")
	var st storeFlags
	var c trainingfile.ExportConfig
	st.register(fs, true)
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := c.Request()
	if err != nil {
		return err
	}
	store, err := st.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if isTerminal(env.stderr) {
		total, _ := store.LastExampleSeq(ctx)
		defer r.ShowProgress(env.stderr, total)()
	}
	if c.Out == "" {
		_, err := r.Stream(ctx, store, env.stdout)
		return err
	}
	paths, n, err := r.WriteFiles(ctx, store, c.Out)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "wrote %d lines to %s\n", n, strings.Join(paths, " and "))
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// runImport stores the lines of an existing JSONL training file (the
// original NestJS service's training_data.jsonl, say) as training examples
// with source "import", each line kept byte for byte; the training file
// gets them appended. Importing the same file again adds nothing.
func runImport(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("import", "Import an existing JSONL training file as training examples: hogpipe import [flags] FILE.")
	var st storeFlags
	st.register(fs, true)
	// FILE comes last, after the flags (the flag package stops at the
	// first argument that is not a flag).
	var file string
	if n := len(args); n > 0 && !strings.HasPrefix(args[n-1], "-") {
		file, args = args[n-1], args[:n-1]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, live, err := trainingfile.CheckImport(file, st.trainingFile)
	if err != nil {
		return err
	}
	log, err := cli.NewLogger(env.stderr, "info")
	if err != nil {
		return err
	}
	// The training file itself: adopted unless a serve runs, which holds
	// the data directory's lock (SQLite) or the writer's lease.
	running := false
	if live && !st.postgres() {
		unlock, err := sqlstore.LockDataDir(st.dataDir)
		if running = err != nil; !running {
			defer unlock()
		}
	}
	store, err := st.openCreating(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if live {
		return trainingfile.ImportLive(ctx, abs, store, running, env.stdout, log)
	}
	return trainingfile.ImportAndReport(ctx, file, abs, store, time.Now(), env.stdout, env.stderr)
}

// runRebuild regenerates training_data.jsonl from the store with the
// current training policy (after changing redaction rules, say).
func runRebuild(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("rebuild-training-file", "Render every training example again from its event and rewrite the training file atomically.")
	var st storeFlags
	var tc trainingfile.PolicyConfig
	st.register(fs, true)
	tc.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	policy, err := tc.Policy()
	if err != nil {
		return err
	}
	// A running serve appends to the same file: it must not run meanwhile.
	if !st.postgres() {
		unlock, err := sqlstore.LockDataDir(st.dataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	store, err := st.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := tc.KeyPolicy(ctx, policy, st.dataDir, store, st.postgres()); err != nil {
		return err
	}
	return trainingfile.Rerender(ctx, st.trainingFile, store, policy, env.stdout, env.stderr)
}

// runStats prints what the training data holds.
func runStats(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("stats", "Show training examples per failure reason, per day, and the most frequent prompts.")
	var st storeFlags
	st.register(fs, true)
	top := fs.Int("top", "HOGPIPE_STATS_TOP", 10, "how many frequent prompts to show")
	asJSON := fs.Bool("json", "HOGPIPE_STATS_JSON", false, "print JSON instead of tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := st.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	stats, err := store.TrainingStats(ctx, *top)
	if err != nil {
		return err
	}
	return trainingfile.WriteStats(env.stdout, stats, *asJSON)
}

// runBackup copies the SQLite database while hogpipe serves, so backing up
// needs no sqlite3 tool and no downtime.
func runBackup(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("backup", "Write a consistent copy of the SQLite database, while hogpipe runs.")
	var st storeFlags
	var out string
	st.register(fs, false)
	fs.StringVar(&out, "o", "", "", "file to write the copy to (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if st.postgres() {
		return cli.Usagef("the database is PostgreSQL: back it up with pg_dump or continuous archiving (docs/deploy.md)")
	}
	if out == "" {
		return cli.Usagef("say where to write the copy: hogpipe backup -o FILE")
	}
	db := sqlstore.SQLitePath(st.dataDir)
	if _, err := os.Stat(db); err != nil {
		return cli.Usagef("no hogpipe database in %s (set --data-dir or HOGPIPE_DATA_DIR)", st.dataDir)
	}
	n, err := sqlstore.BackupSQLite(ctx, db, out)
	if errors.Is(err, sqlstore.ErrBackupExists) {
		return cli.Usage(err)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(env.stdout, "backed up %s to %s (%d bytes)\n", db, out, n)
	return nil
}
