package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/posthog"
)

const (
	testWebhookSecret = "shared-secret-0123456789abcdef"
	testSigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// TestHostileRequests sends requests an attacker or a broken client could
// send, each with the status it must get; after each one the store and
// training_data.jsonl must be exactly as before.
func TestHostileRequests(t *testing.T) {
	ts := startServer(t, map[string]string{
		"HOGPIPE_WEBHOOK_SECRET":         testWebhookSecret,
		"HOGPIPE_WEBHOOK_SIGNING_SECRET": testSigningSecret,
		"HOGPIPE_MAX_BODY_BYTES":         "65536",
	})
	auth := "Bearer " + testWebhookSecret
	gf := ts.URL + "/api/webhooks/generation-failed"
	ph := ts.URL + "/api/webhooks/posthog"
	cap := ts.URL + "/e/"
	tok := `"api_key":"phc_hogpipe_local",`

	// A good event first, so "unchanged" is checked against a non-empty state.
	if r := post(t, gf, gfBody("seed", "p"), "Authorization", auth); r.Status != 200 {
		t.Fatalf("seed: %v", r.Body)
	}
	ts.trainingLines(t)
	before, _ := os.ReadFile(ts.TrainingFile)
	beforeStats := fmt.Sprint(ts.stats(t))

	key, _ := posthog.ParseSigningSecret(testSigningSecret)
	signed := func(body string, at time.Time) []string {
		return []string{"webhook-id", "msg_1", "webhook-timestamp", strconv.FormatInt(at.Unix(), 10),
			"webhook-signature", key.Sign("msg_1", at.Unix(), []byte(body))}
	}
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	bigBatch := "[" + strings.TrimSuffix(strings.Repeat(`{"event":"x"},`, 1001), ",") + "]"
	gzBomb := gzipBody(`{` + tok + `"event":"x","properties":{"p":"` + strings.Repeat("A", 8<<20) + `"}}`)
	manyProps := `{"event":"x","properties":{` + strings.TrimSuffix(strings.Repeat(`"k":1,`, 1), ",")
	for i := range 1001 {
		manyProps += fmt.Sprintf(`,"p%d":1`, i)
	}
	manyProps += `}}`

	type req struct {
		name, method, url, body string
		headers                 []string
		status                  int
	}
	withAuth := func(h ...string) []string { return append([]string{"Authorization", auth}, h...) }
	tests := []req{
		// Authentication.
		{"no credentials", "POST", gf, gfBody("h1", "p"), nil, 401},
		{"wrong bearer", "POST", gf, gfBody("h2", "p"), []string{"Authorization", "Bearer nope-nope-nope-nope"}, 401},
		{"secret in the wrong scheme", "POST", gf, gfBody("h3", "p"), []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(testWebhookSecret))}, 401},
		{"secret prefix only", "POST", gf, gfBody("h4", "p"), []string{"Authorization", "Bearer " + testWebhookSecret[:10]}, 401},
		{"tampered signed body", "POST", gf, gfBody("h5", "p"), signed(gfBody("h5", "other"), time.Now()), 401},
		{"stale signature", "POST", gf, gfBody("h6", "p"), signed(gfBody("h6", "p"), time.Now().Add(-10*time.Minute)), 401},
		{"future signature", "POST", gf, gfBody("h7", "p"), signed(gfBody("h7", "p"), time.Now().Add(10*time.Minute)), 401},
		{"signature without id", "POST", gf, gfBody("h8", "p"), []string{"webhook-signature", "v1,AAAA", "webhook-timestamp", "1"}, 401},
		{"capture without token", "POST", cap, `{"event":"x"}`, nil, 401},
		{"capture with unknown token", "POST", cap, `{"api_key":"phc_evil","event":"x"}`, nil, 401},
		{"capture token of wrong type", "POST", cap, `{"api_key":["phc_hogpipe_local"],"event":"x"}`, nil, 422},
		// Malformed bodies.
		{"empty body", "POST", gf, ``, withAuth(), 400},
		{"truncated JSON", "POST", gf, `{"event":{"uuid":"h9","event":"generation_failed"`, withAuth(), 400},
		{"trailing garbage", "POST", gf, gfBody("h10", "p") + "xx", withAuth(), 400},
		{"invalid UTF-8", "POST", gf, "{\"event\":\"generation_failed\",\"properties\":{\"input_prompt\":\"\xff\xfe\"}}", withAuth(), 400},
		{"deep nesting", "POST", ph, deep, withAuth(), 400},
		{"NUL bytes", "POST", gf, "\x00\x00\x00", withAuth(), 400},
		{"JSON with comments", "POST", gf, `{/*x*/"event":"generation_failed"}`, withAuth(), 400},
		{"capture undecodable gzip", "POST", cap, "\x1f\x8b\x08\x00garbage", nil, 400},
		{"capture bad base64 form", "POST", cap, "data=%%%", []string{"Content-Type", "application/x-www-form-urlencoded"}, 400},
		// Too large.
		{"body over the limit", "POST", gf, `{"event":"generation_failed","properties":{"input_prompt":"` + strings.Repeat("x", 70000) + `"}}`, withAuth(), 413},
		{"gzip bomb", "POST", cap, gzBomb, nil, 413},
		{"oversized batch", "POST", ph, bigBatch, withAuth(), 413},
		{"oversized capture batch", "POST", cap, `{` + tok + `"batch":` + bigBatch + `}`, nil, 413},
		// Wrong types in every field.
		{"event is a number", "POST", ph, `{"event":1}`, withAuth(), 422},
		{"event is an array", "POST", ph, `{"event":["generation_failed"]}`, withAuth(), 422},
		{"event.event is an object", "POST", ph, `{"event":{"event":{}}}`, withAuth(), 422},
		{"uuid is a number", "POST", ph, `{"event":"x","uuid":12}`, withAuth(), 422},
		{"uuid too long", "POST", ph, `{"event":"x","uuid":"` + strings.Repeat("u", 300) + `"}`, withAuth(), 422},
		{"distinct_id is a bool", "POST", ph, `{"event":"x","distinct_id":true}`, withAuth(), 422},
		{"properties is a string", "POST", ph, `{"event":"x","properties":"{}"}`, withAuth(), 422},
		{"too many properties", "POST", ph, manyProps, withAuth(), 422},
		{"timestamp is a number", "POST", ph, `{"event":{"event":"x","timestamp":12}}`, withAuth(), 422},
		{"timestamp is not a date", "POST", ph, `{"event":{"event":"x","timestamp":"tomorrow"}}`, withAuth(), 422},
		{"person is a list", "POST", ph, `{"event":"x","person":[]}`, withAuth(), 422},
		{"person.properties is a string", "POST", ph, `{"event":"x","person":{"properties":"a@b.c"}}`, withAuth(), 422},
		{"input_prompt is a number", "POST", gf, `{"properties":{"input_prompt":5}}`, withAuth(), 422},
		{"input_prompt is null", "POST", gf, `{"properties":{"input_prompt":null}}`, withAuth(), 422},
		{"failure_reason is an object", "POST", gf, `{"properties":{"input_prompt":"p","failure_reason":{}}}`, withAuth(), 422},
		{"body is a string", "POST", ph, `"generation_failed"`, withAuth(), 422},
		{"body is null", "POST", ph, `null`, withAuth(), 422},
		{"array of numbers", "POST", ph, `[1,2]`, withAuth(), 422},
		{"capture $set is a string", "POST", cap, `{` + tok + `"event":"x","$set":"a"}`, nil, 422},
		{"capture offset negative", "POST", cap, `{` + tok + `"event":"x","offset":-1}`, nil, 422},
		{"capture batch is an object", "POST", cap, `{` + tok + `"batch":{}}`, nil, 422},
		{"capture sent_at not a date", "POST", cap, `{` + tok + `"batch":[{"event":"x"}],"sent_at":"soon"}`, nil, 422},
		// Wrong methods and paths.
		{"GET on a webhook", "GET", gf, ``, nil, 405},
		{"DELETE on capture", "DELETE", cap, ``, nil, 405},
		{"PATCH on stats", "PATCH", ts.URL + "/api/stats", ``, nil, 405},
		{"unknown API path", "GET", ts.URL + "/api/nope", ``, nil, 404},
		{"path traversal", "GET", ts.URL + "/assets/..%2F..%2F..%2Fgo.mod", ``, nil, 404},
	}
	if len(tests) < 40 {
		t.Fatalf("only %d hostile requests", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := mustRequest(t, tt.method, tt.url, tt.body)
			for i := 0; i+1 < len(tt.headers); i += 2 {
				req.Header.Set(tt.headers[i], tt.headers[i+1])
			}
			r := do(t, req)
			if r.Status != tt.status {
				t.Errorf("status %d, want %d: %v", r.Status, tt.status, r.Body)
			}
			if msg, _ := r.Body["error"].(string); tt.status >= 400 && msg == "" {
				t.Errorf("no error message: %v", r.Body)
			}
			if got := fmt.Sprint(ts.stats(t)); got != beforeStats {
				t.Errorf("store changed:\n%s\nwas\n%s", got, beforeStats)
			}
			if after, _ := os.ReadFile(ts.TrainingFile); !bytes.Equal(after, before) {
				t.Errorf("training file changed")
			}
		})
	}

	// Headers past the limit never reach a handler: Go's server answers 431.
	t.Run("huge headers", func(t *testing.T) {
		req := mustRequest(t, "POST", gf, gfBody("h11", "p"))
		req.Header.Set("X-Junk", strings.Repeat("j", 128<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
	// A valid signed delivery still works after all that.
	body := gfBody("after", "p")
	if r := post(t, gf, body, signed(body, time.Now())...); r.Status != 200 {
		t.Fatalf("valid signed delivery: %d %v", r.Status, r.Body)
	}
}

// TestExposedListenerNeedsAuth checks the safe defaults: a listener other
// machines can reach refuses to start without webhook authentication, and
// the read API wants the admin token from anywhere but this machine.
func TestExposedListenerNeedsAuth(t *testing.T) {
	err := run(t.Context(), []string{"hogpipe", "serve", "--addr", ":0", "--data-dir", t.TempDir()},
		func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "HOGPIPE_WEBHOOK_SECRET") {
		t.Fatalf("exposed without auth: %v", err)
	}

	ts := startServer(t, map[string]string{"HOGPIPE_ADMIN_TOKEN": "admin-token-0123456789"})
	// Through a tunnel the peer is loopback but the Host is public.
	// Through a reverse proxy on this machine the Host may be loopback too,
	// but the proxy says it forwarded the request.
	for _, h := range []struct {
		host, auth, forwarded string
		status                int
	}{
		{"", "", "", 200},
		{"abc.a.free.pinggy.link", "", "", 401},
		{"abc.a.free.pinggy.link", "Bearer wrong-token-0123456789", "", 401},
		{"abc.a.free.pinggy.link", "Bearer admin-token-0123456789", "", 200},
		{"", "", "X-Forwarded-For: 203.0.113.7", 401},
		{"", "", "Forwarded: for=203.0.113.7", 401},
		{"", "", "X-Real-Ip: 203.0.113.7", 401},
		{"", "", "Via: 1.1 proxy", 401},
		{"", "Bearer admin-token-0123456789", "X-Forwarded-For: 203.0.113.7", 200},
	} {
		req := mustRequest(t, "GET", ts.URL+"/api/stats", "")
		if h.host != "" {
			req.Host = h.host
		}
		if h.auth != "" {
			req.Header.Set("Authorization", h.auth)
		}
		if k, v, ok := strings.Cut(h.forwarded, ": "); ok {
			req.Header.Set(k, v)
		}
		if r := do(t, req); r.Status != h.status {
			t.Errorf("Host %q auth %q %s: %d, want %d", h.host, h.auth, h.forwarded, r.Status, h.status)
		}
	}
	// Unauthenticated webhooks are only taken from this machine.
	req := mustRequest(t, "POST", ts.URL+"/api/webhooks/generation-failed", gfBody("tunnel", "p"))
	req.Host = "abc.a.free.pinggy.link"
	if r := do(t, req); r.Status != 401 {
		t.Errorf("tunneled webhook without a secret: %d %v", r.Status, r.Body)
	}
	if r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("proxied", "p"), "X-Forwarded-For", "203.0.113.7"); r.Status != 401 {
		t.Errorf("proxied webhook without a secret: %d %v", r.Status, r.Body)
	}
	if r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("local", "p")); r.Status != 200 {
		t.Errorf("local webhook: %d %v", r.Status, r.Body)
	}
}

// TestRateLimitPerClient checks the per-client rate limit: 429 with
// Retry-After past the burst, nothing stored, one bucket per client, the
// client named by X-Forwarded-For only when a trusted proxy sent it, and
// local requests never limited.
func TestRateLimitPerClient(t *testing.T) {
	const secret = "rate-limit-secret-0123456789"
	env := map[string]string{"HOGPIPE_RATE_LIMIT": "0.01", "HOGPIPE_RATE_BURST": "2", "HOGPIPE_WEBHOOK_SECRET": secret}
	send := func(ts *testServer, id, xff string) response {
		return post(t, ts.URL+"/api/webhooks/generation-failed", gfBody(id, "p"), "Authorization", "Bearer "+secret, "X-Forwarded-For", xff)
	}

	trusted := map[string]string{"HOGPIPE_TRUSTED_PROXIES": "127.0.0.0/8, ::1"}
	for k, v := range env {
		trusted[k] = v
	}
	ts := startServer(t, trusted)
	for i, want := range []int{200, 200, 429} {
		r := send(ts, fmt.Sprintf("a-%d", i), "198.51.100.1")
		if r.Status != want {
			t.Fatalf("client A request %d: %d %v, want %d", i, r.Status, r.Body, want)
		}
		if want == 429 && (r.Header.Get("Retry-After") == "" || r.Body["code"] != "rate_limited") {
			t.Errorf("429 without Retry-After or code: %v %v", r.Header, r.Body)
		}
	}
	if r := get(t, ts.URL+"/api/events/a-2"); r.Status != 404 {
		t.Errorf("the refused event was stored: %d %v", r.Status, r.Body)
	}
	if r := send(ts, "b-0", "198.51.100.2"); r.Status != 200 {
		t.Errorf("client B shares client A's bucket: %d %v", r.Status, r.Body)
	}
	// Proxies append: what a client writes itself sits to the left.
	if r := send(ts, "a-spoof", "203.0.113.99, 198.51.100.1"); r.Status != 429 {
		t.Errorf("client A escaped its bucket by prepending an address: %d %v", r.Status, r.Body)
	}
	for i := range 5 {
		if r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody(fmt.Sprintf("local-%d", i), "p"), "Authorization", "Bearer "+secret); r.Status != 200 {
			t.Fatalf("local request %d limited: %d %v", i, r.Status, r.Body)
		}
	}

	// Without --trusted-proxies the header is the client's word: ignored.
	ts = startServer(t, env)
	for i, xff := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
		want := 200
		if i == 2 {
			want = 429
		}
		if r := send(ts, fmt.Sprintf("u-%d", i), xff); r.Status != want {
			t.Errorf("untrusted X-Forwarded-For %s: %d, want %d (one bucket for the peer)", xff, r.Status, want)
		}
	}
}
