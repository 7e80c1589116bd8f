package main

import (
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/mailgun"
	"github.com/hogpipe/hogpipe/outbox"
)

// emailConfig is the email destination's configuration, from flags and
// the environment variables Mailgun users already know.
type emailConfig struct {
	apiKey, domain, apiBase, from   string
	subjectFile, textFile, htmlFile string
	events                          string
	capWindow, timeout, backoff     time.Duration
	workers, maxAttempts            int
	sendsPerHour, domainPerHour     int
	fromCapture                     bool
}

func addEmailFlags(fs *cli.FlagSet, c *emailConfig) {
	fs.StringVar(&c.apiKey, "mailgun-api-key", "MAILGUN_API_KEY", "", "Mailgun API key; unset (with the domain) means dry-run")
	fs.StringVar(&c.domain, "mailgun-domain", "MAILGUN_DOMAIN", "", "Mailgun sending domain, e.g. mg.example.com")
	fs.StringVar(&c.apiBase, "mailgun-api-base", "MAILGUN_API_BASE", mailgun.DefaultAPIBase, "Mailgun API origin (EU: https://api.eu.mailgun.net)")
	fs.StringVar(&c.from, "mail-from", "MAIL_FROM", "", "From address (default: hogpipe <noreply@MAILGUN_DOMAIN>)")
	fs.StringVar(&c.subjectFile, "mail-subject-template-file", "MAIL_SUBJECT_TEMPLATE_FILE", "", "Go text/template file for the subject (default built in)")
	fs.StringVar(&c.textFile, "mail-text-template-file", "MAIL_TEXT_TEMPLATE_FILE", "", "Go text/template file for the plain-text body (default built in)")
	fs.StringVar(&c.htmlFile, "mail-html-template-file", "MAIL_HTML_TEMPLATE_FILE", "", "Go html/template file for the HTML body (default built in)")
	fs.StringVar(&c.events, "email-events", "HOGPIPE_EMAIL_EVENTS", hogpipe.EventFeatureUsed, "comma-separated event names that send an email")
	fs.DurationVar(&c.capWindow, "email-cap-window", "HOGPIPE_EMAIL_CAP_WINDOW", 24*time.Hour, "at most one email per recipient and event name within this window")
	fs.IntVar(&c.workers, "email-workers", "HOGPIPE_EMAIL_WORKERS", 32, "concurrent sends")
	fs.DurationVar(&c.timeout, "email-timeout", "HOGPIPE_EMAIL_TIMEOUT", 10*time.Second, "timeout of one send")
	fs.IntVar(&c.maxAttempts, "email-max-attempts", "HOGPIPE_EMAIL_MAX_ATTEMPTS", 5, "attempts before an email is failed")
	fs.DurationVar(&c.backoff, "email-backoff", "HOGPIPE_EMAIL_BACKOFF", 2*time.Second, "first retry delay, doubled per attempt (with jitter)")
	fs.IntVar(&c.sendsPerHour, "email-sends-per-hour", "HOGPIPE_EMAIL_SENDS_PER_HOUR", 1000, "send budget: emails handed to Mailgun per hour, in all; more wait as deferred (0: no limit)")
	fs.IntVar(&c.domainPerHour, "email-domain-sends-per-hour", "HOGPIPE_EMAIL_DOMAIN_SENDS_PER_HOUR", 200, "send budget per recipient domain per hour; more wait as deferred (0: no limit)")
	fs.BoolVar(&c.fromCapture, "email-from-capture", "HOGPIPE_EMAIL_FROM_CAPTURE", false, "let capture events from other machines (public token) trigger real emails; off: only authenticated webhooks and this machine")
}

type emailSetup struct {
	policy   *hogpipe.EmailPolicy
	worker   outbox.Config
	sender   outbox.Sender // nil: dry-run
	describe string
}

// build validates the configuration and says at start-up what will happen.
func (c *emailConfig) build(log *slog.Logger) (*emailSetup, error) {
	events := cli.SplitList(c.events)
	if c.capWindow < 0 || c.workers < 1 || c.maxAttempts < 1 || c.timeout <= 0 || c.backoff <= 0 {
		return nil, cli.Usagef("email settings must be positive: --email-workers, --email-max-attempts, --email-timeout, --email-backoff (and --email-cap-window ≥ 0)")
	}
	if c.sendsPerHour < 0 || c.domainPerHour < 0 {
		return nil, cli.Usagef("--email-sends-per-hour and --email-domain-sends-per-hour must be ≥ 0 (0: no limit)")
	}
	tmpl := map[string]string{}
	for name, file := range map[string]string{"subject": c.subjectFile, "text": c.textFile, "html": c.htmlFile} {
		if file == "" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, cli.Usagef("email %s template: %v", name, err)
		}
		tmpl[name] = string(b)
	}
	templates, err := outbox.ParseTemplates(tmpl["subject"], tmpl["text"], tmpl["html"])
	if err != nil {
		return nil, cli.Usagef("email templates: %v", err)
	}
	from := c.from
	if from == "" {
		domain := c.domain
		if domain == "" {
			domain = "localhost"
		}
		from = "hogpipe <noreply@" + domain + ">"
	}
	if !strings.Contains(from, "@") {
		return nil, cli.Usagef("MAIL_FROM %q has no address in it; use e.g. \"Team <team@mg.example.com>\"", from)
	}
	s := &emailSetup{
		policy: &hogpipe.EmailPolicy{Events: events, CapWindow: c.capWindow, FromUntrusted: c.fromCapture},
		worker: outbox.Config{Workers: c.workers, Timeout: c.timeout, MaxAttempts: c.maxAttempts, BackoffBase: c.backoff,
			From: from, Templates: templates},
	}
	cfg := mailgun.Config{APIKey: c.apiKey, Domain: c.domain, APIBase: c.apiBase}
	switch {
	case len(events) == 0:
		s.policy = nil
		s.describe = "email: off (--email-events is empty)"
	case c.apiKey == "" && c.domain == "":
		s.describe = "email: DRY-RUN — MAILGUN_API_KEY and MAILGUN_DOMAIN are not set, so emails for " +
			strings.Join(events, ", ") + " are rendered and recorded as dry_run, not sent"
	default:
		if err := cfg.Validate(); err != nil {
			return nil, cli.Usage(err)
		}
		sender, err := mailgun.New(cfg)
		if err != nil {
			return nil, cli.Usage(err)
		}
		s.sender = sender
		// The budgets protect real sending; dry-run renders without limit.
		s.policy.SendsPerHour, s.policy.DomainSendsPerHour = c.sendsPerHour, c.domainPerHour
		s.describe = fmt.Sprintf("email: sending %s through Mailgun (%s, domain %s) from %s",
			strings.Join(events, ", "), cfg.APIBase, cfg.Domain, from)
	}
	log.Info(s.describe)
	return s, nil
}
