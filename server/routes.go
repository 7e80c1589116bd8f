package server

import (
	"net/http"
	"strings"

	"github.com/hogpipe/hogpipe"
)

// routes lists every route hogpipe serves.
func (s *Server) routes(mux *http.ServeMux) {
	// PostHog HTTP Webhook destination.
	s.handle(mux, "POST", "/api/webhooks/generation-failed", s.handleWebhook(hogpipe.EventGenerationFailed))
	s.handle(mux, "POST", "/api/webhooks/feature-used", s.handleWebhook(hogpipe.EventFeatureUsed))
	s.handle(mux, "POST", "/api/webhooks/posthog", s.handleWebhook(""))

	// Read API behind the dashboard.
	s.handle(mux, "GET", "/api/stats", s.handleStats())
	s.handle(mux, "GET", "/api/events", s.handleEvents())

	// Health.
	s.handle(mux, "GET", "/healthz", s.handleHealthz())
	s.handle(mux, "GET", "/readyz", s.handleReadyz())

	mux.Handle("/", s.handleNotFound())
}

// handle registers h for method on path and a JSON 405 for other methods
// (ServeMux's own 405 is plain text).
func (s *Server) handle(mux *http.ServeMux, method, path string, h http.Handler) {
	mux.Handle(method+" "+path, h)
	allow := method
	if method == "GET" {
		allow = "GET, HEAD"
	}
	mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		setRejectReason(r, "method_not_allowed")
		writeStatus(w, http.StatusMethodNotAllowed, "method_not_allowed",
			r.Method+" is not allowed here; use "+strings.ReplaceAll(allow, ", ", " or "))
	}))
}

func (s *Server) handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRejectReason(r, "not_found")
		writeStatus(w, http.StatusNotFound, hogpipe.ENotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
}
