package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// runCLI runs one hogpipe command the way main does.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"hogpipe"}, args...), func(string) string { return "" }, &out, io.Discard)
	return out.String(), err
}

// Replay of sent or suppressed emails is refused over HTTP and on the
// command line without --force; before the fix both re-sent every email.
func TestReplayRefusesSentAndSuppressed(t *testing.T) {
	mg, ts := mailServer(t)
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("rp1", "ada@example.com"))
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("rp2", "ada@example.com"))
	if e := emailOf(t, ts, "rp1"); e["state"] != "sent" {
		t.Fatalf("rp1: %v", e)
	}
	if e := emailOf(t, ts, "rp2"); e["state"] != "suppressed" {
		t.Fatalf("rp2: %v", e)
	}
	for _, st := range []string{"sent", "suppressed", "dry_run", "skipped"} {
		r := post(t, ts.URL+"/api/emails/replay?state="+st, "")
		if r.Status != 400 || r.Body["code"] != "bad_parameter" || r.Body["field"] != "state" {
			t.Errorf("replay %s: %d %v", st, r.Status, r.Body)
		}
	}
	if r := post(t, ts.URL+"/api/emails/replay?state=sent&force=true", ""); r.Status != 400 {
		t.Errorf("the API took a force parameter: %d %v", r.Status, r.Body)
	}
	st := ts.stats(t)["emails_by_state"].(map[string]any)
	if st["queued"] != nil || st["sent"] != float64(1) || st["suppressed"] != float64(1) {
		t.Errorf("outbox after refused replays: %v", st)
	}
	ts.stop()

	if _, err := runCLI(t, "replay", "emails", "--data-dir", ts.DataDir, "--state", "sent"); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("replay --state sent without --force: %v", err)
	}
	if _, err := runCLI(t, "replay", "emails", "--data-dir", ts.DataDir, "--state", "suppressed", "--force"); err == nil {
		t.Error("replay --state suppressed --force was allowed")
	}
	out, err := runCLI(t, "replay", "emails", "--data-dir", ts.DataDir, "--state", "sent", "--force")
	if err != nil || !strings.Contains(out, "requeued 1 sent") {
		t.Errorf("replay --state sent --force: %q %v", out, err)
	}
	if len(mg.Messages()) != 1 {
		t.Errorf("%d messages sent", len(mg.Messages()))
	}
}

// Case variants of one address give one email, through the real server
// and Mailgun. Before the fix each variant got a message.
func TestEmailCaseVariantsGetOneEmail(t *testing.T) {
	mg, ts := mailServer(t)
	for i, addr := range []string{"Victim@Example.org", "VICTIM@example.org", "victim@EXAMPLE.org"} {
		id := fmt.Sprintf("cv%d", i)
		if r := post(t, ts.URL+"/api/webhooks/feature-used", featureBody(id, addr)); r.Status != 200 {
			t.Fatal(r.Body)
		}
		want := "suppressed"
		if i == 0 {
			want = "sent"
		}
		if e := emailOf(t, ts, id); e["state"] != want {
			t.Errorf("%s: %v, want %s", addr, e, want)
		}
	}
	if n := len(mg.Messages()); n != 1 {
		t.Errorf("%d messages for one recipient", n)
	}
}

func captureFeature(id, email string) string {
	return fmt.Sprintf(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":%q,"event":"feature_used",
		"properties":{"distinct_id":"d-%s","feature":"export","$set":{"email":%q}}}]}`, id, id, email)
}

// Capture events from other machines (the token is public) trigger no
// real email by default, and the email's row says why; from this machine
// (hogpipe's own page) they do. --email-from-capture lets them all send.
// Before the fix every capture event sent mail.
func TestCaptureFromElsewhereSendsNoEmail(t *testing.T) {
	mg, ts := mailServer(t)
	remote := []struct {
		name    string
		headers []string
	}{
		{"a page on another site", []string{"Content-Type", "text/plain", "Origin", "https://elsewhere.example"}},
		{"through a tunnel", []string{"Host", "hogpipe.example.com"}},
	}
	for i, c := range remote {
		id := fmt.Sprintf("remote%d", i)
		req := mustRequest(t, "POST", ts.URL+"/e/", captureFeature(id, fmt.Sprintf("r%d@example.org", i)))
		for j := 0; j+1 < len(c.headers); j += 2 {
			req.Header.Set(c.headers[j], c.headers[j+1])
		}
		if c.headers[0] == "Host" {
			req.Host = c.headers[1]
		}
		if r := do(t, req); r.Status != 200 {
			t.Fatalf("%s: capture answered %d %v", c.name, r.Status, r.Body)
		}
		e := emailOf(t, ts, id)
		if reason, _ := e["reason"].(string); e["state"] != "skipped" || !strings.Contains(reason, "--email-from-capture") {
			t.Errorf("%s: email %v, want skipped saying why", c.name, e)
		}
	}
	// The operator's own page, same origin.
	own := post(t, ts.URL+"/e/", captureFeature("local", "l@example.org"), "Content-Type", "text/plain",
		"Origin", ts.URL, "Sec-Fetch-Site", "same-origin")
	if own.Status != 200 {
		t.Fatal(own.Body)
	}
	if e := emailOf(t, ts, "local"); e["state"] != "sent" {
		t.Errorf("local capture: %v", e)
	}
	if msgs := mg.Messages(); len(msgs) != 1 || msgs[0].To != "l@example.org" {
		t.Errorf("messages %+v", msgs)
	}

	ts.stop()
	ts = restartServer(t, ts, mailEnv(mg, "HOGPIPE_EMAIL_FROM_CAPTURE", "true"))
	req := mustRequest(t, "POST", ts.URL+"/e/", captureFeature("allowed", "a@example.org"))
	req.Header.Set("Origin", "https://elsewhere.example")
	do(t, req)
	if e := emailOf(t, ts, "allowed"); e["state"] != "sent" {
		t.Errorf("with --email-from-capture: %v", e)
	}
}

// Past the per-domain budget, emails wait as deferred (retried when the
// hour frees a slot), not sent and not lost.
func TestEmailBudgetDefers(t *testing.T) {
	mg, ts := mailServer(t, "HOGPIPE_EMAIL_DOMAIN_SENDS_PER_HOUR", "2")
	for i := range 3 {
		post(t, ts.URL+"/api/webhooks/feature-used", featureBody(fmt.Sprintf("bd%d", i), fmt.Sprintf("u%d@example.org", i)))
	}
	states := map[string]int{}
	for i := range 3 {
		e := emailOf(t, ts, fmt.Sprintf("bd%d", i))
		if e["state"] == "queued" || e["state"] == "sending" {
			e = emailOf(t, ts, fmt.Sprintf("bd%d", i), "deferred")
		}
		states[e["state"].(string)]++
		if e["state"] == "deferred" {
			next, err := time.Parse(time.RFC3339Nano, e["next_attempt_at"].(string))
			if err != nil || time.Until(next) < 50*time.Minute || !strings.Contains(e["reason"].(string), "example.org") {
				t.Errorf("deferred email %v", e)
			}
		}
	}
	if states["sent"] != 2 || states["deferred"] != 1 || len(mg.Messages()) != 2 {
		t.Errorf("states %v, %d messages", states, len(mg.Messages()))
	}
}
