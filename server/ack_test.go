package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
)

// brokenStore answers Ingest without error but with results the store
// must never give: too few, or without ids. (A stand-in on purpose: the
// real stores cannot be made to do this, which is the point of the check.)
type brokenStore struct {
	Store
	results func(n int) []hogpipe.IngestResult
}

func (b brokenStore) Ingest(_ context.Context, events []hogpipe.Event) ([]hogpipe.IngestResult, error) {
	return b.results(len(events)), nil
}

// TestNoAckWithoutIDs: the last check before a 2xx turns results without
// ids, or too few of them, into a 500 (which PostHog and posthog-js retry).
func TestNoAckWithoutIDs(t *testing.T) {
	for name, results := range map[string]func(int) []hogpipe.IngestResult{
		"empty id":    func(n int) []hogpipe.IngestResult { return make([]hogpipe.IngestResult, n) },
		"too few":     func(int) []hogpipe.IngestResult { return nil },
		"one missing": func(n int) []hogpipe.IngestResult { r := make([]hogpipe.IngestResult, n); r[0].UUID = "x"; return r },
	} {
		srv := New(Config{CaptureTokens: []string{"phc_t"}}, Deps{Store: brokenStore{results: results}, Log: slog.New(slog.DiscardHandler)})
		for _, c := range []struct{ path, body string }{
			{"/api/webhooks/posthog", `[{"event":"a"},{"event":"b"}]`},
			{"/api/webhooks/posthog", `{"event":"a"}`},
			{"/e/", `{"api_key":"phc_t","batch":[{"event":"a","distinct_id":"d"},{"event":"b","distinct_id":"d"}]}`},
		} {
			if name == "one missing" && !strings.HasPrefix(c.body, "[") && !strings.Contains(c.body, "batch") {
				continue
			}
			req := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
			req.RemoteAddr, req.Host = "127.0.0.1:1", "127.0.0.1"
			// Unauthenticated local webhooks must be JSON (crosssite.go).
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, req)
			if w.Code != http.StatusInternalServerError {
				t.Errorf("%s, %s %s: %d %s; want 500", name, c.path, c.body, w.Code, w.Body.String())
			}
		}
	}
}
