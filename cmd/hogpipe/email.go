package main

import (
	"context"
	"log/slog"

	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/server"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// emailConfig is serve's email flags: outbox.Options owns them, but for
// the two secrets, which come from a flag, a variable or a file.
type emailConfig struct {
	outbox.Options
	unsubscribeSecret, signingKey secretFlag
}

func addEmailFlags(fs *cli.FlagSet, c *emailConfig) {
	c.Options.Flags(fs)
	c.unsubscribeSecret.register(fs, "unsubscribe-secret", "HOGPIPE_UNSUBSCRIBE_SECRET", "key of unsubscribe link tokens, at least 32 characters (default: generated once, kept in DATA_DIR/unsubscribe.key, or in the database with --database)")
	c.signingKey.register(fs, "mailgun-webhook-signing-key", "MAILGUN_WEBHOOK_SIGNING_KEY", "Mailgun's HTTP webhook signing key: enables POST /api/webhooks/mailgun")
}

// build reads the secrets, then checks the rest and says what will happen.
func (c *emailConfig) build(log *slog.Logger) (*outbox.Setup, error) {
	var err error
	if c.UnsubscribeSecret, err = c.unsubscribeSecret.resolve(); err != nil {
		return nil, err
	}
	if c.WebhookSigningKey, err = c.signingKey.resolve(); err != nil {
		return nil, err
	}
	return c.Options.Build(log)
}

// emailFeedback is the server's share of the way back from email, made
// once the store is open: unsubscribe links and Mailgun's event webhooks.
func emailFeedback(ctx context.Context, email *outbox.Setup, store *sqlstore.Store, dataDir string, log *slog.Logger) (server.Feedback, error) {
	signer, hooks, err := email.Feedback(ctx, store, dataDir, log)
	fb := server.Feedback{Unsubscribe: signer}
	if hooks != nil {
		fb.Mailgun = hooks // no key, no route: never a typed nil
	}
	return fb, err
}
