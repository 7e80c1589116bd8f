package main

import (
	"context"
	"log/slog"

	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/server"
	"github.com/hogpipe/hogpipe/sqlstore"
)

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
