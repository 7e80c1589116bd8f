package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// mailEnv points hogpipe at a fake Mailgun with fast retries.
// newMailgun starts a fake Mailgun for key-123 and mg.example.com, closed
// when the test ends (after the servers started later have stopped).
func newMailgun(t testing.TB) *mailguntest.Server {
	mg := mailguntest.New("key-123", "mg.example.com")
	t.Cleanup(mg.Close)
	return mg
}

// mailProcEnv is the environment of a hogpipe process that sends through
// the Mailgun at apiBase (key-123, mg.example.com) with no hourly send
// limits, followed by extra ("NAME=value" each).
func mailProcEnv(apiBase string, extra ...string) []string {
	return append([]string{"MAILGUN_API_KEY=key-123", "HOGPIPE_PUBLIC_URL=" + testPublicURL, "MAILGUN_DOMAIN=mg.example.com", "MAILGUN_API_BASE=" + apiBase,
		"HOGPIPE_EMAIL_SENDS_PER_HOUR=0", "HOGPIPE_EMAIL_DOMAIN_SENDS_PER_HOUR=0"}, extra...)
}

// mailServer is a server sending through a new fake Mailgun, with
// mailEnv(mg, extra...).
func mailServer(t testing.TB, extra ...string) (*mailguntest.Server, *testServer) {
	t.Helper()
	mg := newMailgun(t)
	return mg, startServer(t, mailEnv(mg, extra...))
}

// sentEmail posts a feature_used event with id for addr and fails the
// test at once unless its email is sent.
func sentEmail(t *testing.T, ts *testServer, id, addr string) map[string]any {
	t.Helper()
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody(id, addr))
	e := emailOf(t, ts, id)
	if e["state"] != "sent" {
		t.Fatalf("email of %s: %v", id, e)
	}
	return e
}

func mailEnv(mg *mailguntest.Server, extra ...string) map[string]string {
	env := map[string]string{
		"MAILGUN_API_KEY": mg.APIKey, "MAILGUN_DOMAIN": mg.Domain, "MAILGUN_API_BASE": mg.URL,
		"MAIL_FROM": "Team <team@" + mg.Domain + ">", "HOGPIPE_EMAIL_BACKOFF": "20ms",
		"HOGPIPE_EMAIL_TIMEOUT": "750ms", "HOGPIPE_EMAIL_MAX_ATTEMPTS": "3",
		"HOGPIPE_PUBLIC_URL": testPublicURL,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		env[extra[i]] = extra[i+1]
	}
	return env
}

func featureBody(id, email string) string {
	return fmt.Sprintf(`{"event":{"uuid":%q,"event":"feature_used","distinct_id":"d-%s","properties":{"feature":"export"}},
		"person":{"properties":{"email":%q}}}`, id, id, email)
}

// emailOf waits until the event's email leaves the in-flight states (or
// reaches want) and returns it.
func emailOf(t *testing.T, ts *testServer, id string, want ...string) map[string]any {
	t.Helper()
	var email map[string]any
	proctest.Eventually(t, "email of "+id+" settled", 15*time.Second, func() error {
		r := get(t, ts.URL+"/api/events/"+id)
		email, _ = r.Body["email"].(map[string]any)
		if email != nil {
			st, _ := email["state"].(string)
			settled := st != "queued" && st != "sending" && st != "retrying"
			if len(want) > 0 {
				settled = st == want[0]
			}
			if settled {
				return nil
			}
		}
		return fmt.Errorf("not settled: %v", r.Body)
	})
	return email
}

func TestEmailSentThroughMailgun(t *testing.T) {
	mg, ts := mailServer(t)
	if r := post(t, ts.URL+"/api/webhooks/feature-used", featureBody("f1", "ada@example.com")); r.Status != 200 {
		t.Fatal(r.Body)
	}
	email := emailOf(t, ts, "f1")
	msgs := mg.Messages()
	if email["state"] != "sent" || email["attempts"] != float64(1) || len(msgs) != 1 || email["message_id"] != msgs[0].ID {
		t.Fatalf("email %v, messages %v", email, msgs)
	}
	m := msgs[0]
	if m.To != "ada@example.com" || m.From != "Team <team@mg.example.com>" || !strings.Contains(m.Subject, "export") ||
		!strings.Contains(m.Text, "export") || !strings.Contains(m.HTML, "<strong>export</strong>") || m.Vars["hogpipe-event-id"] != "f1" {
		t.Errorf("message = %+v", m)
	}
}

func TestEmailExactlyOnceAndFrequencyCap(t *testing.T) {
	mg, ts := mailServer(t)
	for range 3 { // PostHog retrying one delivery
		post(t, ts.URL+"/api/webhooks/feature-used", featureBody("once", "bob@example.com"))
	}
	if e := emailOf(t, ts, "once"); e["state"] != "sent" {
		t.Fatalf("first: %v", e)
	}
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("twice", "bob@example.com"))
	capped := emailOf(t, ts, "twice")
	if capped["state"] != "suppressed" || !strings.Contains(capped["reason"].(string), "frequency cap") {
		t.Errorf("second for the same recipient: %v", capped)
	}
	post(t, ts.URL+"/api/webhooks/feature-used", `{"event":"feature_used","uuid":"nobody","properties":{}}`)
	if e := emailOf(t, ts, "nobody"); e["state"] != "skipped" || e["reason"] != "no email address" {
		t.Errorf("no address: %v", e)
	}
	if n := len(mg.Messages()); n != 1 {
		t.Errorf("Mailgun got %d messages, want 1", n)
	}
}

func TestEmailFailureModes(t *testing.T) {
	mg, ts := mailServer(t)
	cases := []struct {
		name     string
		script   []mailguntest.Response
		state    string
		attempts float64
		errPart  string
	}{
		{"500 twice then accepted", []mailguntest.Response{{Status: 500}, {Status: 502}}, "sent", 3, ""},
		{"500 every time", []mailguntest.Response{{Status: 500}, {Status: 500}, {Status: 503}}, "failed", 3, "gave up after 3 attempts"},
		{"slow past the timeout, then fine", []mailguntest.Response{{Delay: 3 * time.Second}}, "sent", 2, ""},
		{"400 fails at once with Mailgun's message", []mailguntest.Response{{Status: 400, Message: "'to' parameter is not a valid address"}}, "failed", 1, "not a valid address"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("mode-%d", i)
			mg.Then(c.script...)
			post(t, ts.URL+"/api/webhooks/feature-used", featureBody(id, fmt.Sprintf("u%d@example.com", i)))
			e := emailOf(t, ts, id)
			if e["state"] != c.state || e["attempts"] != c.attempts {
				t.Errorf("state %v after %v attempts, want %s after %v: %v", e["state"], e["attempts"], c.state, c.attempts, e)
			}
			if msg, _ := e["last_error"].(string); c.errPart != "" && !strings.Contains(msg, c.errPart) {
				t.Errorf("last_error %q lacks %q", msg, c.errPart)
			}
		})
	}

	// Replay: the failed ones go out once Mailgun is well again.
	r := post(t, ts.URL+"/api/emails/replay?state=failed", "")
	if r.Status != 200 || r.Body["requeued"] != float64(2) {
		t.Fatalf("replay: %v", r.Body)
	}
	for _, id := range []string{"mode-1", "mode-3"} {
		if e := emailOf(t, ts, id); e["state"] != "sent" || e["attempts"] != float64(1) {
			t.Errorf("%s after replay: %v", id, e)
		}
	}
	list := get(t, ts.URL+"/api/emails?state=sent").Body["emails"].([]any)
	if len(list) != 4 {
		t.Errorf("%d sent emails listed, want 4", len(list))
	}
}

func TestEmailHonoursRetryAfter(t *testing.T) {
	mg, ts := mailServer(t)
	mg.Then(mailguntest.Response{Status: 429, RetryAfter: "1"})
	start := time.Now()
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("ra", "ra@example.com"))
	retrying := emailOf(t, ts, "ra", "retrying")
	next, err := time.Parse(time.RFC3339Nano, retrying["next_attempt_at"].(string))
	if err != nil || next.Sub(start) < 900*time.Millisecond {
		t.Errorf("next attempt %v is sooner than Retry-After: 1 (%v)", retrying["next_attempt_at"], err)
	}
	e := emailOf(t, ts, "ra", "sent")
	if e["attempts"] != float64(2) || time.Since(start) < time.Second {
		t.Errorf("sent after %v, %v attempts", time.Since(start), e["attempts"])
	}
}

func TestEmailDryRunByDefault(t *testing.T) {
	ts := startServer(t, nil)
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("dry", "dry@example.com"))
	e := emailOf(t, ts, "dry")
	if e["state"] != "dry_run" || !strings.Contains(e["subject"].(string), "export") {
		t.Errorf("dry run: %v", e)
	}
	if st := ts.stats(t)["emails_by_state"].(map[string]any); st["dry_run"] != float64(1) {
		t.Errorf("stats: %v", st)
	}
}

func TestEmailConfigErrors(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MAILGUN_API_KEY": "k"}, "MAILGUN_DOMAIN"},
		{map[string]string{"MAILGUN_DOMAIN": "mg.x.com"}, "MAILGUN_API_KEY"},
		{map[string]string{"MAILGUN_API_KEY": "k", "MAILGUN_DOMAIN": "mg.x.com", "MAILGUN_API_BASE": "api.mailgun.net"}, "MAILGUN_API_BASE"},
		{map[string]string{"MAIL_FROM": "nobody"}, "MAIL_FROM"},
		{map[string]string{"MAIL_SUBJECT_TEMPLATE_FILE": "/does/not/exist"}, "subject template"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"hogpipe", "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()},
			func(k string) string { return c.env[k] }, &out, &errb)
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v: err %v, want a usage error naming %s", c.env, err, c.want)
		}
	}
}
