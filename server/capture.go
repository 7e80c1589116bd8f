package server

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/posthog"
)

// capturePaths are the capture protocol's endpoints (each also with a
// trailing slash).
var capturePaths = []string{"/e", "/i/v0/e", "/batch", "/capture"}

// captureResponse is what posthog-js expects: 200 with a JSON body, else it
// retries. Rejected events are listed so a person debugging can see why.
type captureResponse struct {
	Status   string                 `json:"status"`
	Events   []hogpipe.IngestResult `json:"events,omitempty"`
	Rejected []posthog.Rejected     `json:"rejected,omitempty"`
}

// handleCapture speaks PostHog's capture protocol (/e/, /i/v0/e/, /batch/,
// /capture/), so posthog-js can send straight to hogpipe.
func (s *Server) handleCapture() http.Handler {
	return s.ingestHandler(hogpipe.SourceCapture, func(r *http.Request, body []byte) ([]hogpipe.Event, func([]hogpipe.IngestResult) any, error) {
		batch, err := posthog.DecodeCapture(posthog.CaptureRequest{
			Body:        body,
			ContentType: r.Header.Get("Content-Type"),
			Query:       r.URL.Query(),
			MaxBytes:    s.cfg.MaxBodyBytes,
			MaxEvents:   s.cfg.MaxEvents,
			MaxValues:   s.cfg.MaxValues,
			KnownToken:  s.knownToken,
			Reserve:     reserveFor(r).reserve,
			Now:         s.now(),
		})
		if err != nil {
			return nil, nil, err
		}
		if !s.knownToken(batch.Token) {
			msg := posthog.UnknownTokenMessage
			if batch.Token == "" {
				msg = "missing project token (api_key)"
			}
			return nil, nil, &hogpipe.Error{Code: hogpipe.EUnauthorized, Field: "api_key", Message: msg}
		}
		return batch.Events, func(results []hogpipe.IngestResult) any {
			if len(batch.Rejected) > 0 {
				// One label value whatever the count (a label per count would
				// be up to MaxEvents series); the events are counted apart.
				setRejectReason(r, reasonEventsRefused)
				s.metrics.CaptureEventsRejected(len(batch.Rejected))
			}
			return captureResponse{Status: "Ok", Events: results, Rejected: batch.Rejected}
		}, nil
	})
}

func (s *Server) knownToken(tok string) bool {
	if tok == "" {
		return false
	}
	ok := 0
	for _, t := range s.cfg.CaptureTokens {
		ok |= subtle.ConstantTimeCompare([]byte(t), []byte(tok))
	}
	return ok == 1
}

// handleFlags answers feature-flag requests: hogpipe has no flags, and
// posthog-js only needs a well-formed "none".
func (s *Server) handleFlags() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"flags":                     map[string]any{},
			"featureFlags":              map[string]any{},
			"featureFlagPayloads":       map[string]any{},
			"errorsWhileComputingFlags": false,
			"quotaLimited":              []string{},
		})
	})
}

func remoteConfig(token string) map[string]any {
	return map[string]any{
		"token":                token,
		"supportedCompression": []string{"gzip", "gzip-js"},
		"hasFeatureFlags":      false,
		"autocapture_opt_out":  true,
		"sessionRecording":     false,
		"heatmaps":             false,
		"surveys":              false,
	}
}

// handleRemoteConfig answers GET /array/{token}/config.
func (s *Server) handleRemoteConfig() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, remoteConfig(r.PathValue("token")))
	})
}

// handleRemoteConfigJS answers GET /array/{token}/config.js, the script
// posthog-js loads first.
func (s *Server) handleRemoteConfigJS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.PathValue("token")
		cfg, _ := jsonString(remoteConfig(tok))
		key, _ := jsonString(tok)
		w.Header().Set("Content-Type", "application/javascript")
		fmt.Fprintf(w, "(function() {\n  window._POSTHOG_REMOTE_CONFIG = window._POSTHOG_REMOTE_CONFIG || {};\n"+
			"  window._POSTHOG_REMOTE_CONFIG[%s] = { config: %s, siteApps: [] };\n})();\n", key, cfg)
	})
}

// cors lets pages on other origins (the Vite dev server, a product's own
// site) send to the capture endpoints, as PostHog's own ingestion does.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
					h.Set("Access-Control-Allow-Headers", req)
				} else {
					h.Set("Access-Control-Allow-Headers", "Content-Type")
				}
				h.Set("Access-Control-Max-Age", "86400")
			}
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func jsonString(v any) (string, error) {
	var b strings.Builder
	err := encodeJSON(&b, v)
	return strings.TrimSpace(b.String()), err
}
