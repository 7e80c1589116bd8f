package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/server"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// The email path's wiring: serve's share of it (its flags are
// outbox.Options), and the replay and suppressions commands.

// emailFeedback is the server's share of the way back from email, made
// once the store is open: unsubscribe links and Mailgun's event webhooks.
// Serve's email flags are outbox.Options.
func emailFeedback(ctx context.Context, email *outbox.Setup, store *sqlstore.Store, dataDir string, log *slog.Logger) (server.Feedback, error) {
	signer, hooks, err := email.Feedback(ctx, store, dataDir, log)
	fb := server.Feedback{Unsubscribe: signer}
	if hooks != nil {
		fb.Mailgun = hooks // no key, no route: never a typed nil
	}
	return fb, err
}

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
	var st storeFlags
	st.register(fs, true)
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
	store, err := st.open(ctx)
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

const suppressionsSummary = "Manage the suppression list: " + outbox.SuppressionsUsage + "."

// runSuppressions: "hogpipe suppressions list|add|remove|sync" (outbox.Suppressions).
// Addresses come right after the subcommand, flags after them.
func runSuppressions(ctx context.Context, args []string, env *environment) error {
	var c outbox.Suppressions
	args = c.Args(args)
	fs := env.flags("suppressions", suppressionsSummary+
		"\nlist shows the newest entries; add and remove take addresses (case does not matter); sync imports Mailgun's own unsubscribes, bounces and complaints for MAILGUN_DOMAIN.")
	var st storeFlags
	st.register(fs, true)
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := c.Check(); err != nil {
		return err
	}
	store, err := st.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	return c.Run(ctx, store, env.stdout)
}
