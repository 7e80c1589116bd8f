package main

import (
	"context"
	"encoding/json"
	"github.com/hogpipe/hogpipe/internal/cli"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/mailgun"
	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/server"
	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/unsubscribe"
)

// feedbackConfig is the way back from email: unsubscribe links, consent,
// Mailgun's event webhooks.
type feedbackConfig struct {
	publicURL          string
	withoutUnsubscribe bool
	secretFlag         secretFlag
	secret             string
	tokenTTL           time.Duration
	replyTo            string
	requireConsent     string
	signingKeyFlag     secretFlag
	signingKey         string
	webhookMaxAge      time.Duration
}

func addFeedbackFlags(fs *cli.FlagSet, c *feedbackConfig) {
	fs.StringVar(&c.publicURL, "public-url", "HOGPIPE_PUBLIC_URL", "", "public https base URL of this server (https://hogpipe.example.com): unsubscribe links point here; required to send for real")
	fs.BoolVar(&c.withoutUnsubscribe, "email-without-unsubscribe", "HOGPIPE_EMAIL_WITHOUT_UNSUBSCRIBE", false, "send for real without unsubscribe links or headers (not for marketing email: Gmail and Yahoo require one-click unsubscribe)")
	c.secretFlag.register(fs, "unsubscribe-secret", "HOGPIPE_UNSUBSCRIBE_SECRET", "key of unsubscribe link tokens, at least 32 characters (default: generated once, kept in DATA_DIR/unsubscribe.key, or in the database with --database)")
	fs.DurationVar(&c.tokenTTL, "unsubscribe-token-ttl", "HOGPIPE_UNSUBSCRIBE_TOKEN_TTL", 365*24*time.Hour, "how long an unsubscribe link keeps working after its email was sent")
	fs.StringVar(&c.replyTo, "mail-reply-to", "MAIL_REPLY_TO", "", "Reply-To address; also offered as a mailto: unsubscribe target")
	fs.StringVar(&c.requireConsent, "email-require-consent", "HOGPIPE_EMAIL_REQUIRE_CONSENT", "", "send only when this person property is true (e.g. marketing_consent); others get state no_consent")
	c.signingKeyFlag.register(fs, "mailgun-webhook-signing-key", "MAILGUN_WEBHOOK_SIGNING_KEY", "Mailgun's HTTP webhook signing key: enables POST /api/webhooks/mailgun")
	fs.DurationVar(&c.webhookMaxAge, "mailgun-webhook-max-age", "HOGPIPE_MAILGUN_WEBHOOK_MAX_AGE", 12*time.Hour, "oldest Mailgun webhook timestamp accepted (Mailgun retries for 8 h); older ones are refused as stale")
}

// check validates the flags against the email setup, before anything
// opens: real sending needs a way to unsubscribe, or an explicit opt-out.
func (c *feedbackConfig) check(email *emailSetup) error {
	var err error
	if c.secret, err = c.secretFlag.resolve(); err != nil {
		return err
	}
	if c.signingKey, err = c.signingKeyFlag.resolve(); err != nil {
		return err
	}
	if c.tokenTTL < 24*time.Hour {
		return cli.Usagef("--unsubscribe-token-ttl %s is too short: links must keep working for weeks (CAN-SPAM asks for 30 days)", c.tokenTTL)
	}
	if c.webhookMaxAge < time.Minute {
		return cli.Usagef("--mailgun-webhook-max-age %s is too short; use at least 1m", c.webhookMaxAge)
	}
	if c.secret != "" && len(c.secret) < unsubscribe.MinSecretLen {
		return cli.Usagef("--unsubscribe-secret is %d characters; use at least %d (e.g. openssl rand -hex 32)", len(c.secret), unsubscribe.MinSecretLen)
	}
	if c.replyTo != "" && !hogpipe.ValidEmail(c.replyTo) {
		return cli.Usagef("MAIL_REPLY_TO %q is not an email address", c.replyTo)
	}
	if c.publicURL != "" {
		// Links are this prefix plus /unsubscribe/TOKEN, taken as they are
		// by mailbox providers: no query or fragment for the path to land
		// in, nothing that needs escaping.
		u, err := url.Parse(c.publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(c.publicURL, "?# \t\r\n<>\"'\\") {
			return cli.Usagef("HOGPIPE_PUBLIC_URL %q is not a base URL such as https://hogpipe.example.com", c.publicURL)
		}
		if u.User != nil {
			return cli.Usagef("HOGPIPE_PUBLIC_URL must not hold a user or password: it is in every email sent")
		}
		if email.sender != nil && u.Scheme != "https" {
			return cli.Usagef("HOGPIPE_PUBLIC_URL %q must be https to send for real: mailbox providers only offer one-click unsubscribe over https", c.publicURL)
		}
		c.publicURL = strings.TrimRight(c.publicURL, "/")
	}
	if email.sender != nil && c.publicURL == "" && !c.withoutUnsubscribe {
		return cli.Usagef("real sending needs unsubscribe links: set HOGPIPE_PUBLIC_URL (--public-url) to the https address this server is reachable at, " +
			"so every email carries List-Unsubscribe and a footer link (Gmail and Yahoo require one-click unsubscribe from bulk senders; " +
			"CAN-SPAM and GDPR require an opt-out); or set HOGPIPE_EMAIL_WITHOUT_UNSUBSCRIBE=true if these are not marketing emails")
	}
	if email.policy != nil {
		email.policy.RequireConsent = c.requireConsent
	}
	email.worker.ReplyTo = c.replyTo
	return nil
}

// feedback is what serve wires from the configuration once the store is open.
type feedback struct {
	server server.Feedback
	unsub  *outbox.Unsubscribe
	// base is where links point when no public URL is set (dry-run): the
	// address serve listens on, once known.
	base atomic.Pointer[string]
}

// build loads (or makes) the unsubscribe key and the Mailgun checker.
func (c *feedbackConfig) build(ctx context.Context, store unsubscribe.SecretStore, dataDir string, email *emailSetup, log *slog.Logger) (*feedback, error) {
	fb := &feedback{}
	if c.signingKey != "" {
		fb.server.Mailgun = mailgun.NewWebhooks(c.signingKey, c.webhookMaxAge)
	}
	// The endpoint verifies links whatever the email setting: links in
	// emails already sent must keep working (CAN-SPAM: 30 days at least)
	// after email is turned off or sent without them.
	secret := c.secret
	if secret == "" {
		var err error
		if secret, err = unsubscribe.LoadSecret(ctx, store, dataDir); err != nil {
			return nil, err
		}
	}
	signer := unsubscribe.NewSigner(secret, c.tokenTTL)
	fb.server.Unsubscribe = signer
	if email.policy == nil || (c.withoutUnsubscribe && c.publicURL == "") {
		return fb, nil
	}
	fb.unsub = &outbox.Unsubscribe{Mailto: c.replyTo, URL: func(to, kind string) string {
		base := c.publicURL
		if base == "" {
			base = "http://localhost:3000"
			if b := fb.base.Load(); b != nil {
				base = *b
			}
		}
		return base + "/unsubscribe/" + signer.Token(to, kind, time.Now())
	}}
	email.worker.Unsubscribe = fb.unsub
	if c.publicURL == "" {
		log.Info("email: unsubscribe links point at this server's own address (dry-run); set HOGPIPE_PUBLIC_URL before sending for real")
	}
	return fb, nil
}

// previewer renders an email from its event for GET /api/emails/{id}/preview.
func previewer(store *sqlstore.Store, w *outbox.Worker) func(ctx context.Context, id int64) (string, string, error) {
	return func(ctx context.Context, id int64) (string, string, error) {
		m, err := store.Email(ctx, id)
		if err != nil {
			return "", "", err
		}
		out, err := store.Event(ctx, m.EventID)
		if err != nil {
			return "", "", err
		}
		ev := hogpipe.Event{UUID: out.Event.UUID, Name: out.Event.Name, DistinctID: out.Event.DistinctID, Timestamp: out.Event.Timestamp}
		json.Unmarshal(out.Event.Properties, &ev.Properties)
		if len(out.Event.Person) > 0 {
			json.Unmarshal(out.Event.Person, &ev.Person)
		}
		msg, err := w.Render(hogpipe.OutboxItem{Email: *m, Event: ev})
		if err != nil {
			return "", "", hogpipe.Errorf(hogpipe.EInvalid, "the email's templates do not render: %v", err)
		}
		return msg.Subject, msg.HTML, nil
	}
}
