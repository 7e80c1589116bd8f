package server

import (
	"net/http"
	"strconv"
)

// handleStats answers GET /api/stats: counts for the dashboard.
func (s *Server) handleStats() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := s.store.Stats(r.Context())
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if s.mirror != nil {
			st.TrainingFileLag = max(0, st.TrainingExamples-s.mirror.Position().Seq)
		}
		writeJSON(w, http.StatusOK, st)
	})
}

// handleEvents answers GET /api/events?limit=N: the latest events.
func (s *Server) handleEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := 50
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				writeStatus(w, http.StatusBadRequest, "invalid", "limit: must be a number from 1 to 1000")
				return
			}
			limit = n
		}
		evs, err := s.store.RecentEvents(r.Context(), limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": evs})
	})
}
