package server

import (
	"context"
	"net/http"
	"time"

	"github.com/hogpipe/hogpipe"
)

// handleHealthz says the process is up; nothing more.
func (s *Server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz says whether this instance should get traffic: the store
// takes writes and the server is not shutting down.
func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Retry-After", retryAfterSeconds)
			writeCode(w, hogpipe.EShuttingDown, "shutting down")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		for _, check := range s.ready {
			if err := check(ctx); err != nil {
				w.Header().Set("Retry-After", retryAfterSeconds)
				writeCode(w, hogpipe.ENotReady, err.Error())
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}
