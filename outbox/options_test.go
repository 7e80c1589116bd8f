package outbox

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/unsubscribe"
)

var quiet = slog.New(slog.DiscardHandler)

// defaults are the options as serve's flags leave them when nothing is set.
func defaults(t *testing.T) *Options { t.Helper(); return fromEnv(t, nil) }

// fromEnv are the options as serve's flags read them from env.
func fromEnv(t *testing.T, env map[string]string) *Options {
	t.Helper()
	o := &Options{}
	fs := cli.New("serve", "", func(k string) string { return env[k] }, io.Discard)
	o.Flags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return o
}

// sending sets a Mailgun account, so Build makes a real Sender.
func sending(o *Options) {
	o.Mailgun.APIKey, o.Mailgun.Domain = "key-test", "mg.example.com"
}

// Build refuses every combination that would send badly or not at all,
// with a usage error (exit 2) naming the setting, before anything opens.
func TestOptionsBuildRefusesBadCombinations(t *testing.T) {
	dir := t.TempDir()
	badTemplate := filepath.Join(dir, "bad.tmpl")
	if err := os.WriteFile(badTemplate, []byte("{{.Nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"no workers", func(o *Options) { o.Workers = 0 }, "--email-workers"},
		{"no attempts", func(o *Options) { o.MaxAttempts = 0 }, "--email-max-attempts"},
		{"no timeout", func(o *Options) { o.Timeout = 0 }, "--email-timeout"},
		{"no backoff", func(o *Options) { o.Backoff = -time.Second }, "--email-backoff"},
		{"negative cap window", func(o *Options) { o.CapWindow = -time.Hour }, "--email-cap-window"},
		{"negative budget", func(o *Options) { o.SendsPerHour = -1 }, "--email-sends-per-hour"},
		{"negative domain budget", func(o *Options) { o.DomainPerHour = -1 }, "--email-domain-sends-per-hour"},
		{"missing template file", func(o *Options) { o.TextFile = filepath.Join(dir, "none") }, "email text template"},
		{"broken template", func(o *Options) { o.SubjectFile = badTemplate }, "email templates"},
		{"from without an address", func(o *Options) { o.From = "Team" }, "MAIL_FROM"},
		{"key without domain", func(o *Options) { o.Mailgun.APIKey = "key-test" }, "MAILGUN_DOMAIN is not"},
		{"domain without key", func(o *Options) { o.Mailgun.Domain = "mg.example.com" }, "MAILGUN_API_KEY is not"},
		{"domain as a URL", func(o *Options) { sending(o); o.Mailgun.Domain = "https://mg.example.com" }, "bare domain"},
		{"API base with a path", func(o *Options) { sending(o); o.Mailgun.APIBase = "https://api.mailgun.net/v3" }, "without a path"},
		{"real sending without links", func(o *Options) { sending(o) }, "real sending needs unsubscribe links"},
		{"real sending with http links", func(o *Options) { sending(o); o.PublicURL = "http://hogpipe.example.com" }, "must be https"},
		{"short token life", func(o *Options) { o.TokenTTL = time.Hour }, "--unsubscribe-token-ttl"},
		{"short webhook age", func(o *Options) { o.WebhookMaxAge = 10 * time.Second }, "--mailgun-webhook-max-age"},
		{"short secret", func(o *Options) { o.UnsubscribeSecret = "0123456789" }, "--unsubscribe-secret is 10 characters"},
		{"reply-to not an address", func(o *Options) { o.ReplyTo = "support" }, "MAIL_REPLY_TO"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := defaults(t)
			c.set(o)
			s, err := o.Build(quiet)
			if err == nil || !strings.Contains(err.Error(), c.want) || !cli.IsUsage(err) {
				t.Fatalf("Build = %v, %v; want a usage error naming %q", s, err, c.want)
			}
		})
	}
}

// What Build makes of the combinations it accepts: who sends, whether the
// budgets apply, and the policy the store queues by.
func TestOptionsBuildAccepts(t *testing.T) {
	for _, c := range []struct {
		name                  string
		set                   func(*Options)
		sends, off, budgets   bool
		describe, consent, to string
	}{
		{name: "dry-run", set: func(*Options) {}, describe: "DRY-RUN"},
		{name: "dry-run with plain http links", set: func(o *Options) { o.PublicURL = "http://localhost:3000/" }, describe: "DRY-RUN"},
		{name: "off", set: func(o *Options) { o.Events = " , " }, off: true, describe: "email: off"},
		{name: "sending with links", set: func(o *Options) { sending(o); o.PublicURL = "https://hogpipe.example.com" },
			sends: true, budgets: true, describe: "through Mailgun"},
		{name: "sending, not marketing", set: func(o *Options) { sending(o); o.WithoutUnsubscribe = true },
			sends: true, budgets: true, describe: "through Mailgun"},
		{name: "consent and reply-to", set: func(o *Options) { o.RequireConsent = "marketing_consent"; o.ReplyTo = "help@example.com" },
			describe: "DRY-RUN", consent: "marketing_consent", to: "help@example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := defaults(t)
			c.set(o)
			s, err := o.Build(quiet)
			if err != nil {
				t.Fatal(err)
			}
			if (s.Sender != nil) != c.sends || (s.Policy == nil) != c.off || !strings.Contains(s.Describe, c.describe) {
				t.Fatalf("sender %v, policy %+v, %q", s.Sender, s.Policy, s.Describe)
			}
			if c.off {
				return
			}
			if got := s.Policy.SendsPerHour > 0 && s.Policy.DomainSendsPerHour > 0; got != c.budgets {
				t.Errorf("budgets %d/%d, want them set: %v (dry-run renders without limit)", s.Policy.SendsPerHour, s.Policy.DomainSendsPerHour, c.budgets)
			}
			if s.Policy.RequireConsent != c.consent || s.Worker.ReplyTo != c.to {
				t.Errorf("consent %q reply-to %q, want %q %q", s.Policy.RequireConsent, s.Worker.ReplyTo, c.consent, c.to)
			}
		})
	}
}

// The public URL becomes the prefix of every List-Unsubscribe link, which
// mailbox providers POST to as is: a shape that makes a broken or
// redirected link (extra slashes, a query or fragment the path lands in,
// spaces) or that puts credentials into every email is refused at start,
// and a trailing slash, however many, is dropped.
func TestPublicURLShapes(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"https://hogpipe.example.com", "https://hogpipe.example.com", ""},
		{"https://hogpipe.example.com/", "https://hogpipe.example.com", ""},
		{"https://hogpipe.example.com//", "https://hogpipe.example.com", ""},
		{"https://hogpipe.example.com/mail/", "https://hogpipe.example.com/mail", ""},
		{"https://hogpipe.example.com:8443", "https://hogpipe.example.com:8443", ""},
		{"https://user:pw@hogpipe.example.com", "", "user"},
		{"https://hogpipe.example.com/?", "", "HOGPIPE_PUBLIC_URL"},
		{"https://hogpipe.example.com/#", "", "HOGPIPE_PUBLIC_URL"},
		{"https://hogpipe.example.com/a b", "", "HOGPIPE_PUBLIC_URL"},
		{"https:///mail", "", "HOGPIPE_PUBLIC_URL"},
		{"http://hogpipe.example.com", "", "https"},
		{"ftp://hogpipe.example.com", "", "HOGPIPE_PUBLIC_URL"},
	} {
		fc := &Options{PublicURL: c.in, TokenTTL: 30 * 24 * time.Hour, WebhookMaxAge: time.Hour}
		err := fc.checkFeedback(&Setup{Sender: &fakeSender{}})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.err == "" && fc.PublicURL != c.want:
			t.Errorf("%q: links start %q, want %q", c.in, fc.PublicURL, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want an error naming %s", c.in, err, c.err)
		}
	}
}

type noSharedSecrets struct{}

func (noSharedSecrets) SharedSecret(context.Context, string, func() (string, error)) (string, error) {
	panic("not on PostgreSQL")
}
func (noSharedSecrets) Postgres() bool { return false }

// Feedback puts links whose tokens the returned signer accepts into the
// emails, pointing at the public URL, or in dry-run at serve's own
// address; none when sent without them; and checks Mailgun's webhooks
// only with a signing key.
func TestFeedbackLinks(t *testing.T) {
	secret := strings.Repeat("s", unsubscribe.MinSecretLen)
	for _, c := range []struct {
		name      string
		set       func(*Options)
		self      string
		wantLinks string // "": none
		hooks     bool
	}{
		{name: "dry-run links to serve", self: "http://127.0.0.1:4000", wantLinks: "http://127.0.0.1:4000/unsubscribe/"},
		{name: "dry-run before serve listens", wantLinks: "http://localhost:3000/unsubscribe/"},
		{name: "public URL", set: func(o *Options) { o.PublicURL = "https://hogpipe.example.com/"; o.WebhookSigningKey = "whk" },
			self: "http://127.0.0.1:4000", wantLinks: "https://hogpipe.example.com/unsubscribe/", hooks: true},
		{name: "without links", set: func(o *Options) { o.WithoutUnsubscribe = true }},
		{name: "email off", set: func(o *Options) { o.Events = "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := defaults(t)
			o.UnsubscribeSecret = secret
			if c.set != nil {
				c.set(o)
			}
			s, err := o.Build(quiet)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			signer, hooks, err := s.Feedback(context.Background(), noSharedSecrets{}, dir, quiet)
			if err != nil {
				t.Fatal(err)
			}
			if (hooks != nil) != c.hooks {
				t.Errorf("webhooks checker %v, want one: %v", hooks, c.hooks)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("a key file was made although the secret is set: %v", ents)
			}
			if c.self != "" {
				s.SetLinkBase(c.self)
			}
			u := s.Worker.Unsubscribe
			if c.wantLinks == "" {
				if u != nil {
					t.Fatalf("links %q, want none", u.URL("ann@example.com", hogpipe.EventFeatureUsed))
				}
				return
			}
			link := u.URL("Ann@Example.com", hogpipe.EventFeatureUsed)
			token, ok := strings.CutPrefix(link, c.wantLinks)
			if !ok {
				t.Fatalf("link %q, want it under %q", link, c.wantLinks)
			}
			if cl, err := signer.Verify(token, time.Now()); err != nil || cl.Address != "ann@example.com" || cl.Kind != hogpipe.EventFeatureUsed {
				t.Errorf("token of %q: %+v %v", link, cl, err)
			}
		})
	}
}

// The two secrets come from a variable or a file (secrets managers), not
// both, and are checked like any other setting.
func TestOptionsSecrets(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("k", unsubscribe.MinSecretLen)
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, empty, short := file("good", "\n"+key+"\n"), file("empty", " \n"), file("short", "0123456789\n")
	for _, c := range []struct {
		name           string
		env            map[string]string
		unsub, signing string
		want           string // a usage error naming this; "": accepted
	}{
		{name: "none"},
		{name: "variables", env: map[string]string{"HOGPIPE_UNSUBSCRIBE_SECRET": " " + key + " ", "MAILGUN_WEBHOOK_SIGNING_KEY": "whk"}, unsub: key, signing: "whk"},
		{name: "files", env: map[string]string{"HOGPIPE_UNSUBSCRIBE_SECRET_FILE": good, "MAILGUN_WEBHOOK_SIGNING_KEY_FILE": good}, unsub: key, signing: key},
		{name: "both forms", env: map[string]string{"HOGPIPE_UNSUBSCRIBE_SECRET": key, "HOGPIPE_UNSUBSCRIBE_SECRET_FILE": good}, want: "not both"},
		{name: "empty file", env: map[string]string{"MAILGUN_WEBHOOK_SIGNING_KEY_FILE": empty}, want: "is empty"},
		{name: "missing file", env: map[string]string{"MAILGUN_WEBHOOK_SIGNING_KEY_FILE": filepath.Join(dir, "none")}, want: "MAILGUN_WEBHOOK_SIGNING_KEY_FILE"},
		{name: "short key in a file", env: map[string]string{"HOGPIPE_UNSUBSCRIBE_SECRET_FILE": short}, want: "--unsubscribe-secret is 10 characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := fromEnv(t, c.env)
			_, err := o.Build(quiet)
			switch {
			case c.want == "" && err != nil:
				t.Fatal(err)
			case c.want == "" && (o.UnsubscribeSecret != c.unsub || o.WebhookSigningKey != c.signing):
				t.Errorf("secrets %q %q, want %q %q", o.UnsubscribeSecret, o.WebhookSigningKey, c.unsub, c.signing)
			case c.want != "" && (err == nil || !cli.IsUsage(err) || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Build = %v, want a usage error naming %q", err, c.want)
			}
		})
	}
}

// Build checks the email destination's settings before the way back's
// secrets, as serve did before the options moved here: a run with a bad
// MAIL_FROM and a missing key file names MAIL_FROM first, and the start-up
// line saying what happens to emails is logged before a secret is refused.
func TestOptionsBuildChecksSecretsAfterTheDestination(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"workers", map[string]string{"HOGPIPE_EMAIL_WORKERS": "0", "HOGPIPE_UNSUBSCRIBE_SECRET_FILE": missing}, "--email-workers"},
		{"from", map[string]string{"MAIL_FROM": "Team", "MAILGUN_WEBHOOK_SIGNING_KEY_FILE": missing}, "MAIL_FROM"},
		{"mailgun", map[string]string{"MAILGUN_API_KEY": "key-test", "MAILGUN_WEBHOOK_SIGNING_KEY": "a", "MAILGUN_WEBHOOK_SIGNING_KEY_FILE": missing}, "MAILGUN_DOMAIN is not"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := fromEnv(t, c.env).Build(quiet)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Build = %v, want the error naming %q first", err, c.want)
			}
		})
	}
	var logged strings.Builder
	_, err := fromEnv(t, map[string]string{"HOGPIPE_UNSUBSCRIBE_SECRET_FILE": missing}).Build(slog.New(slog.NewTextHandler(&logged, nil)))
	if err == nil || !strings.Contains(err.Error(), "HOGPIPE_UNSUBSCRIBE_SECRET_FILE") {
		t.Fatalf("Build = %v, want the missing file named", err)
	}
	if !strings.Contains(logged.String(), "email: DRY-RUN") {
		t.Errorf("log %q: the start-up line is missing before the secret's refusal", logged.String())
	}
}
