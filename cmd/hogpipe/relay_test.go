package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
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
	mg := mailguntest.New("key-123", "mg.example.com")
	defer mg.Close()
	ts := startServer(t, mailEnv(mg))
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
		if r.Status != 422 || r.Body["field"] != "state" {
			t.Errorf("replay %s: %d %v", st, r.Status, r.Body)
		}
	}
	if r := post(t, ts.URL+"/api/emails/replay?state=sent&force=true", ""); r.Status != 422 {
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
