package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

// contractFile is the web app's description of the API answers it reads
// (web/src/api/contract.ts writes it; web/src/api/contract.test.ts proves
// the app's TypeScript types say the same).
const contractFile = "../../web/src/api/contract.json"

// apiContract is contract.json: per type, its fields and their kinds; per
// request, the type of its answer; and the type of every error answer.
type apiContract struct {
	Types   map[string]map[string]string `json:"types"`
	Answers map[string]string            `json:"answers"`
	Error   string                       `json:"error"`
}

// contractCheck checks answers against the contract and remembers what it
// saw, so that the test can insist every field was seen in a real answer
// at least once (a field the test never makes the server send is checked
// by nothing).
type contractCheck struct {
	c        apiContract
	seen     map[string]bool // "Type.field"
	answered map[string]bool // "GET /api/stats", and "error"
}

func loadContract(t *testing.T) *contractCheck {
	t.Helper()
	b, err := os.ReadFile(contractFile)
	if err != nil {
		t.Fatalf("the web app's API contract: %v", err)
	}
	cc := &contractCheck{seen: map[string]bool{}, answered: map[string]bool{}}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cc.c); err != nil {
		t.Fatalf("%s: %v", contractFile, err)
	}
	if len(cc.c.Types) == 0 || len(cc.c.Answers) == 0 || cc.c.Error == "" {
		t.Fatalf("%s: no types, answers or error type", contractFile)
	}
	return cc
}

// check returns what is wrong with v as a value of kind (see contract.ts
// for the kinds), each problem naming its JSON path.
func (cc *contractCheck) check(path, kind string, v any) []string {
	bad := func(want string) []string {
		b, _ := json.Marshal(v)
		return []string{fmt.Sprintf("%s: want %s, got %s", path, want, b)}
	}
	switch {
	case kind == "string", kind == "number", kind == "boolean", kind == "object":
		ok := false
		switch v.(type) {
		case string:
			ok = kind == "string"
		case float64:
			ok = kind == "number"
		case bool:
			ok = kind == "boolean"
		case map[string]any:
			ok = kind == "object"
		}
		if !ok {
			return bad(kind)
		}
		return nil
	case strings.HasPrefix(kind, "'"):
		s, ok := v.(string)
		if !ok || !slices.Contains(strings.Split(kind, "|"), "'"+s+"'") {
			return bad("one of " + kind)
		}
		return nil
	case strings.HasSuffix(kind, "[]"):
		a, ok := v.([]any)
		if !ok {
			return bad("an array")
		}
		var probs []string
		for i, e := range a {
			probs = append(probs, cc.check(fmt.Sprintf("%s[%d]", path, i), strings.TrimSuffix(kind, "[]"), e)...)
		}
		return probs
	case strings.HasPrefix(kind, "map<") && strings.HasSuffix(kind, ">"):
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		var probs []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			probs = append(probs, cc.check(path+"."+k, kind[4:len(kind)-1], m[k])...)
		}
		return probs
	}
	fields, ok := cc.c.Types[kind]
	if !ok {
		return []string{fmt.Sprintf("%s: the contract names an unknown kind %q", path, kind)}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return bad("a " + kind + " object")
	}
	var probs []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fk, optional := k, false
		if _, listed := fields[k]; !listed {
			fk, optional = k+"?", true
		}
		fkind, listed := fields[fk]
		if !listed {
			probs = append(probs, fmt.Sprintf("%s.%s: the server sends a field that %s in web/src/api/contract.ts does not list (add it there and to types.ts)", path, k, kind))
			continue
		}
		if m[k] == nil {
			if optional {
				probs = append(probs, fmt.Sprintf("%s.%s: null; an optional field must be absent instead", path, k))
			} else {
				probs = append(probs, fmt.Sprintf("%s.%s: null; want %s", path, k, fkind))
			}
			continue
		}
		cc.seen[kind+"."+k] = true
		probs = append(probs, cc.check(path+"."+k, fkind, m[k])...)
	}
	for _, fk := range slices.Sorted(maps.Keys(fields)) {
		if _, has := m[fk]; !has && !strings.HasSuffix(fk, "?") {
			probs = append(probs, fmt.Sprintf("%s.%s: missing; %s in the contract requires it", path, fk, kind))
		}
	}
	return probs
}

// answer sends request's method to the server at target (path and
// query), checks the status and the answer against the type the contract
// gives request (its key in "answers") and returns the decoded answer.
func (cc *contractCheck) answer(t *testing.T, ts *testServer, request, target string, wantStatus int) map[string]any {
	t.Helper()
	return cc.ask(t, ts, request, target, func(st int) bool { return st == wantStatus })
}

// refusal is answer for a request the server refuses: any 4xx (which one
// is the handler's business, not the contract's), with the error type.
func (cc *contractCheck) refusal(t *testing.T, ts *testServer, request, target string) {
	t.Helper()
	cc.ask(t, ts, request, target, func(st int) bool { return st >= 400 && st < 500 })
}

func (cc *contractCheck) ask(t *testing.T, ts *testServer, request, target string, wantStatus func(int) bool) map[string]any {
	t.Helper()
	method, _, _ := strings.Cut(request, " ")
	req, err := http.NewRequest(method, ts.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if method == "POST" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	if !wantStatus(resp.StatusCode) {
		t.Fatalf("%s %s: unexpected status %d: %s", method, target, resp.StatusCode, b)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, target, resp.Header.Get("Content-Type"))
	}
	kind, key := cc.c.Answers[request], request
	if resp.StatusCode >= 400 {
		kind, key = cc.c.Error, "error"
	}
	if kind == "" {
		t.Fatalf("%s: the contract has no answer type for it", request)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: not JSON: %v: %s", method, target, err, b)
	}
	cc.answered[key] = true
	for _, p := range cc.check(request, kind, v) {
		t.Error(p)
	}
	m, _ := v.(map[string]any)
	return m
}

// covered fails for every request and field of the contract that no real
// answer of the test exercised.
func (cc *contractCheck) covered(t *testing.T) {
	t.Helper()
	for _, req := range slices.Sorted(maps.Keys(cc.c.Answers)) {
		if !cc.answered[req] {
			t.Errorf("%s: in the contract but never asked by this test", req)
		}
	}
	if !cc.answered["error"] {
		t.Errorf("no error answer checked")
	}
	for _, typ := range slices.Sorted(maps.Keys(cc.c.Types)) {
		for _, f := range slices.Sorted(maps.Keys(cc.c.Types[typ])) {
			if !cc.seen[typ+"."+strings.TrimSuffix(f, "?")] {
				t.Errorf("%s.%s: in the contract but in no answer this test got; make the test produce it (or drop it from the contract if the server never sends it)", typ, f)
			}
		}
	}
}

// TestWebAPIContract checks the answers of a real hogpipe, empty and then
// holding data for every field, against the web app's API contract: a
// field the server adds, renames, drops, or sends as another kind or as
// null fails here, and contract.test.ts fails until the app's types say the
// same as the contract.
func TestWebAPIContract(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, db map[string]string) {
		cc := loadContract(t)
		mg := newMailgun(t)
		// A long backoff keeps an email that failed once in "retrying"
		// with its next attempt time, for as long as the test looks.
		ts := startServer(t, feedbackEnv(mg, db, "HOGPIPE_EMAIL_BACKOFF", "1h"))

		lists := func() {
			cc.answer(t, ts, "GET /api/config", "/api/config", 200)
			cc.answer(t, ts, "GET /api/stats", "/api/stats", 200)
			cc.answer(t, ts, "GET /api/events", "/api/events?limit=20", 200)
			cc.answer(t, ts, "GET /api/events-per-minute", "/api/events-per-minute?minutes=30", 200)
			cc.answer(t, ts, "GET /api/training-stats", "/api/training-stats?top=5", 200)
			cc.answer(t, ts, "GET /api/emails", "/api/emails?limit=20", 200)
			cc.answer(t, ts, "GET /api/suppressions", "/api/suppressions?limit=20", 200)
		}
		// Empty answers first: an empty list must be [] and an empty count
		// {}, not null.
		lists()
		cc.answer(t, ts, "POST /api/emails/replay", "/api/emails/replay?state=failed", 200)
		cc.refusal(t, ts, "GET /api/events/{id}", "/api/events/no-such-event")
		cc.refusal(t, ts, "GET /api/emails", "/api/emails?state=nonsense")
		cc.refusal(t, ts, "GET /api/events", "/api/events?limit=0")

		// A training example, with the person's properties on the event.
		if r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("c-gf", "draw a cat")); r.Status != 200 {
			t.Fatalf("generation_failed: %v", r)
		}
		// An email sent, then delivered, opened, clicked and briefly
		// deferred by the receiving server: message id, subject, opens,
		// clicks and a history with details.
		if r := post(t, ts.URL+"/api/webhooks/feature-used", featureBody("c-bob", "bob@example.com")); r.Status != 200 {
			t.Fatalf("feature_used: %v", r)
		}
		bob := emailOf(t, ts, "c-bob", "sent")
		for _, ev := range []mailguntest.Event{
			{Event: "delivered", Recipient: "bob@example.com", EventID: "c-bob"},
			{Event: "failed", Severity: "temporary", Reason: "greylisted", Recipient: "bob@example.com", EventID: "c-bob"},
			{Event: "opened", Recipient: "bob@example.com", EventID: "c-bob"},
			{Event: "clicked", Recipient: "bob@example.com", EventID: "c-bob"},
		} {
			if st, body := webhook(t, ts, mailguntest.Sign(testSigningKey, time.Now(), ev)); st != 200 {
				t.Fatalf("mailgun %s: %d %s", ev.Event, st, body)
			}
		}
		// A suppression with a detail, and an email it stops (a reason).
		if r := post(t, ts.URL+"/api/suppressions", `{"address":"carol@example.com","detail":"asked by phone"}`); r.Status != 200 {
			t.Fatalf("suppress: %v", r)
		}
		if r := post(t, ts.URL+"/api/webhooks/feature-used", featureBody("c-carol", "carol@example.com")); r.Status != 200 {
			t.Fatalf("feature_used: %v", r)
		}
		emailOf(t, ts, "c-carol", "suppressed")
		// An email Mailgun could not take for now: last error, next attempt.
		mg.Always(&mailguntest.Response{Status: 503, Message: "try later"})
		if r := post(t, ts.URL+"/api/webhooks/feature-used", featureBody("c-dan", "dan@example.com")); r.Status != 200 {
			t.Fatalf("feature_used: %v", r)
		}
		emailOf(t, ts, "c-dan", "retrying")
		mg.Always(nil)
		proctest.Eventually(t, "bob's opens and clicks recorded", 15*time.Second, func() error {
			if e := emailByID(t, ts, bob["id"]); e["clicks"] != float64(1) {
				return fmt.Errorf("bob: %v", e)
			}
			return nil
		})

		lists()
		events := cc.answer(t, ts, "GET /api/events", "/api/events?limit=50", 200)["events"].([]any)
		if len(events) != 4 {
			t.Fatalf("want 4 events, got %d", len(events))
		}
		for _, e := range events {
			cc.answer(t, ts, "GET /api/events/{id}", "/api/events/"+e.(map[string]any)["id"].(string), 200)
		}
		emails := cc.answer(t, ts, "GET /api/emails", "/api/emails?limit=50", 200)["emails"].([]any)
		if len(emails) != 3 {
			t.Fatalf("want 3 emails, got %d", len(emails))
		}
		for _, e := range emails {
			cc.answer(t, ts, "GET /api/emails/{id}", fmt.Sprintf("/api/emails/%v", e.(map[string]any)["id"]), 200)
		}
		cc.answer(t, ts, "POST /api/emails/replay", "/api/emails/replay?state=failed", 200)
		cc.covered(t)
	})
}
