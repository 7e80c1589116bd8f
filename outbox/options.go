package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/mailgun"
	"github.com/hogpipe/hogpipe/unsubscribe"
)

var _ Sender = (*mailgun.Sender)(nil)

// Options are the email destination as serve's flags set it (each flag
// also read from its environment variable): which events send, through
// which Mailgun account, how hard to try, the rules that keep the outbox
// from being a relay, and the way back from email (unsubscribe links,
// consent, Mailgun's event webhooks).
type Options struct {
	Mailgun                         mailgun.Config
	From, ReplyTo                   string
	SubjectFile, TextFile, HTMLFile string
	Events                          string
	CapWindow, Timeout, Backoff     time.Duration
	Workers, MaxAttempts            int
	SendsPerHour, DomainPerHour     int
	FromCapture                     bool
	RequireConsent                  string
	PublicURL                       string
	WithoutUnsubscribe              bool
	TokenTTL, WebhookMaxAge         time.Duration
	// UnsubscribeSecret and WebhookSigningKey, when empty, are read by
	// Build from their flags, which also take a file (secrets managers).
	UnsubscribeSecret, WebhookSigningKey string
	unsubscribeSecret, signingKey        cli.Secret
}

// Flags binds the options to their flags and environment variables.
func (o *Options) Flags(fs *cli.FlagSet) {
	o.Mailgun.Flags(fs)
	fs.StringVar(&o.From, "mail-from", "MAIL_FROM", "", "From address (default: hogpipe <noreply@MAILGUN_DOMAIN>)")
	fs.StringVar(&o.SubjectFile, "mail-subject-template-file", "MAIL_SUBJECT_TEMPLATE_FILE", "", "Go text/template file for the subject (default built in)")
	fs.StringVar(&o.TextFile, "mail-text-template-file", "MAIL_TEXT_TEMPLATE_FILE", "", "Go text/template file for the plain-text body (default built in)")
	fs.StringVar(&o.HTMLFile, "mail-html-template-file", "MAIL_HTML_TEMPLATE_FILE", "", "Go html/template file for the HTML body (default built in)")
	fs.StringVar(&o.Events, "email-events", "HOGPIPE_EMAIL_EVENTS", hogpipe.EventFeatureUsed, "comma-separated event names that send an email")
	fs.DurationVar(&o.CapWindow, "email-cap-window", "HOGPIPE_EMAIL_CAP_WINDOW", 24*time.Hour, "at most one email per recipient and event name within this window")
	fs.IntVar(&o.Workers, "email-workers", "HOGPIPE_EMAIL_WORKERS", 32, "concurrent sends")
	fs.DurationVar(&o.Timeout, "email-timeout", "HOGPIPE_EMAIL_TIMEOUT", 10*time.Second, "timeout of one send")
	fs.IntVar(&o.MaxAttempts, "email-max-attempts", "HOGPIPE_EMAIL_MAX_ATTEMPTS", 5, "attempts before an email is failed")
	fs.DurationVar(&o.Backoff, "email-backoff", "HOGPIPE_EMAIL_BACKOFF", 2*time.Second, "first retry delay, doubled per attempt (with jitter)")
	fs.IntVar(&o.SendsPerHour, "email-sends-per-hour", "HOGPIPE_EMAIL_SENDS_PER_HOUR", 1000, "send budget: emails handed to Mailgun per hour, in all; more wait as deferred (0: no limit)")
	fs.IntVar(&o.DomainPerHour, "email-domain-sends-per-hour", "HOGPIPE_EMAIL_DOMAIN_SENDS_PER_HOUR", 200, "send budget per recipient domain per hour; more wait as deferred (0: no limit)")
	fs.BoolVar(&o.FromCapture, "email-from-capture", "HOGPIPE_EMAIL_FROM_CAPTURE", false, "let capture events from other machines (public token) trigger real emails; off: only authenticated webhooks and this machine")
	fs.StringVar(&o.PublicURL, "public-url", "HOGPIPE_PUBLIC_URL", "", "public https base URL of this server (https://hogpipe.example.com): unsubscribe links point here; required to send for real")
	fs.BoolVar(&o.WithoutUnsubscribe, "email-without-unsubscribe", "HOGPIPE_EMAIL_WITHOUT_UNSUBSCRIBE", false, "send for real without unsubscribe links or headers (not for marketing email: Gmail and Yahoo require one-click unsubscribe)")
	fs.DurationVar(&o.TokenTTL, "unsubscribe-token-ttl", "HOGPIPE_UNSUBSCRIBE_TOKEN_TTL", 365*24*time.Hour, "how long an unsubscribe link keeps working after its email was sent")
	fs.StringVar(&o.ReplyTo, "mail-reply-to", "MAIL_REPLY_TO", "", "Reply-To address; also offered as a mailto: unsubscribe target")
	fs.StringVar(&o.RequireConsent, "email-require-consent", "HOGPIPE_EMAIL_REQUIRE_CONSENT", "", "send only when this person property is true (e.g. marketing_consent); others get state no_consent")
	fs.SecretVar(&o.unsubscribeSecret, "unsubscribe-secret", "HOGPIPE_UNSUBSCRIBE_SECRET", "key of unsubscribe link tokens, at least 32 characters (default: generated once, kept in DATA_DIR/unsubscribe.key, or in the database with --database)")
	fs.SecretVar(&o.signingKey, "mailgun-webhook-signing-key", "MAILGUN_WEBHOOK_SIGNING_KEY", "Mailgun's HTTP webhook signing key: enables POST /api/webhooks/mailgun")
	fs.DurationVar(&o.WebhookMaxAge, "mailgun-webhook-max-age", "HOGPIPE_MAILGUN_WEBHOOK_MAX_AGE", 12*time.Hour, "oldest Mailgun webhook timestamp accepted (Mailgun retries for 8 h); older ones are refused as stale")
}

// Setup is what Build makes of the options: what serve hands the store,
// the workers and the server.
type Setup struct {
	// Policy is what the store queues emails by; nil: email is off.
	Policy *hogpipe.EmailPolicy
	// Worker configures New; Feedback adds its unsubscribe links.
	Worker Config
	// Sender is Mailgun; nil: dry-run.
	Sender Sender
	// Describe says at start what will happen to emails.
	Describe string
	opts     Options
	// base is where links point when no public URL is set (dry-run): the
	// address serve listens on, once known (SetLinkBase).
	base atomic.Pointer[string]
}

// Build checks the options, reads the templates and says (in the log and
// Describe) what will happen to emails. Real sending needs a way to
// unsubscribe, or an explicit opt-out. Errors are usage errors.
func (o *Options) Build(log *slog.Logger) (*Setup, error) {
	events := cli.SplitList(o.Events)
	if o.CapWindow < 0 || o.Workers < 1 || o.MaxAttempts < 1 || o.Timeout <= 0 || o.Backoff <= 0 {
		return nil, cli.Usagef("email settings must be positive: --email-workers, --email-max-attempts, --email-timeout, --email-backoff (and --email-cap-window ≥ 0)")
	}
	if o.SendsPerHour < 0 || o.DomainPerHour < 0 {
		return nil, cli.Usagef("--email-sends-per-hour and --email-domain-sends-per-hour must be ≥ 0 (0: no limit)")
	}
	tmpl := map[string]string{}
	for name, file := range map[string]string{"subject": o.SubjectFile, "text": o.TextFile, "html": o.HTMLFile} {
		if file == "" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, cli.Usagef("email %s template: %v", name, err)
		}
		tmpl[name] = string(b)
	}
	templates, err := ParseTemplates(tmpl["subject"], tmpl["text"], tmpl["html"])
	if err != nil {
		return nil, cli.Usagef("email templates: %v", err)
	}
	from := o.From
	if from == "" {
		domain := o.Mailgun.Domain
		if domain == "" {
			domain = "localhost"
		}
		from = "hogpipe <noreply@" + domain + ">"
	}
	if !strings.Contains(from, "@") {
		return nil, cli.Usagef("MAIL_FROM %q has no address in it; use e.g. \"Team <team@mg.example.com>\"", from)
	}
	s := &Setup{
		Policy: &hogpipe.EmailPolicy{Events: events, CapWindow: o.CapWindow, FromUntrusted: o.FromCapture},
		Worker: Config{Workers: o.Workers, Timeout: o.Timeout, MaxAttempts: o.MaxAttempts, BackoffBase: o.Backoff,
			From: from, Templates: templates},
	}
	cfg := o.Mailgun
	switch {
	case len(events) == 0:
		s.Policy = nil
		s.Describe = "email: off (--email-events is empty)"
	case cfg.APIKey == "" && cfg.Domain == "":
		s.Describe = "email: DRY-RUN — MAILGUN_API_KEY and MAILGUN_DOMAIN are not set, so emails for " +
			strings.Join(events, ", ") + " are rendered and recorded as dry_run, not sent"
	default:
		if err := cfg.Validate(); err != nil {
			return nil, cli.Usage(err)
		}
		sender, err := mailgun.New(cfg)
		if err != nil {
			return nil, cli.Usage(err)
		}
		s.Sender = sender
		// The budgets protect real sending; dry-run renders without limit.
		s.Policy.SendsPerHour, s.Policy.DomainSendsPerHour = o.SendsPerHour, o.DomainPerHour
		s.Describe = fmt.Sprintf("email: sending %s through Mailgun (%s, domain %s) from %s",
			strings.Join(events, ", "), cfg.APIBase, cfg.Domain, from)
	}
	log.Info(s.Describe)
	if err := o.checkFeedback(s); err != nil {
		return nil, err
	}
	s.opts = *o
	return s, nil
}

// checkFeedback checks the way back from email against the setup: real
// sending needs a way to unsubscribe, or an explicit opt-out.
func (o *Options) checkFeedback(email *Setup) error {
	// The secrets are read here, after the destination's checks and the
	// start-up line: that is the order serve has always reported in.
	for _, sc := range []struct {
		to   *string
		from *cli.Secret
	}{{&o.UnsubscribeSecret, &o.unsubscribeSecret}, {&o.WebhookSigningKey, &o.signingKey}} {
		if *sc.to != "" {
			continue
		}
		v, err := sc.from.Value()
		if err != nil {
			return err
		}
		*sc.to = v
	}
	if o.TokenTTL < 24*time.Hour {
		return cli.Usagef("--unsubscribe-token-ttl %s is too short: links must keep working for weeks (CAN-SPAM asks for 30 days)", o.TokenTTL)
	}
	if o.WebhookMaxAge < time.Minute {
		return cli.Usagef("--mailgun-webhook-max-age %s is too short; use at least 1m", o.WebhookMaxAge)
	}
	if o.UnsubscribeSecret != "" && len(o.UnsubscribeSecret) < unsubscribe.MinSecretLen {
		return cli.Usagef("--unsubscribe-secret is %d characters; use at least %d (e.g. openssl rand -hex 32)", len(o.UnsubscribeSecret), unsubscribe.MinSecretLen)
	}
	if o.ReplyTo != "" && !hogpipe.ValidEmail(o.ReplyTo) {
		return cli.Usagef("MAIL_REPLY_TO %q is not an email address", o.ReplyTo)
	}
	if o.PublicURL != "" {
		// Links are this prefix plus /unsubscribe/TOKEN, taken as they are
		// by mailbox providers: no query or fragment for the path to land
		// in, nothing that needs escaping.
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(o.PublicURL, "?# \t\r\n<>\"'\\") {
			return cli.Usagef("HOGPIPE_PUBLIC_URL %q is not a base URL such as https://hogpipe.example.com", o.PublicURL)
		}
		if u.User != nil {
			return cli.Usagef("HOGPIPE_PUBLIC_URL must not hold a user or password: it is in every email sent")
		}
		if email.Sender != nil && u.Scheme != "https" {
			return cli.Usagef("HOGPIPE_PUBLIC_URL %q must be https to send for real: mailbox providers only offer one-click unsubscribe over https", o.PublicURL)
		}
		o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	}
	if email.Sender != nil && o.PublicURL == "" && !o.WithoutUnsubscribe {
		return cli.Usagef("real sending needs unsubscribe links: set HOGPIPE_PUBLIC_URL (--public-url) to the https address this server is reachable at, " +
			"so every email carries List-Unsubscribe and a footer link (Gmail and Yahoo require one-click unsubscribe from bulk senders; " +
			"CAN-SPAM and GDPR require an opt-out); or set HOGPIPE_EMAIL_WITHOUT_UNSUBSCRIBE=true if these are not marketing emails")
	}
	if email.Policy != nil {
		email.Policy.RequireConsent = o.RequireConsent
	}
	email.Worker.ReplyTo = o.ReplyTo
	return nil
}

// Feedback makes, once the store is open, what the way back from email
// needs: the signer of unsubscribe links, with the configured key or the
// one unsubscribe.LoadSecret keeps, and the checker of Mailgun's event
// webhooks (nil without a signing key). Unless email is off or sent
// without them, it puts the links into every email the workers render.
func (s *Setup) Feedback(ctx context.Context, store unsubscribe.SecretStore, dataDir string, log *slog.Logger) (*unsubscribe.Signer, *mailgun.Webhooks, error) {
	o := &s.opts
	var hooks *mailgun.Webhooks
	if o.WebhookSigningKey != "" {
		hooks = mailgun.NewWebhooks(o.WebhookSigningKey, o.WebhookMaxAge)
	}
	// Links are verified whatever the email setting: links in emails
	// already sent must keep working (CAN-SPAM: 30 days at least) after
	// email is turned off or sent without them.
	secret := o.UnsubscribeSecret
	if secret == "" {
		var err error
		if secret, err = unsubscribe.LoadSecret(ctx, store, dataDir); err != nil {
			return nil, nil, err
		}
	}
	signer := unsubscribe.NewSigner(secret, o.TokenTTL)
	if s.Policy == nil || (o.WithoutUnsubscribe && o.PublicURL == "") {
		return signer, hooks, nil
	}
	s.Worker.Unsubscribe = &Unsubscribe{Mailto: o.ReplyTo, URL: func(to, kind string) string {
		base := o.PublicURL
		if base == "" {
			base = "http://localhost:3000"
			if b := s.base.Load(); b != nil {
				base = *b
			}
		}
		return base + "/unsubscribe/" + signer.Token(to, kind, time.Now())
	}}
	if o.PublicURL == "" {
		log.Info("email: unsubscribe links point at this server's own address (dry-run); set HOGPIPE_PUBLIC_URL before sending for real")
	}
	return signer, hooks, nil
}

// SetLinkBase tells where links point when no public URL is set (dry-run):
// the address serve listens on, once known.
func (s *Setup) SetLinkBase(base string) { s.base.Store(&base) }
