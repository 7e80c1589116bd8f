package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "modernc.org/sqlite"
)

func gfBody(uuid, prompt string) string {
	return fmt.Sprintf(`{"event":{"uuid":%q,"event":"generation_failed","distinct_id":"user-1",
		"properties":{"failure_reason":"Timeout","input_prompt":%q,"$lib":"web","model":"m1"},
		"timestamp":"2026-11-28T12:00:00.000Z"},"person":{"properties":{"email":"u@example.com"}}}`, uuid, prompt)
}

func TestWebhookToTrainingFile(t *testing.T) {
	ts := startServer(t, nil)
	for i := range 3 {
		r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody(fmt.Sprintf("gf-%d", i), fmt.Sprintf("prompt %d", i)))
		if r.Status != 200 || r.Body["id"] != fmt.Sprintf("gf-%d", i) || r.Body["duplicate"] != false {
			t.Fatalf("post %d: %d %v", i, r.Status, r.Body)
		}
	}
	r := post(t, ts.URL+"/api/webhooks/feature-used", `{"event":"feature_used","uuid":"fu-1","person":{"properties":{"email":"a@b.c"}}}`)
	if r.Status != 200 {
		t.Fatalf("feature-used: %d %v", r.Status, r.Body)
	}
	r = post(t, ts.URL+"/api/webhooks/posthog", `[{"event":"generation_failed","uuid":"gf-3","properties":{"input_prompt":"p3"}},{"event":"$pageview","uuid":"pv"}]`)
	if r.Status != 200 || r.Body["count"] != float64(2) {
		t.Fatalf("posthog array: %d %v", r.Status, r.Body)
	}

	lines := ts.trainingLines(t)
	if len(lines) != 4 {
		t.Fatalf("want 4 training lines, got %d: %v", len(lines), lines)
	}
	first := lines[0]
	want := map[string]any{"id": "gf-0", "event": "generation_failed", "user_id": "user-1", "failure_reason": "timeout",
		"input_prompt": "prompt 0", "timestamp": "2026-11-28T12:00:00.000Z", "source": "webhook", "schema": float64(1)}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("line 1 %s = %v, want %v", k, first[k], v)
		}
	}
	if props, _ := first["properties"].(map[string]any); props["model"] != "m1" || props["$lib"] != nil || props["input_prompt"] != nil {
		t.Errorf("line 1 properties = %v, want only the event's own non-$ properties", first["properties"])
	}
	for i, l := range lines {
		if l["id"] != fmt.Sprintf("gf-%d", i) {
			t.Errorf("line %d has id %v: not in commit order", i+1, l["id"])
		}
	}
	st := ts.stats(t)
	byName := st["events_by_name"].(map[string]any)
	if st["events"] != float64(6) || byName["feature_used"] != float64(1) || byName["$pageview"] != float64(1) {
		t.Errorf("stats = %v", st)
	}
}

func TestSameUUIDConcurrentlyIsStoredOnce(t *testing.T) {
	ts := startServer(t, nil)
	var wg sync.WaitGroup
	results := make([]response, 5)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("same-uuid", "the prompt"))
		}()
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if r.Status != 200 || r.Body["id"] != "same-uuid" {
			t.Fatalf("got %d %v", r.Status, r.Body)
		}
		if r.Body["duplicate"] == false {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d responses said duplicate=false, want exactly 1", fresh)
	}
	if lines := ts.trainingLines(t); len(lines) != 1 {
		t.Errorf("want 1 line, got %d", len(lines))
	}
}

func TestDedupeKeysFromHeaders(t *testing.T) {
	ts := startServer(t, nil)
	body := `{"event":"generation_failed","properties":{"input_prompt":"no uuid here"}}`
	for _, h := range []string{"webhook-id", "Idempotency-Key"} {
		a := post(t, ts.URL+"/api/webhooks/generation-failed", body, h, "key-"+h)
		b := post(t, ts.URL+"/api/webhooks/generation-failed", body, h, "key-"+h)
		if a.Body["id"] != "key-"+h || a.Body["duplicate"] != false || b.Body["duplicate"] != true {
			t.Errorf("%s: first %v, second %v", h, a.Body, b.Body)
		}
	}
	// Neither: every delivery is new, as the README warns.
	a := post(t, ts.URL+"/api/webhooks/generation-failed", body)
	b := post(t, ts.URL+"/api/webhooks/generation-failed", body)
	if a.Body["id"] == b.Body["id"] || b.Body["duplicate"] != false {
		t.Errorf("without keys: %v then %v", a.Body, b.Body)
	}
	if n := len(ts.trainingLines(t)); n != 4 {
		t.Errorf("want 4 lines, got %d", n)
	}
}

// TestBadRequestsStoreNothing sends each kind of bad request and checks
// the status, the JSON error and that neither store nor file changed.
func TestBadRequestsStoreNothing(t *testing.T) {
	ts := startServer(t, nil, "--max-body-bytes", "2048")
	post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("baseline", "p"))
	ts.trainingLines(t)
	before, _ := os.ReadFile(ts.TrainingFile)
	beforeStats := fmt.Sprint(ts.stats(t))

	gf := ts.URL + "/api/webhooks/generation-failed"
	tests := []struct {
		name, method, url, body string
		status                  int
		code, inError           string
	}{
		{"malformed JSON", "POST", gf, `{"event":{"uuid":"x1"`, 400, "malformed", "unexpected end"},
		{"not JSON at all", "POST", gf, `event=generation_failed`, 400, "malformed", "malformed JSON"},
		{"invalid UTF-8", "POST", gf, "{\"event\":\"generation_failed\",\"properties\":{\"input_prompt\":\"\xc3\x28\"}}", 400, "malformed", "UTF-8"},
		{"body over the limit", "POST", gf, `{"event":"generation_failed","uuid":"big","properties":{"input_prompt":"` + strings.Repeat("a", 4096) + `"}}`, 413, "too_large", "2048"},
		{"no input_prompt", "POST", gf, `{"event":{"uuid":"x2","event":"generation_failed","properties":{}}}`, 422, "invalid", "event.properties.input_prompt"},
		{"no event name", "POST", ts.URL + "/api/webhooks/posthog", `{"uuid":"x3","properties":{}}`, 422, "invalid", "event"},
		{"wrong event for endpoint", "POST", gf, `{"event":"feature_used","uuid":"x4"}`, 422, "invalid", "/api/webhooks/posthog"},
		{"one bad event in an array", "POST", ts.URL + "/api/webhooks/posthog", `[{"event":"ok","uuid":"x5"},{"event":"generation_failed","uuid":"x6"}]`, 422, "invalid", "[1]"},
		{"unauthenticated and not JSON (a cross-site form could send it)", "POST", gf, gfBody("x7", "p"), 415, "unsupported_media_type", "application/json"},
		{"wrong method", "GET", gf, "", 405, "method_not_allowed", "POST"},
		{"PUT", "PUT", gf, `{}`, 405, "method_not_allowed", "POST"},
		{"unknown path", "POST", ts.URL + "/api/webhooks/nope", `{}`, 404, "not_found", "/api/webhooks/nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, tt.method, tt.url, tt.body)
			if tt.code != "unsupported_media_type" {
				req.Header.Set("Content-Type", "application/json") // as curl -H or a script sends
			}
			r := do(t, req)
			if r.Status != tt.status {
				t.Errorf("status %d, want %d (%v)", r.Status, tt.status, r.Body)
			}
			if r.Body["code"] != tt.code {
				t.Errorf("code %v, want %s", r.Body["code"], tt.code)
			}
			if msg, _ := r.Body["error"].(string); !strings.Contains(msg, tt.inError) {
				t.Errorf("error %q does not mention %q", msg, tt.inError)
			}
			if got := fmt.Sprint(ts.stats(t)); got != beforeStats {
				t.Errorf("store changed: %s, was %s", got, beforeStats)
			}
			if after, _ := os.ReadFile(ts.TrainingFile); !bytes.Equal(after, before) {
				t.Errorf("training file changed")
			}
		})
	}
}

// TestLockedStoreAnswers503 holds the database's write lock from another
// connection, as a long-running tool might: ingest must answer 503 with
// Retry-After, store nothing, and work again once the lock goes.
func TestLockedStoreAnswers503(t *testing.T) {
	ts := startServer(t, nil)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(ts.DataDir, "hogpipe.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("locked-1", "p"))
	if r.Status != 503 || r.Header.Get("Retry-After") == "" || r.Body["code"] != "unavailable" {
		t.Fatalf("while locked: %d %v %v", r.Status, r.Header, r.Body)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	r = post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("locked-1", "p"))
	if r.Status != 200 || r.Body["duplicate"] != false {
		t.Fatalf("after the lock: %d %v (a 503'd event must not have been stored)", r.Status, r.Body)
	}
}

func TestExportFormats(t *testing.T) {
	ts := startServer(t, nil)
	post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("e1", "first"))
	post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("e2", "second"))
	ts.trainingLines(t)
	fileBytes, _ := os.ReadFile(ts.TrainingFile)

	var out, errb bytes.Buffer
	args := []string{"hogpipe", "export", "--data-dir", ts.DataDir}
	if err := run(context.Background(), args, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("export: %v %s", err, errb.String())
	}
	if !bytes.Equal(out.Bytes(), fileBytes) {
		t.Errorf("v1 export differs from the training file:\n%s\nvs\n%s", out.String(), fileBytes)
	}

	dst := filepath.Join(t.TempDir(), "orig.jsonl")
	if err := run(context.Background(), append(args, "--format", "original", "-o", dst), func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("export original: %v %s", err, errb.String())
	}
	got, _ := os.ReadFile(dst)
	want := `{"timestamp":"2026-11-28T12:00:00.000Z","user_id":"user-1","failure_reason":"timeout","input_prompt":"first"}` + "\n" +
		`{"timestamp":"2026-11-28T12:00:00.000Z","user_id":"user-1","failure_reason":"timeout","input_prompt":"second"}` + "\n"
	if string(got) != want {
		t.Errorf("original export:\n%s\nwant\n%s", got, want)
	}

	err := run(context.Background(), append(args, "--format", "csv"), func(string) string { return "" }, &out, &errb)
	if err == nil || exitCode(err) != exitUsage {
		t.Errorf("unknown format: err %v", err)
	}
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
