package server

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/metrics"
)

// TestRequestsMoveMetrics: the server records what it answered under the
// route pattern and the refusal's reason, and counts events refused inside
// an accepted capture batch; read back from /metrics as Prometheus does.
func TestRequestsMoveMetrics(t *testing.T) {
	m := metrics.New()
	srv := New(Config{CaptureTokens: []string{capToken}}, Deps{Store: &fakeStore{}, Metrics: m, Log: slog.New(slog.DiscardHandler)})
	h := srv.Handler()
	send := func(method, path, body string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr, req.Host = "127.0.0.1:40000", "127.0.0.1:3000"
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	send("POST", "/e/", `{"api_key":"`+capToken+`","batch":[{"event":"feature_used","distinct_id":"d"},{"distinct_id":"d"},{"event":""}]}`)
	send("POST", "/e/", `{"api_key":"phc_nope","batch":[{"event":"a","distinct_id":"d"}]}`)
	send("POST", "/e/", `{"api_key":`)
	send("GET", "/api/events?limit=0", "")

	w := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr, req.Host = "127.0.0.1:40000", "127.0.0.1:3000"
	h.ServeHTTP(w, req)
	body, _ := io.ReadAll(w.Body)
	for _, line := range []string{
		`hogpipe_capture_events_rejected_total 2`,
		`hogpipe_requests_rejected_total{reason="events_rejected"} 1`,
		`hogpipe_requests_rejected_total{reason="unauthorized"} 1`,
		`hogpipe_requests_rejected_total{reason="malformed"} 1`,
		`hogpipe_http_requests_total{route="POST /e/{$}",status="200"} 1`,
		`hogpipe_http_requests_total{route="POST /e/{$}",status="401"} 1`,
		`hogpipe_http_requests_total{route="POST /e/{$}",status="400"} 1`,
		`hogpipe_http_requests_total{route="GET /api/events",status="400"} 1`,
		`hogpipe_events_stored_total{event="feature_used",source="capture"} 1`,
	} {
		if !strings.Contains(string(body), line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(string(body), "hogpipe_"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
