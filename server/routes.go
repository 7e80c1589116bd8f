package server

import (
	"net/http"
	"strings"

	"github.com/hogpipe/hogpipe"
)

// routes lists every route hogpipe serves. Before the store is open, the
// Gate (gate.go) answers every path: /healthz 200, anything else 503.
func (s *Server) routes(mux *http.ServeMux) {
	// PostHog HTTP Webhook destination.
	s.handle(mux, "POST", "/api/webhooks/generation-failed", s.handleWebhook(hogpipe.EventGenerationFailed))
	s.handle(mux, "POST", "/api/webhooks/feature-used", s.handleWebhook(hogpipe.EventFeatureUsed))
	s.handle(mux, "POST", "/api/webhooks/posthog", s.handleWebhook(""))

	// PostHog capture protocol, for posthog-js: the accepted body formats
	// are in README "Endpoints", the parser in posthog/capture.go.
	capture := cors(s.handleCapture())
	for _, p := range capturePaths {
		s.handle(mux, "POST", p+"/{$}", capture)
		s.handle(mux, "POST", p, capture)
		mux.Handle("OPTIONS "+p+"/{$}", capture)
		mux.Handle("OPTIONS "+p, capture)
	}
	flags := cors(s.handleFlags())
	for _, p := range []string{"/flags", "/decide"} {
		s.handle(mux, "POST", p+"/{$}", flags)
		s.handle(mux, "POST", p, flags)
		mux.Handle("OPTIONS "+p+"/{$}", flags)
		mux.Handle("OPTIONS "+p, flags)
	}
	s.handle(mux, "GET", "/array/{token}/config", cors(s.handleRemoteConfig()))
	s.handle(mux, "GET", "/array/{token}/config.js", cors(s.handleRemoteConfigJS()))

	// Read API behind the dashboard (and one action): local requests or
	// the admin token.
	admin := s.adminOnly // requireAdmin, and no cross-site writes (crossorigin.go)
	s.handle(mux, "GET", "/api/stats", admin(s.handleStats()))
	s.handle(mux, "GET", "/api/events", admin(s.handleEvents()))
	s.handle(mux, "GET", "/api/events/{id}", admin(s.handleEvent()))
	s.handle(mux, "GET", "/api/events-per-minute", admin(s.handleEventsPerMinute()))
	s.handle(mux, "GET", "/api/training-data", admin(s.handleTrainingData()))
	s.handle(mux, "GET", "/api/training-stats", admin(s.handleTrainingStats()))
	s.handle(mux, "GET", "/api/emails", admin(s.handleEmails()))
	s.handle(mux, "POST", "/api/emails/replay", admin(s.handleReplayEmails()))
	// Unsubscribe links, Mailgun's event webhooks, the suppression list,
	// one email with its history and its preview: listed in feedback.go.
	s.feedbackRoutes(mux, admin)

	if s.metrics != nil {
		s.handle(mux, "GET", "/metrics", admin(s.metrics.Handler()))
	}

	// Health.
	s.handle(mux, "GET", "/healthz", s.handleHealthz())
	s.handle(mux, "GET", "/readyz", s.handleReadyz())

	s.handle(mux, "GET", "/api/config", s.handleConfig())

	// The web app: any other GET. (A "GET /" pattern would clash with the
	// method-less 405 patterns above, hence one catch-all.)
	web, notFound := securityHeaders(s.handleWebApp()), s.handleNotFound()
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			web.ServeHTTP(w, r)
			return
		}
		notFound.ServeHTTP(w, r)
	}))
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
		setRejectReason(r, hogpipe.EMethodNotAllowed)
		writeCode(w, hogpipe.EMethodNotAllowed,
			r.Method+" is not allowed here; use "+strings.ReplaceAll(allow, ", ", " or "))
	}))
}

func (s *Server) handleNotFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRejectReason(r, hogpipe.ENotFound)
		writeCode(w, hogpipe.ENotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
}
