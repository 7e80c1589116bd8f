package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/hogpipe/hogpipe"
)

// The ingest routes give the request body's buffer back as soon as it is
// decoded: before the store's commit wait (which can last the commit
// timeout, with thousands of requests waiting) and before a refusal is
// answered, a refused webhook authentication included. The handlers run
// here without protect, whose own deferred free would hide a missing
// release.

// releaseWatch records whether the body was still held when Ingest (the
// commit wait) began.
type releaseWatch struct {
	*fakeStore
	body         *prereadBody
	heldAtIngest bool
}

func (s *releaseWatch) Ingest(ctx context.Context, events []hogpipe.Event) ([]hogpipe.IngestResult, error) {
	s.heldAtIngest = s.body.buf != nil
	return s.fakeStore.Ingest(ctx, events)
}

func TestIngestGivesTheBodyBackBeforeTheCommitWait(t *testing.T) {
	const capture = `{"api_key":"phc_test","event":"x","distinct_id":"u1","properties":{}}`
	const hook = `{"event":{"event":"feature_used","uuid":"0b6c5f2e-0000-4000-8000-000000000001","distinct_id":"u1","properties":{}}}`
	for _, c := range []struct {
		name    string
		webhook bool
		body    string
		secret  string // webhook: the X-Hogpipe-Secret sent
		status  int
	}{
		{"capture stored", false, capture, "", 200},
		{"capture unknown token", false, `{"api_key":"phc_nope","event":"x","distinct_id":"u1"}`, "", 401},
		{"capture malformed", false, `{"api_key":`, "", 400},
		{"webhook stored", true, hook, hookSecret, 200},
		{"webhook wrong secret", true, hook, "wrong-secret-0123456789", 401},
		{"webhook without secret", true, hook, "", 401},
		{"webhook malformed", true, `{"event":`, hookSecret, 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &releaseWatch{fakeStore: &fakeStore{}}
			srv := New(Config{CaptureTokens: []string{capToken}, Security: Security{WebhookSecret: hookSecret}},
				Deps{Store: st, Log: slog.New(slog.DiscardHandler)})
			path, h := "/e/", srv.handleCapture()
			if c.webhook {
				path, h = "/api/webhooks/posthog", srv.handleWebhook("")
			}
			req := httptest.NewRequest("POST", path, bytes.NewReader([]byte(c.body)))
			req.RemoteAddr, req.Host = "203.0.113.9:40000", "hogpipe.example.com"
			req.Header.Set("Content-Type", "application/json")
			if c.secret != "" {
				req.Header.Set("X-Hogpipe-Secret", c.secret)
			}
			// The body as protect leaves it: read, in a pooled buffer.
			buf := []byte(c.body)
			st.body = &prereadBody{body: buf, buf: &buf}
			req = req.WithContext(context.WithValue(req.Context(), ctxKey{}, &reqInfo{body: st.body}))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)

			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body.String())
			}
			stored := len(st.writes()) > 0
			if stored != (c.status == 200) {
				t.Fatalf("store writes %v with status %d", st.writes(), w.Code)
			}
			if stored && st.heldAtIngest {
				t.Error("the body was still held when the commit wait began")
			}
			if st.body.buf != nil {
				t.Error("the body was not given back by the handler")
			}
		})
	}
}
