package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/pgtest"
)

// piiBody is a generation_failed event in the original app's shape: the
// person rides inside the event's properties, and the distinct id is the
// user's email address (posthog-js identify(email)).
func piiBody(uuid, distinctID string) string {
	return fmt.Sprintf(`{"event":{"uuid":%q,"event":"generation_failed","distinct_id":%q,
		"properties":{"failure_reason":"timeout","input_prompt":"I am ada@example.com, call +44 7700 900123",
		"person":{"properties":{"email":"ada@example.com","phone":"0123","plan":"pro"}},"note":"card 4111 1111 1111 1111"},
		"timestamp":"2026-11-28T12:00:00.000Z"}}`, uuid, distinctID)
}

func lineByID(t *testing.T, lines []map[string]any, id string) map[string]any {
	t.Helper()
	for _, l := range lines {
		if l["id"] == id {
			return l
		}
	}
	t.Fatalf("no line %s in %v", id, lines)
	return nil
}

// TestTrainingFileHoldsNoPersonalData: with the defaults, an address in
// user_id becomes a stable pseudonym (across case, restarts and rebuilds),
// and personal data in the copied properties is redacted; nothing of the
// address reaches the file.
func TestTrainingFileHoldsNoPersonalData(t *testing.T) {
	ts := startServer(t, nil)
	for _, b := range []string{piiBody("p1", "Ada@Example.com"), piiBody("p2", "ada@example.com"), gfBody("p3", "hello")} {
		if r := post(t, ts.URL+"/api/webhooks/posthog", b); r.Status != 200 {
			t.Fatalf("post: %v", r.Body)
		}
	}
	lines := ts.trainingLines(t)
	raw, _ := os.ReadFile(ts.TrainingFile)
	for _, leak := range []string{"ada@", "Ada@", "7700", "4111"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("the training file holds %q:\n%s", leak, raw)
		}
	}
	p1, p2, p3 := lineByID(t, lines, "p1"), lineByID(t, lines, "p2"), lineByID(t, lines, "p3")
	pseud, _ := p1["user_id"].(string)
	if !strings.HasPrefix(pseud, "anon-") || len(pseud) != len("anon-")+32 || p2["user_id"] != pseud {
		t.Errorf("user_id %q and %q: want one anon- pseudonym for both", p1["user_id"], p2["user_id"])
	}
	if p3["user_id"] != "user-1" {
		t.Errorf("an id without personal data changed: %v", p3["user_id"])
	}
	person := p1["properties"].(map[string]any)["person"].(map[string]any)["properties"].(map[string]any)
	if person["email"] != "[EMAIL]" || person["phone"] != "[PHONE]" || person["plan"] != "pro" {
		t.Errorf("person properties: %v", person)
	}
	if p1["properties"].(map[string]any)["note"] != "card [CARD]" || fmt.Sprint(p1["redacted"]) != "[email card phone]" {
		t.Errorf("properties %v, redacted %v", p1["properties"], p1["redacted"])
	}
	st, err := os.Stat(filepath.Join(ts.DataDir, "pseudonym.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	// The event log keeps what arrived.
	if ev := get(t, ts.URL+"/api/events/p1").Body["event"].(map[string]any); ev["distinct_id"] != "Ada@Example.com" {
		t.Errorf("event log: %v", ev)
	}

	// Stable across restarts.
	ts.stop()
	ts = restartServer(t, ts, nil)
	post(t, ts.URL+"/api/webhooks/posthog", piiBody("p4", "ada@example.com"))
	if got := lineByID(t, ts.trainingLines(t), "p4")["user_id"]; got != pseud {
		t.Errorf("after restart user_id %v, want %v", got, pseud)
	}
	ts.stop()

	rebuild := func(args ...string) []map[string]any {
		t.Helper()
		var errb bytes.Buffer
		argv := append([]string{"hogpipe", "rebuild-training-file", "--data-dir", ts.DataDir, "--training-file", ts.TrainingFile}, args...)
		if err := run(context.Background(), argv, func(string) string { return "" }, io.Discard, &errb); err != nil {
			t.Fatalf("rebuild %v: %v %s", args, err, errb.String())
		}
		return readLines(t, ts.TrainingFile)
	}
	if got := lineByID(t, rebuild("--pseudonymize-user-id=false"), "p1")["user_id"]; got != "Ada@Example.com" {
		t.Errorf("rebuild without pseudonyms: %v", got)
	}
	if got := lineByID(t, rebuild(), "p1")["user_id"]; got != pseud {
		t.Errorf("rebuild with the kept key: %v, want %v", got, pseud)
	}
	other := lineByID(t, rebuild("--pseudonym-key", "another-key-of-enough-length"), "p1")["user_id"]
	if other == pseud || !strings.HasPrefix(other.(string), "anon-") {
		t.Errorf("another key gave %v (was %v)", other, pseud)
	}
	var errb bytes.Buffer
	err = run(context.Background(), []string{"hogpipe", "rebuild-training-file", "--data-dir", ts.DataDir, "--training-file", ts.TrainingFile,
		"--pseudonym-key", "short"}, func(string) string { return "" }, io.Discard, &errb)
	if err == nil || !strings.Contains(err.Error(), "pseudonym-key") {
		t.Errorf("a short key: %v", err)
	}
}

// TestPseudonymKeySharedByReplicas: PostgreSQL replicas, each with its own
// data directory, pseudonymize one user alike, because the key lives in
// the database they share.
func TestPseudonymKeySharedByReplicas(t *testing.T) {
	url := pgtest.URL(t)
	a := startServer(t, nil, "--database", url)
	b := startServer(t, nil, "--database", url)
	post(t, a.URL+"/api/webhooks/posthog", piiBody("r1", "ada@example.com"))
	post(t, b.URL+"/api/webhooks/posthog", piiBody("r2", "ada@example.com"))
	resp, err := http.Get(b.URL + "/api/training-data")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := parseLines(t, body)
	u1, u2 := lineByID(t, lines, "r1")["user_id"], lineByID(t, lines, "r2")["user_id"]
	if u1 != u2 || !strings.HasPrefix(fmt.Sprint(u1), "anon-") {
		t.Errorf("replicas pseudonymized one user as %v and %v", u1, u2)
	}
	for _, ts := range []*testServer{a, b} {
		if _, err := os.Stat(filepath.Join(ts.DataDir, "pseudonym.key")); err == nil {
			t.Errorf("a replica made a key file of its own in %s", ts.DataDir)
		}
	}
}
