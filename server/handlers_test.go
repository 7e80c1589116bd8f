package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/mailgun"
	"github.com/hogpipe/hogpipe/posthog"
	"github.com/hogpipe/hogpipe/unsubscribe"
)

// The handler tests run each route family through the whole Handler
// (routing, admission, auth, decoding, error mapping) over httptest with a
// recording fake store: no process, no database. Each case says the status,
// the JSON error code (and field) the client gets, and which store writes
// the request made: a refused request must have made none.

const (
	hookSecret  = "hook-secret-0123456789"
	adminToken  = "admin-token-0123456789"
	mgKey       = "mailgun-signing-key"
	unsubSecret = "unsubscribe-secret-0123456789"
	capToken    = "phc_test"
)

var signingKey = func() posthog.SigningKey {
	k, err := posthog.ParseSigningSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		panic(err)
	}
	return k
}()

// hcase is one request and what must come of it.
type hcase struct {
	name         string
	method, path string
	body         string
	rawBody      []byte            // instead of body, for binary payloads
	hdr          map[string]string // request headers
	remote       bool              // from the internet, not this machine
	cfg          func(*Config)     // adjusts the server's configuration
	setup        func(*fakeStore, *Server)

	status int
	code   string   // the JSON error code; "" for a success
	field  string   // the error's field, when one is at fault
	writes []string // the store writes the request made (nil: none)
	check  func(t *testing.T, w *httptest.ResponseRecorder, st *fakeStore)
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func hdrs(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func runCases(t *testing.T, cases []hcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &fakeStore{}
			cfg := Config{CaptureTokens: []string{capToken}, Security: Security{AdminToken: adminToken}}
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			srv := New(cfg, Deps{Store: st, Log: slog.New(slog.DiscardHandler)})
			if c.setup != nil {
				c.setup(st, srv)
			}
			var body []byte
			if c.rawBody != nil {
				body = c.rawBody
			} else {
				body = []byte(c.body)
			}
			req := httptest.NewRequest(c.method, c.path, bytes.NewReader(body))
			req.RemoteAddr, req.Host = "127.0.0.1:40000", "127.0.0.1:3000"
			if c.remote {
				req.RemoteAddr, req.Host = "203.0.113.9:40000", "hogpipe.example.com"
			}
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, req)

			if w.Code != c.status {
				t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, w.Code, c.status, w.Body.String())
			}
			if c.code != "" {
				checkErrorBody(t, w, c.code, c.field)
			}
			if w.Code >= 400 && w.Header().Get("Content-Type") == "application/json" {
				var b errorBody
				if json.Unmarshal(w.Body.Bytes(), &b) == nil && (!slices.Contains(hogpipe.Codes(), b.Code) || statusOf(b.Code) != w.Code) {
					t.Errorf("answered %d with code %q, not a constant of error.go with that status", w.Code, b.Code)
				}
			}
			if got := st.writes(); !slices.Equal(got, c.writes) {
				t.Errorf("store writes %v, want %v", got, c.writes)
			}
			if c.check != nil {
				c.check(t, w, st)
			}
		})
	}
}

// checkErrorBody: every refusal is JSON with status "error", the code and
// a message; a 503 says when to come back.
func checkErrorBody(t *testing.T, w *httptest.ResponseRecorder, code, field string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json; body %s", ct, w.Body.String())
	}
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body is not JSON: %v: %s", err, w.Body.String())
	}
	if b.Status != "error" || b.Code != code || b.Error == "" {
		t.Errorf("error body %+v, want status error, code %q and a message", b, code)
	}
	if !slices.Contains(hogpipe.Codes(), b.Code) || statusOf(b.Code) != w.Code {
		t.Errorf("answered %d with code %q: every code is a constant of error.go, with its one status (statusOf)", w.Code, b.Code)
	}
	if b.Field != field {
		t.Errorf("error field %q, want %q (%s)", b.Field, field, b.Error)
	}
	if w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
}

func withSecret(c *Config)   { c.Security.WebhookSecret = hookSecret }
func withSigning(c *Config)  { c.Security.SigningKey = signingKey }
func withInsecure(c *Config) { c.Security.Insecure = true }

func unavailable(st *fakeStore, _ *Server) {
	st.err = hogpipe.Errorf(hogpipe.EUnavailable, "database is busy")
}

// signed returns the Standard Webhooks headers for body, signed at.
func signed(body string, at time.Time) map[string]string {
	return hdrs("Content-Type", "application/json", "webhook-id", "msg_1",
		"webhook-timestamp", strconv.FormatInt(at.Unix(), 10),
		"webhook-signature", signingKey.Sign("msg_1", at.Unix(), []byte(body)))
}

func TestWebhookHandlers(t *testing.T) {
	const ev = `{"event":{"event":"feature_used","uuid":"0b6c5f2e-0000-4000-8000-000000000001","distinct_id":"u1","properties":{}}}`
	const hook = "/api/webhooks/posthog"
	bearer := hdrs("Content-Type", "application/json", "Authorization", "Bearer "+hookSecret)
	now := time.Now()
	runCases(t, []hcase{
		{name: "local, no auth configured", method: "POST", path: hook, body: ev, hdr: jsonCT,
			status: 200, writes: []string{"Ingest"}},
		{name: "local, form content type (a cross-site form could send it)", method: "POST", path: hook, body: ev,
			hdr: hdrs("Content-Type", "text/plain"), status: 415, code: hogpipe.EUnsupportedMedia},
		{name: "remote, no auth configured", method: "POST", path: hook, body: ev, hdr: jsonCT, remote: true,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "local but cross-site, no auth configured", method: "POST", path: hook, body: ev,
			hdr:    hdrs("Content-Type", "application/json", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"),
			status: 401, code: hogpipe.EUnauthorized},
		{name: "remote, --insecure", method: "POST", path: hook, body: ev, hdr: jsonCT, remote: true, cfg: withInsecure,
			status: 200, writes: []string{"Ingest"}},
		{name: "secret as bearer", method: "POST", path: hook, body: ev, hdr: bearer, remote: true, cfg: withSecret,
			status: 200, writes: []string{"Ingest"}},
		{name: "secret in X-Hogpipe-Secret", method: "POST", path: hook, body: ev, remote: true, cfg: withSecret,
			hdr: hdrs("Content-Type", "application/json", "X-Hogpipe-Secret", hookSecret), status: 200, writes: []string{"Ingest"}},
		{name: "wrong secret", method: "POST", path: hook, body: ev, remote: true, cfg: withSecret,
			hdr: hdrs("Content-Type", "application/json", "Authorization", "Bearer nope"), status: 401, code: hogpipe.EUnauthorized},
		{name: "secret configured, none sent, even locally", method: "POST", path: hook, body: ev, hdr: jsonCT, cfg: withSecret,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "valid signature", method: "POST", path: hook, body: ev, hdr: signed(ev, now), remote: true, cfg: withSigning,
			status: 200, writes: []string{"Ingest"}},
		{name: "signature over another body", method: "POST", path: hook, body: ev, hdr: signed(ev+" ", now), remote: true, cfg: withSigning,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "stale signature", method: "POST", path: hook, body: ev, hdr: signed(ev, now.Add(-time.Hour)), remote: true, cfg: withSigning,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "signing key configured, no signature", method: "POST", path: hook, body: ev, hdr: jsonCT, remote: true, cfg: withSigning,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "signing key and secret: the secret alone passes", method: "POST", path: hook, body: ev, hdr: bearer, remote: true,
			cfg: func(c *Config) { withSigning(c); withSecret(c) }, status: 200, writes: []string{"Ingest"}},
		{name: "signing key and secret: a bad signature does not fall back", method: "POST", path: hook, body: ev, remote: true,
			hdr: func() map[string]string { h := signed("other", now); h["Authorization"] = "Bearer nope"; return h }(),
			cfg: func(c *Config) { withSigning(c); withSecret(c) }, status: 401, code: hogpipe.EUnauthorized},
		{name: "malformed JSON", method: "POST", path: hook, body: `{"event":`, hdr: jsonCT,
			status: 400, code: hogpipe.EMalformed},
		{name: "empty array", method: "POST", path: hook, body: `[]`, hdr: jsonCT,
			status: 422, code: hogpipe.EInvalid, field: "[]"},
		{name: "wrong event for the endpoint", method: "POST", path: "/api/webhooks/generation-failed", body: ev, hdr: jsonCT,
			status: 422, code: hogpipe.EInvalid, field: "event.event"},
		{name: "body over the limit", method: "POST", path: hook, body: `[` + strings.Repeat(`{"event":"a"},`, 200) + `{"event":"a"}]`, hdr: jsonCT,
			cfg: func(c *Config) { c.MaxBodyBytes = 1024 }, status: 413, code: hogpipe.ETooLarge},
		{name: "too many events", method: "POST", path: hook, body: `[{"event":"a"},{"event":"b"},{"event":"c"}]`, hdr: jsonCT,
			cfg: func(c *Config) { c.MaxEvents = 2 }, status: 413, code: hogpipe.ETooLarge},
		{name: "store unavailable", method: "POST", path: hook, body: ev, hdr: jsonCT, setup: unavailable,
			status: 503, code: hogpipe.EUnavailable, writes: []string{"Ingest"}},
		{name: "GET is not allowed", method: "GET", path: hook, status: 405, code: "method_not_allowed",
			check: func(t *testing.T, w *httptest.ResponseRecorder, _ *fakeStore) {
				if a := w.Header().Get("Allow"); a != "POST" {
					t.Errorf("Allow %q, want POST", a)
				}
			}},
		{name: "the stored event is the one sent", method: "POST", path: "/api/webhooks/feature-used", body: ev, hdr: jsonCT,
			status: 200, writes: []string{"Ingest"},
			check: func(t *testing.T, w *httptest.ResponseRecorder, st *fakeStore) {
				if len(st.ingested) != 1 || st.ingested[0].Name != "feature_used" || st.ingested[0].DistinctID != "u1" {
					t.Errorf("stored %+v", st.ingested)
				}
				var r webhookResponse
				if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Status != "ok" || r.ID != "0b6c5f2e-0000-4000-8000-000000000001" {
					t.Errorf("answer %s (%v)", w.Body.String(), err)
				}
			}},
	})
}

func gzipped(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestCaptureHandlers(t *testing.T) {
	const batch = `{"api_key":"` + capToken + `","batch":[{"event":"a","distinct_id":"d"},{"event":"b","distinct_id":"d"}]}`
	const one = `{"api_key":"` + capToken + `","event":"a","distinct_id":"d"}`
	b64 := base64.StdEncoding.EncodeToString([]byte(batch))
	ingested := func(n int) func(t *testing.T, w *httptest.ResponseRecorder, st *fakeStore) {
		return func(t *testing.T, w *httptest.ResponseRecorder, st *fakeStore) {
			if len(st.ingested) != n {
				t.Errorf("%d events stored, want %d", len(st.ingested), n)
			}
			var r captureResponse
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.Status != "Ok" || len(r.Events) != n {
				t.Errorf("answer %s (%v), want Ok with %d events", w.Body.String(), err, n)
			}
		}
	}
	runCases(t, []hcase{
		{name: "batch to /e/", method: "POST", path: "/e/", body: batch, hdr: jsonCT, remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(2)},
		{name: "one event to /capture", method: "POST", path: "/capture", body: one, hdr: jsonCT, remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(1)},
		{name: "text/plain is fine for capture", method: "POST", path: "/i/v0/e/", body: batch, hdr: hdrs("Content-Type", "text/plain"), remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(2)},
		{name: "gzip sniffed by its magic, without the query parameter", method: "POST", path: "/batch/", rawBody: gzipped(batch), remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(2)},
		{name: "gzip-js named in the query but sent as a base64 form", method: "POST", path: "/e/?compression=gzip-js",
			body: "data=" + url.QueryEscape(b64), hdr: hdrs("Content-Type", "application/x-www-form-urlencoded"), remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(2)},
		{name: "bare base64", method: "POST", path: "/e/", body: b64, remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(2)},
		{name: "base64 of gzip", method: "POST", path: "/e/", body: "data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(gzipped(batch))), remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(2)},
		{name: "neither JSON, gzip nor base64", method: "POST", path: "/e/", body: "hello, world!", remote: true,
			status: 400, code: hogpipe.EMalformed},
		{name: "broken gzip", method: "POST", path: "/e/", rawBody: append(gzipped(batch)[:12:12], 0, 1, 2), remote: true,
			status: 400, code: hogpipe.EMalformed},
		{name: "form without data", method: "POST", path: "/e/", body: "other=1", hdr: hdrs("Content-Type", "application/x-www-form-urlencoded"), remote: true,
			status: 422, code: hogpipe.EInvalid, field: "data"},
		{name: "invalid UTF-8", method: "POST", path: "/e/", rawBody: []byte(`{"api_key":"` + capToken + `","event":"a\xff","distinct_id":"d"}`), remote: true,
			status: 400, code: hogpipe.EMalformed},
		{name: "unknown token", method: "POST", path: "/e/", body: strings.Replace(batch, capToken, "phc_other", 1), hdr: jsonCT, remote: true,
			status: 401, code: hogpipe.EUnauthorized, field: "api_key"},
		{name: "no token", method: "POST", path: "/e/", body: `[{"event":"a","distinct_id":"d"}]`, hdr: jsonCT, remote: true,
			status: 401, code: hogpipe.EUnauthorized, field: "api_key"},
		{name: "token in the event's properties", method: "POST", path: "/e/", body: `[{"event":"a","distinct_id":"d","properties":{"token":"` + capToken + `"}}]`, hdr: jsonCT, remote: true,
			status: 200, writes: []string{"Ingest"}, check: ingested(1)},
		{name: "no usable event", method: "POST", path: "/e/", body: `{"api_key":"` + capToken + `","batch":[{"distinct_id":"d"}]}`, hdr: jsonCT, remote: true,
			status: 422, code: hogpipe.EInvalid, field: "event"},
		{name: "one usable event of two: stored, the other listed", method: "POST", path: "/e/",
			body: `{"api_key":"` + capToken + `","batch":[{"event":"a","distinct_id":"d"},{"distinct_id":"d"}]}`, hdr: jsonCT, remote: true,
			status: 200, writes: []string{"Ingest"}, check: func(t *testing.T, w *httptest.ResponseRecorder, st *fakeStore) {
				var r captureResponse
				json.Unmarshal(w.Body.Bytes(), &r)
				if len(st.ingested) != 1 || len(r.Rejected) != 1 || r.Rejected[0].Index != 1 {
					t.Errorf("stored %d, answer %s; want one stored and batch[1] rejected", len(st.ingested), w.Body.String())
				}
			}},
		{name: "empty body", method: "POST", path: "/e/", hdr: jsonCT, remote: true, status: 400, code: hogpipe.EMalformed},
		{name: "batch not an array", method: "POST", path: "/e/", body: `{"api_key":"` + capToken + `","batch":{}}`, hdr: jsonCT, remote: true,
			status: 422, code: hogpipe.EInvalid, field: "batch"},
		{name: "too many events", method: "POST", path: "/e/", body: batch, hdr: jsonCT, remote: true,
			cfg: func(c *Config) { c.MaxEvents = 1 }, status: 413, code: hogpipe.ETooLarge},
		{name: "too many JSON values", method: "POST", path: "/e/", body: batch, hdr: jsonCT, remote: true,
			cfg: func(c *Config) { c.MaxValues = 3 }, status: 413, code: hogpipe.ETooLarge},
		{name: "store unavailable", method: "POST", path: "/e/", body: batch, hdr: jsonCT, remote: true, setup: unavailable,
			status: 503, code: hogpipe.EUnavailable, writes: []string{"Ingest"}},
		{name: "CORS preflight", method: "OPTIONS", path: "/e/", remote: true,
			hdr:    hdrs("Origin", "https://app.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"),
			status: 204, check: func(t *testing.T, w *httptest.ResponseRecorder, _ *fakeStore) {
				if o := w.Header().Get("Access-Control-Allow-Origin"); o != "https://app.example" {
					t.Errorf("Access-Control-Allow-Origin %q", o)
				}
			}},
		{name: "GET is not allowed", method: "GET", path: "/e/", remote: true, status: 405, code: "method_not_allowed"},
		{name: "flags say none", method: "POST", path: "/flags/?v=2", body: `{}`, remote: true, status: 200},
		{name: "remote config", method: "GET", path: "/array/" + capToken + "/config", remote: true, status: 200,
			check: func(t *testing.T, w *httptest.ResponseRecorder, _ *fakeStore) {
				if !strings.Contains(w.Body.String(), `"token":"`+capToken+`"`) {
					t.Errorf("config %s", w.Body.String())
				}
			}},
	})
}

func TestReadAPIHandlers(t *testing.T) {
	auth := hdrs("Authorization", "Bearer "+adminToken)
	get := func(name, path string, status int, code, field string) hcase {
		return hcase{name: name, method: "GET", path: path, status: status, code: code, field: field}
	}
	noPreview := func(st *fakeStore, s *Server) {}
	runCases(t, []hcase{
		get("stats", "/api/stats", 200, "", ""),
		{name: "stats from the internet without a token", method: "GET", path: "/api/stats", remote: true,
			status: 401, code: hogpipe.EUnauthorized, check: func(t *testing.T, w *httptest.ResponseRecorder, _ *fakeStore) {
				if w.Header().Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}},
		{name: "stats from the internet with the token", method: "GET", path: "/api/stats", remote: true, hdr: auth, status: 200},
		{name: "stats from the internet with a wrong token", method: "GET", path: "/api/stats", remote: true,
			hdr: hdrs("Authorization", "Bearer "+adminToken+"x"), status: 401, code: hogpipe.EUnauthorized},
		{name: "no admin token set: remote refused", method: "GET", path: "/api/stats", remote: true, hdr: auth,
			cfg: func(c *Config) { c.Security.AdminToken = "" }, status: 401, code: hogpipe.EUnauthorized},
		{name: "local but through a proxy", method: "GET", path: "/api/stats", hdr: hdrs("X-Forwarded-For", "198.51.100.1"),
			status: 401, code: hogpipe.EUnauthorized},
		{name: "stats, store unavailable", method: "GET", path: "/api/stats", setup: unavailable, status: 503, code: hogpipe.EUnavailable},
		get("events", "/api/events?limit=5", 200, "", ""),
		get("events limit 0", "/api/events?limit=0", 400, hogpipe.EBadParameter, "limit"),
		get("events limit 1001", "/api/events?limit=1001", 400, hogpipe.EBadParameter, "limit"),
		get("events limit not a number", "/api/events?limit=ten", 400, hogpipe.EBadParameter, "limit"),
		get("one event", "/api/events/known-event", 200, "", ""),
		get("unknown event", "/api/events/nope", 404, hogpipe.ENotFound, ""),
		get("events per minute", "/api/events-per-minute?minutes=60", 200, "", ""),
		get("minutes 0", "/api/events-per-minute?minutes=0", 400, hogpipe.EBadParameter, "minutes"),
		get("minutes over a day", "/api/events-per-minute?minutes=1441", 400, hogpipe.EBadParameter, "minutes"),
		get("training stats", "/api/training-stats?top=5", 200, "", ""),
		get("training stats top 101", "/api/training-stats?top=101", 400, hogpipe.EBadParameter, "top"),
		get("training data", "/api/training-data?format=classification&since=2026-11-01&split=0.9&part=train", 200, "", ""),
		get("training data, unknown format", "/api/training-data?format=csv", 400, hogpipe.EBadParameter, "format"),
		get("training data, bad since", "/api/training-data?since=yesterday", 400, hogpipe.EBadParameter, "since"),
		get("training data, bad until", "/api/training-data?until=2026-13-01", 400, hogpipe.EBadParameter, "until"),
		get("training data, split 1", "/api/training-data?split=1&part=train", 400, hogpipe.EBadParameter, "split"),
		get("training data, split without part", "/api/training-data?split=0.8", 400, hogpipe.EBadParameter, "part"),
		get("emails", "/api/emails?state=failed&limit=10", 200, "", ""),
		get("emails, unknown state", "/api/emails?state=lost", 400, hogpipe.EBadParameter, "state"),
		get("emails, limit 0", "/api/emails?limit=0", 400, hogpipe.EBadParameter, "limit"),
		get("one email", "/api/emails/1", 200, "", ""),
		get("unknown email", "/api/emails/99", 404, hogpipe.ENotFound, ""),
		get("email id not a number", "/api/emails/abc", 400, hogpipe.EBadParameter, "id"),
		get("email id 0", "/api/emails/0", 400, hogpipe.EBadParameter, "id"),
		{name: "preview not available", method: "GET", path: "/api/emails/1/preview", setup: noPreview, status: 404, code: hogpipe.ENotFound},
		{name: "no such route", method: "POST", path: "/api/nothing", hdr: jsonCT, status: 404, code: hogpipe.ENotFound},
		{name: "POST to a read route", method: "POST", path: "/api/stats", hdr: jsonCT, status: 405, code: "method_not_allowed"},
	})
}

func TestReplayHandler(t *testing.T) {
	const replay = "/api/emails/replay"
	runCases(t, []hcase{
		{name: "local, JSON", method: "POST", path: replay, hdr: jsonCT, status: 200, writes: []string{"ReplayEmails"},
			check: func(t *testing.T, w *httptest.ResponseRecorder, _ *fakeStore) {
				if !strings.Contains(w.Body.String(), `"requeued":2`) {
					t.Errorf("answer %s", w.Body.String())
				}
			}},
		{name: "local, retrying", method: "POST", path: replay + "?state=retrying", hdr: jsonCT, status: 200, writes: []string{"ReplayEmails"}},
		{name: "local, a form a cross-site page could send", method: "POST", path: replay,
			hdr: hdrs("Content-Type", "text/plain"), status: 415, code: hogpipe.EUnsupportedMedia},
		{name: "cross-site page", method: "POST", path: replay,
			hdr:    hdrs("Content-Type", "application/json", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"),
			status: 403, code: "cross_origin"},
		{name: "unknown state", method: "POST", path: replay + "?state=bogus", hdr: jsonCT, status: 400, code: hogpipe.EBadParameter, field: "state"},
		{name: "a state the API never replays", method: "POST", path: replay + "?state=sent", hdr: jsonCT, status: 400, code: hogpipe.EBadParameter, field: "state"},
		{name: "remote without the token", method: "POST", path: replay, hdr: jsonCT, remote: true, status: 401, code: hogpipe.EUnauthorized},
		{name: "remote with the token", method: "POST", path: replay, remote: true,
			hdr: hdrs("Authorization", "Bearer "+adminToken), status: 200, writes: []string{"ReplayEmails"}},
		{name: "store unavailable", method: "POST", path: replay, hdr: jsonCT, setup: unavailable,
			status: 503, code: hogpipe.EUnavailable, writes: []string{"ReplayEmails"}},
		{name: "GET is not allowed", method: "GET", path: replay, status: 405, code: "method_not_allowed"},
	})
}

func TestSuppressionHandlers(t *testing.T) {
	const sup = "/api/suppressions"
	runCases(t, []hcase{
		{name: "list", method: "GET", path: sup + "?reason=bounced&limit=10", status: 200},
		{name: "list, unknown reason", method: "GET", path: sup + "?reason=bored", status: 400, code: hogpipe.EBadParameter, field: "reason"},
		{name: "list, limit 0", method: "GET", path: sup + "?limit=0", status: 400, code: hogpipe.EBadParameter, field: "limit"},
		{name: "add", method: "POST", path: sup, body: `{"address":"Someone@Example.com","detail":"asked"}`, hdr: jsonCT,
			status: 200, writes: []string{"AddSuppressions"}, check: func(t *testing.T, _ *httptest.ResponseRecorder, st *fakeStore) {
				if len(st.suppressions) != 1 || st.suppressions[0].Reason != hogpipe.SuppressManual || st.suppressions[0].Source != "api" {
					t.Errorf("stored %+v", st.suppressions)
				}
			}},
		{name: "add, malformed", method: "POST", path: sup, body: `{"address":`, hdr: jsonCT, status: 400, code: hogpipe.EMalformed},
		{name: "add, not an object", method: "POST", path: sup, body: `["a@example.com"]`, hdr: jsonCT, status: 400, code: hogpipe.EMalformed},
		{name: "add, unknown reason", method: "POST", path: sup, body: `{"address":"a@example.com","reason":"bored"}`, hdr: jsonCT,
			status: 422, code: hogpipe.EInvalid, field: "reason"},
		{name: "add, body over 64 KiB", method: "POST", path: sup, body: `{"address":"a@example.com","detail":"` + strings.Repeat("x", 70<<10) + `"}`,
			hdr: jsonCT, status: 413, code: hogpipe.ETooLarge},
		{name: "add from a form", method: "POST", path: sup, body: `{"address":"a@example.com"}`, hdr: hdrs("Content-Type", "text/plain"),
			status: 415, code: hogpipe.EUnsupportedMedia},
		{name: "add from a cross-site page", method: "POST", path: sup, body: `{"address":"a@example.com"}`,
			hdr: hdrs("Content-Type", "application/json", "Origin", "https://evil.example"), status: 403, code: "cross_origin"},
		{name: "add from the internet without the token", method: "POST", path: sup, body: `{"address":"a@example.com"}`, hdr: jsonCT, remote: true,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "remove", method: "DELETE", path: sup + "/listed@example.com", status: 200, writes: []string{"RemoveSuppression"}},
		{name: "remove, not listed", method: "DELETE", path: sup + "/other@example.com", status: 404, code: hogpipe.ENotFound,
			writes: []string{"RemoveSuppression"}},
		{name: "remove from a cross-site page", method: "DELETE", path: sup + "/listed@example.com",
			hdr: hdrs("Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"), status: 403, code: "cross_origin"},
		{name: "PUT is not allowed", method: "PUT", path: sup, hdr: jsonCT, status: 405, code: "method_not_allowed"},
	})
}

func TestMailgunWebhookHandler(t *testing.T) {
	const path = "/api/webhooks/mailgun"
	withMailgun := func(c *Config) { c.Feedback.Mailgun = mailgun.NewWebhooks(mgKey, time.Hour) }
	now := time.Now()
	ok := mailguntest.Sign(mgKey, now, mailguntest.Event{Event: "failed", Severity: "permanent", Recipient: "a@example.com", EventID: "e1"})
	forged := mailguntest.Sign("another key", now, mailguntest.Event{Event: "delivered", Recipient: "a@example.com"})
	stale := mailguntest.Sign(mgKey, now.Add(-2*time.Hour), mailguntest.Event{Event: "delivered", Recipient: "a@example.com"})
	ignored := mailguntest.Sign(mgKey, now, mailguntest.Event{Event: "accepted", Recipient: "a@example.com"})
	runCases(t, []hcase{
		{name: "not configured", method: "POST", path: path, body: string(ok.Body()), hdr: jsonCT, remote: true,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "signed event", method: "POST", path: path, body: string(ok.Body()), hdr: jsonCT, remote: true, cfg: withMailgun,
			status: 200, writes: []string{"RecordDelivery"}, check: func(t *testing.T, _ *httptest.ResponseRecorder, st *fakeStore) {
				if len(st.deliveries) != 1 || st.deliveries[0].Event != "failed" || st.deliveries[0].EmailEventID != "e1" {
					t.Errorf("recorded %+v", st.deliveries)
				}
			}},
		{name: "signed event while PostHog webhooks want a secret Mailgun does not send", method: "POST", path: path,
			body: string(ok.Body()), hdr: jsonCT, remote: true, cfg: func(c *Config) { withMailgun(c); withSecret(c) },
			status: 200, writes: []string{"RecordDelivery"}},
		{name: "signed event while PostHog webhooks are signed", method: "POST", path: path,
			body: string(ok.Body()), hdr: jsonCT, remote: true, cfg: func(c *Config) { withMailgun(c); withSigning(c) },
			status: 200, writes: []string{"RecordDelivery"}},
		{name: "forged signature", method: "POST", path: path, body: string(forged.Body()), hdr: jsonCT, remote: true, cfg: withMailgun,
			status: 401, code: hogpipe.EUnauthorized},
		{name: "stale signature", method: "POST", path: path, body: string(stale.Body()), hdr: jsonCT, remote: true, cfg: withMailgun,
			status: 406, code: hogpipe.ERejected},
		{name: "not a Mailgun body", method: "POST", path: path, body: `[1,2]`, hdr: jsonCT, remote: true, cfg: withMailgun,
			status: 400, code: hogpipe.EMalformed},
		{name: "event hogpipe ignores: token remembered, acknowledged", method: "POST", path: path, body: string(ignored.Body()), hdr: jsonCT,
			remote: true, cfg: withMailgun, status: 200, writes: []string{"RecordDelivery"}},
		{name: "store unavailable", method: "POST", path: path, body: string(ok.Body()), hdr: jsonCT, remote: true, cfg: withMailgun,
			setup: unavailable, status: 503, code: hogpipe.EUnavailable, writes: []string{"RecordDelivery"}},
	})
}

func TestUnsubscribeHandler(t *testing.T) {
	signer := unsubscribe.NewSigner(unsubSecret, 24*time.Hour)
	withSigner := func(c *Config) { c.Feedback.Unsubscribe = signer }
	tok := signer.Token("someone@example.com", "feature_used", time.Now())
	expired := signer.TokenExpiring("someone@example.com", "feature_used", time.Now().Add(-time.Minute))
	forged := unsubscribe.NewSigner("another secret 0123456789", 24*time.Hour).Token("someone@example.com", "feature_used", time.Now())
	oneClick := hdrs("Content-Type", "application/x-www-form-urlencoded")
	runCases(t, []hcase{
		{name: "not enabled", method: "POST", path: "/unsubscribe/" + tok, body: "List-Unsubscribe=One-Click", hdr: oneClick, remote: true,
			status: 404, code: hogpipe.ENotFound},
		{name: "one-click POST", method: "POST", path: "/unsubscribe/" + tok, body: "List-Unsubscribe=One-Click", hdr: oneClick, remote: true,
			cfg: withSigner, status: 200, writes: []string{"AddSuppressions"}, check: func(t *testing.T, _ *httptest.ResponseRecorder, st *fakeStore) {
				if len(st.suppressions) != 1 || st.suppressions[0].Address != "someone@example.com" || st.suppressions[0].Reason != hogpipe.SuppressUnsubscribed {
					t.Errorf("stored %+v", st.suppressions)
				}
			}},
		{name: "GET shows a page and changes nothing", method: "GET", path: "/unsubscribe/" + tok, remote: true, cfg: withSigner, status: 200},
		{name: "forged token", method: "POST", path: "/unsubscribe/" + forged, body: "List-Unsubscribe=One-Click", hdr: oneClick, remote: true,
			cfg: withSigner, status: 403, code: hogpipe.EForbidden},
		{name: "expired token", method: "POST", path: "/unsubscribe/" + expired, body: "List-Unsubscribe=One-Click", hdr: oneClick, remote: true,
			cfg: withSigner, status: 410, code: hogpipe.EExpired},
		{name: "garbage token", method: "POST", path: "/unsubscribe/not-a-token", hdr: oneClick, remote: true,
			cfg: withSigner, status: 400, code: hogpipe.EMalformed},
		{name: "store unavailable", method: "POST", path: "/unsubscribe/" + tok, body: "List-Unsubscribe=One-Click", hdr: oneClick, remote: true,
			cfg: withSigner, setup: unavailable, status: 503, code: hogpipe.EUnavailable, writes: []string{"AddSuppressions"}},
		{name: "PUT is not allowed", method: "PUT", path: "/unsubscribe/" + tok, remote: true, cfg: withSigner, status: 405, code: "method_not_allowed"},
	})
}

func TestHealthHandlers(t *testing.T) {
	runCases(t, []hcase{
		{name: "healthz", method: "GET", path: "/healthz", remote: true, status: 200},
		{name: "healthz while the store is down", method: "GET", path: "/healthz", remote: true, setup: func(st *fakeStore, _ *Server) {
			st.pingErr = hogpipe.Errorf(hogpipe.EUnavailable, "down")
		}, status: 200},
		{name: "readyz", method: "GET", path: "/readyz", remote: true, status: 200},
		{name: "readyz, store down", method: "GET", path: "/readyz", remote: true, setup: func(st *fakeStore, _ *Server) {
			st.pingErr = hogpipe.Errorf(hogpipe.EUnavailable, "down")
		}, status: 503, code: hogpipe.EUnavailable},
		{name: "readyz, a worker not ready", method: "GET", path: "/readyz", remote: true, setup: func(_ *fakeStore, s *Server) {
			s.ready = append(s.ready, func(context.Context) error { return errors.New("outbox not running") })
		}, status: 503, code: "not_ready"},
		{name: "readyz while draining", method: "GET", path: "/readyz", remote: true, setup: func(_ *fakeStore, s *Server) { s.Drain() },
			status: 503, code: "shutting_down"},
		{name: "POST healthz", method: "POST", path: "/healthz", remote: true, status: 405, code: "method_not_allowed"},
	})
}
