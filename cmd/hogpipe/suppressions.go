package main

import (
	"context"

	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/sqlstore"
)

const suppressionsSummary = "Manage the suppression list: " + outbox.SuppressionsUsage + "."

// runSuppressions: "hogpipe suppressions list|add|remove|sync" (outbox.Suppressions).
// Addresses come right after the subcommand, flags after them.
func runSuppressions(ctx context.Context, args []string, env *environment) error {
	var c outbox.Suppressions
	args = c.Args(args)
	fs := env.flags("suppressions", suppressionsSummary+
		"\nlist shows the newest entries; add and remove take addresses (case does not matter); sync imports Mailgun's own unsubscribes, bounces and complaints for MAILGUN_DOMAIN.")
	var dataDir, trainingFile, database string
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return err
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	return c.Run(ctx, store, env.stdout)
}
