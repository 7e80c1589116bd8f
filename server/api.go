package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// handleStats answers GET /api/stats: counts for the dashboard.
func (s *Server) handleStats() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		st, err := s.store.Stats(r.Context())
		if err != nil {
			return nil, err
		}
		if s.mirror != nil {
			st.TrainingFileLag = max(0, st.TrainingExamples-s.mirror.Position().Seq)
		}
		st.EmailsByState, err = s.store.EmailCounts(r.Context())
		return st, err
	})
}

// handleEvent answers GET /api/events/{id}: one event and what became of it.
func (s *Server) handleEvent() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		out, err := s.store.Event(r.Context(), r.PathValue("id"))
		if err != nil {
			return nil, err
		}
		out.Email, err = s.store.EmailForEvent(r.Context(), out.Event.UUID)
		return out, err
	})
}

// handleEventsPerMinute answers GET /api/events-per-minute?minutes=30.
func (s *Server) handleEventsPerMinute() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		minutes, err := queryInt(r.URL.Query(), "minutes", 30, 1, 24*60)
		if err != nil {
			return nil, err
		}
		from := s.now().Add(-time.Duration(minutes-1) * time.Minute)
		counts, err := s.store.EventsPerMinute(r.Context(), from)
		if counts == nil {
			counts = []hogpipe.MinuteCount{}
		}
		return map[string]any{"from": hogpipe.FormatTime(from)[:16], "minutes": counts}, err
	})
}

// handleEvents answers GET /api/events?limit=N: the latest events.
func (s *Server) handleEvents() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		limit, err := queryInt(r.URL.Query(), "limit", 50, 1, 1000)
		if err != nil {
			return nil, err
		}
		evs, err := s.store.RecentEvents(r.Context(), limit)
		if evs == nil {
			evs = []hogpipe.StoredEvent{}
		}
		return map[string]any{"events": evs}, err
	})
}

// handleTrainingData answers GET /api/training-data: every training
// example as JSONL, read from the store (not the file), so it holds
// everything acknowledged so far. The query takes the export's options:
// format=v1|original|classification, since, until (a day or RFC 3339 time),
// reason (comma-separated), dedupe-content=true, and split=0.9 with
// part=train|validation.
func (s *Server) handleTrainingData() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The command line's hogpipe export reads its flags with the same
		// parser: the two accept and refuse the same values.
		req, err := trainingfile.ParseRequest(r.URL.Query().Get)
		if err == nil && req.Split > 0 && req.Part == "" {
			err = hogpipe.FieldError(trainingfile.OptPart, "with split, say part=train or part=validation")
		}
		var fe *hogpipe.Error
		if errors.As(err, &fe) {
			err = asParam(fe.Field, err) // a query parameter: 400 bad_parameter
		}
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		out := newDeadlineWriter(w, s.cfg.WriteTimeout)
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="training_data.jsonl"`)
		if _, err := req.Stream(r.Context(), s.store, out); err != nil {
			// Headers are gone; all we can do is cut the stream short.
			s.log.Warn("training data export cut short", "err", err)
			panic(http.ErrAbortHandler)
		}
	})
}

// handleEmails answers GET /api/emails?state=failed&limit=100: emails with
// their state, attempts, last error and next attempt time.
func (s *Server) handleEmails() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		q := r.URL.Query()
		var state hogpipe.EmailState
		if v := q.Get("state"); v != "" {
			st, err := hogpipe.ParseEmailState(v)
			if err != nil {
				return nil, asParam("state", err)
			}
			state = st
		}
		limit, err := queryInt(q, "limit", 100, 1, 1000)
		if err != nil {
			return nil, err
		}
		emails, err := s.store.ListEmails(r.Context(), state, limit)
		return map[string]any{"emails": emails}, err
	})
}

// handleReplayEmails answers POST /api/emails/replay?state=failed: the
// emails in that state are queued again with a fresh set of attempts.
// Only failed and retrying emails: the API never forces a re-send.
func (s *Server) handleReplayEmails() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		v := r.URL.Query().Get("state")
		if v == "" {
			v = string(hogpipe.EmailFailed)
		}
		state, err := hogpipe.ParseEmailState(v)
		if err == nil {
			err = hogpipe.CheckReplay(state, false) // the store checks too; here it is a bad parameter
		}
		if err != nil {
			return nil, asParam("state", err)
		}
		n, err := s.store.ReplayEmails(r.Context(), state, s.now(), false)
		return map[string]any{"status": "ok", "requeued": n}, err
	})
}

// handleTrainingStats answers GET /api/training-stats?top=10.
func (s *Server) handleTrainingStats() http.Handler {
	return s.answerJSON(func(r *http.Request) (any, error) {
		top, err := queryInt(r.URL.Query(), "top", 10, 1, 100)
		if err != nil {
			return nil, err
		}
		return s.store.TrainingStats(r.Context(), top)
	})
}
