package main

import (
	"fmt"
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
}

func addEmailFlags(fs *flagSet, c *emailConfig) {
	fs.fs.StringVar(&c.apiKey, "mailgun-api-key", "", "Mailgun API key; unset (with the domain) means dry-run")
	fs.bind("mailgun-api-key", "MAILGUN_API_KEY")
	fs.fs.StringVar(&c.domain, "mailgun-domain", "", "Mailgun sending domain, e.g. mg.example.com")
	fs.bind("mailgun-domain", "MAILGUN_DOMAIN")
	fs.fs.StringVar(&c.apiBase, "mailgun-api-base", mailgun.DefaultAPIBase, "Mailgun API origin (EU: https://api.eu.mailgun.net)")
	fs.bind("mailgun-api-base", "MAILGUN_API_BASE")
	fs.fs.StringVar(&c.from, "mail-from", "", "From address (default: hogpipe <noreply@MAILGUN_DOMAIN>)")
	fs.bind("mail-from", "MAIL_FROM")
	fs.fs.StringVar(&c.subjectFile, "mail-subject-template-file", "", "Go text/template file for the subject (default built in)")
	fs.bind("mail-subject-template-file", "MAIL_SUBJECT_TEMPLATE_FILE")
	fs.fs.StringVar(&c.textFile, "mail-text-template-file", "", "Go text/template file for the plain-text body (default built in)")
	fs.bind("mail-text-template-file", "MAIL_TEXT_TEMPLATE_FILE")
	fs.fs.StringVar(&c.htmlFile, "mail-html-template-file", "", "Go html/template file for the HTML body (default built in)")
	fs.bind("mail-html-template-file", "MAIL_HTML_TEMPLATE_FILE")
	fs.fs.StringVar(&c.events, "email-events", hogpipe.EventFeatureUsed, "comma-separated event names that send an email")
	fs.bind("email-events", "HOGPIPE_EMAIL_EVENTS")
	fs.fs.DurationVar(&c.capWindow, "email-cap-window", 24*time.Hour, "at most one email per recipient and event name within this window")
	fs.bind("email-cap-window", "HOGPIPE_EMAIL_CAP_WINDOW")
	fs.fs.IntVar(&c.workers, "email-workers", 32, "concurrent sends")
	fs.bind("email-workers", "HOGPIPE_EMAIL_WORKERS")
	fs.fs.DurationVar(&c.timeout, "email-timeout", 10*time.Second, "timeout of one send")
	fs.bind("email-timeout", "HOGPIPE_EMAIL_TIMEOUT")
	fs.fs.IntVar(&c.maxAttempts, "email-max-attempts", 5, "attempts before an email is failed")
	fs.bind("email-max-attempts", "HOGPIPE_EMAIL_MAX_ATTEMPTS")
	fs.fs.DurationVar(&c.backoff, "email-backoff", 2*time.Second, "first retry delay, doubled per attempt (with jitter)")
	fs.bind("email-backoff", "HOGPIPE_EMAIL_BACKOFF")
}

type emailSetup struct {
	policy   *hogpipe.EmailPolicy
	worker   outbox.Config
	sender   outbox.Sender // nil: dry-run
	describe string
}

// build validates the configuration and says at start-up what will happen.
func (c *emailConfig) build(log *slog.Logger) (*emailSetup, error) {
	events := splitList(c.events)
	if c.capWindow < 0 || c.workers < 1 || c.maxAttempts < 1 || c.timeout <= 0 || c.backoff <= 0 {
		return nil, usagef("email settings must be positive: --email-workers, --email-max-attempts, --email-timeout, --email-backoff (and --email-cap-window ≥ 0)")
	}
	tmpl := map[string]string{}
	for name, file := range map[string]string{"subject": c.subjectFile, "text": c.textFile, "html": c.htmlFile} {
		if file == "" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usagef("email %s template: %v", name, err)
		}
		tmpl[name] = string(b)
	}
	templates, err := outbox.ParseTemplates(tmpl["subject"], tmpl["text"], tmpl["html"])
	if err != nil {
		return nil, usagef("email templates: %v", err)
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
		return nil, usagef("MAIL_FROM %q has no address in it; use e.g. \"Team <team@mg.example.com>\"", from)
	}
	s := &emailSetup{
		policy: &hogpipe.EmailPolicy{Events: events, CapWindow: c.capWindow},
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
			return nil, usageError{err}
		}
		sender, err := mailgun.New(cfg)
		if err != nil {
			return nil, usageError{err}
		}
		s.sender = sender
		s.describe = fmt.Sprintf("email: sending %s through Mailgun (%s, domain %s) from %s",
			strings.Join(events, ", "), cfg.APIBase, cfg.Domain, from)
	}
	log.Info(s.describe)
	return s, nil
}
