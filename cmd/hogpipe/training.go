package main

import (
	"context"
	"fmt"
	"os"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// trainingConfig is how events become training examples (flags
// --redact, --max-prompt-bytes, --pseudonymize-user-id, --pseudonym-key).
type trainingConfig = trainingfile.PolicyConfig

func addDatabaseFlag(fs *cli.FlagSet, database *string) {
	fs.StringVar(database, "database", "DATABASE_URL", "", "PostgreSQL URL (postgres://…) shared by replicas; unset: SQLite in --data-dir")
}

// openExisting opens the store a command works on: PostgreSQL when a URL is
// given, else the SQLite database of a data directory that must exist.
func openExisting(ctx context.Context, dataDir, database string, opt sqlstore.Options) (*sqlstore.Store, error) {
	if database != "" {
		return sqlstore.OpenPostgres(ctx, database, opt)
	}
	if _, err := os.Stat(dbPath(dataDir)); err != nil {
		return nil, cli.Usagef("no hogpipe database in %s (set --data-dir or HOGPIPE_DATA_DIR, or DATABASE_URL)", dataDir)
	}
	s, err := sqlstore.OpenSQLite(ctx, dbPath(dataDir), opt)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// runRebuild regenerates training_data.jsonl from the store with the
// current training policy (after changing redaction rules, say).
func runRebuild(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("rebuild-training-file", "Render every training example again from its event and rewrite the training file atomically.")
	var dataDir, trainingFile, database string
	var tc trainingConfig
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	tc.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	policy, err := tc.Policy()
	if err != nil {
		return err
	}
	// A running serve appends to the same file: it must not run meanwhile.
	if database == "" {
		unlock, err := sqlstore.LockDataDir(dataDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if err := tc.KeyPolicy(ctx, policy, dataDir, store, database != ""); err != nil {
		return err
	}
	return trainingfile.Rerender(ctx, trainingFile, store, policy, env.stdout, env.stderr)
}

// runStats prints what the training data holds.
func runStats(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("stats", "Show training examples per failure reason, per day, and the most frequent prompts.")
	var dataDir, trainingFile, database string
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	top := fs.Int("top", "HOGPIPE_STATS_TOP", 10, "how many frequent prompts to show")
	asJSON := fs.Bool("json", "HOGPIPE_STATS_JSON", false, "print JSON instead of tables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := store.TrainingStats(ctx, *top)
	if err != nil {
		return err
	}
	return trainingfile.WriteStats(env.stdout, st, *asJSON)
}
