package main

import (
	"context"
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// runReplay requeues emails: "hogpipe replay emails --state failed". A
// running serve picks them up within a second.
func runReplay(ctx context.Context, args []string, env *environment) error {
	help := len(args) > 0 && (args[0] == "-h" || args[0] == "--help")
	if !help && (len(args) == 0 || args[0] != "emails") {
		return cli.Usagef("say what to replay: hogpipe replay emails [--state failed]")
	}
	if help {
		args = append([]string{"emails"}, args...)
	}
	fs := env.flags("replay emails", "Queue emails in a state (failed, usually) again, with a fresh set of attempts.")
	var dataDir, trainingFile, database string
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	stateName := fs.String("state", "HOGPIPE_REPLAY_STATE", string(hogpipe.EmailFailed), "state of the emails to requeue: failed or retrying (sent or dry_run only with --force)")
	force := fs.Bool("force", "HOGPIPE_REPLAY_FORCE", false, "allow re-sending sent and dry_run emails (every recipient gets the email again)")
	if err := fs.Parse(args[1:]); err != nil {
		return cli.Usage(err)
	}
	state, err := hogpipe.ParseEmailState(*stateName)
	if err != nil {
		return cli.Usage(err)
	}
	if err := hogpipe.CheckReplay(state, *force); err != nil {
		return cli.Usage(err)
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.ReplayEmails(ctx, state, time.Now(), *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "requeued %d %s emails\n", n, state)
	return nil
}
