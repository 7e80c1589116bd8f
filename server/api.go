package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/jsonl"
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
		if st.EmailsByState, err = s.store.EmailCounts(r.Context()); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
}

// handleEvent answers GET /api/events/{id}: one event and what became of it.
func (s *Server) handleEvent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, err := s.store.Event(r.Context(), r.PathValue("id"))
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if out.Email, err = s.store.EmailForEvent(r.Context(), out.Event.UUID); err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// handleEventsPerMinute answers GET /api/events-per-minute?minutes=30.
func (s *Server) handleEventsPerMinute() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		minutes := 30
		if v := r.URL.Query().Get("minutes"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 24*60 {
				writeStatus(w, http.StatusBadRequest, "invalid", "minutes: must be a number from 1 to 1440")
				return
			}
			minutes = n
		}
		from := s.now().Add(-time.Duration(minutes-1) * time.Minute)
		counts, err := s.store.EventsPerMinute(r.Context(), from)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		if counts == nil {
			counts = []hogpipe.MinuteCount{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"from": hogpipe.FormatTime(from)[:16], "minutes": counts})
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
		if evs == nil {
			evs = []hogpipe.StoredEvent{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"events": evs})
	})
}

// handleTrainingData answers GET /api/training-data?format=v1|original:
// every training example as JSONL, read from the store (not the file), so
// it holds everything acknowledged so far.
func (s *Server) handleTrainingData() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := r.URL.Query().Get("format")
		if format == "" {
			format = jsonl.FormatV1
		}
		if !slices.Contains(jsonl.Formats, format) {
			writeStatus(w, http.StatusBadRequest, "invalid", "format: use one of "+strings.Join(jsonl.Formats, ", "))
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="training_data.jsonl"`)
		if _, err := jsonl.Export(r.Context(), w, s.store, format); err != nil {
			// Headers are gone; all we can do is cut the stream short.
			s.log.Warn("training data export cut short", "err", err)
			panic(http.ErrAbortHandler)
		}
	})
}

// handleEmails answers GET /api/emails?state=failed&limit=100: emails with
// their state, attempts, last error and next attempt time.
func (s *Server) handleEmails() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var state hogpipe.EmailState
		if v := q.Get("state"); v != "" {
			st, err := hogpipe.ParseEmailState(v)
			if err != nil {
				writeError(w, r, s.log, err)
				return
			}
			state = st
		}
		limit := 100
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1000 {
				writeStatus(w, http.StatusBadRequest, "invalid", "limit: must be a number from 1 to 1000")
				return
			}
			limit = n
		}
		emails, err := s.store.ListEmails(r.Context(), state, limit)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"emails": emails})
	})
}

// handleReplayEmails answers POST /api/emails/replay?state=failed: the
// emails in that state are queued again with a fresh set of attempts.
func (s *Server) handleReplayEmails() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query().Get("state")
		if v == "" {
			v = string(hogpipe.EmailFailed)
		}
		state, err := hogpipe.ParseEmailState(v)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		n, err := s.store.ReplayEmails(r.Context(), state, s.now())
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "requeued": n})
	})
}
