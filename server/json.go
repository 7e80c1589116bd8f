package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/hogpipe/hogpipe"
)

// errorBody is every error response: a stable code, a message for people
// and, when one field is at fault, its path.
type errorBody struct {
	Status  string `json:"status"`
	Code    string `json:"code"`
	Error   string `json:"error"`
	Field   string `json:"field,omitempty"`
	Details any    `json:"details,omitempty"`
}

// retryAfterSeconds is the Retry-After sent with every 503: PostHog retries
// within a few seconds anyway, and one second is enough for a busy store.
const retryAfterSeconds = "1"

// statusByCode is the one place an error code becomes an HTTP status:
// every error answer, whether from writeError or writeCode, goes through
// statusOf.
var statusByCode = map[string]int{
	hogpipe.EMalformed:         http.StatusBadRequest,
	hogpipe.EBadParameter:      http.StatusBadRequest,
	hogpipe.EUnauthorized:      http.StatusUnauthorized,
	hogpipe.EForbidden:         http.StatusForbidden,
	hogpipe.ECrossOrigin:       http.StatusForbidden,
	hogpipe.ENotFound:          http.StatusNotFound,
	hogpipe.EMethodNotAllowed:  http.StatusMethodNotAllowed,
	hogpipe.ERejected:          http.StatusNotAcceptable,
	hogpipe.EExpired:           http.StatusGone,
	hogpipe.ETooLarge:          http.StatusRequestEntityTooLarge,
	hogpipe.EUnsupportedMedia:  http.StatusUnsupportedMediaType,
	hogpipe.EInvalid:           http.StatusUnprocessableEntity,
	hogpipe.ERateLimited:       http.StatusTooManyRequests,
	hogpipe.EClientConcurrency: http.StatusTooManyRequests,
	hogpipe.EUnavailable:       http.StatusServiceUnavailable,
	hogpipe.EOverloaded:        http.StatusServiceUnavailable,
	hogpipe.EMemoryBudget:      http.StatusServiceUnavailable,
	hogpipe.ENotReady:          http.StatusServiceUnavailable,
	hogpipe.EShuttingDown:      http.StatusServiceUnavailable,
}

// statusOf is code's status (statusByCode). An unknown code is a bug and
// answers 500.
func statusOf(code string) int {
	if status, ok := statusByCode[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

// answerJSON makes a handler of work that returns what to answer (200,
// JSON) or an error, answered as writeError maps it: a handler cannot
// forget to stop after an error, nor answer half a value.
func (s *Server) answerJSON(work func(r *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := work(r)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = encodeJSON(w, v) // the client may be gone; nothing to do about it
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeError answers with err's status and JSON body. Causes (err.Err) go
// to the log, not to the client: they can name files and SQL.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := hogpipe.ErrorCode(err)
	status := statusOf(code)
	body := errorBody{Status: "error", Code: code, Error: "internal error"}
	var e *hogpipe.Error
	if errors.As(err, &e) {
		body.Error, body.Field = e.Message, e.Field
		if e.Field != "" {
			body.Error = e.Field + ": " + e.Message
		}
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	switch {
	case status >= 500 && r.Context().Err() != nil:
		// The client left before its commit was durable; it was not
		// acknowledged, and its retry will be deduplicated.
		log.Debug("client gone before its answer", "method", r.Method, "path", logPath(r.URL.Path), "err", err)
	case status >= 500:
		log.Error("request failed", "method", r.Method, "path", logPath(r.URL.Path), "status", status, "err", err)
	default:
		setRejectReason(r, code)
	}
	writeJSON(w, status, body)
}

// writeCode answers with code's status (statusOf) and a JSON error body,
// without logging: for refusals decided before a handler runs (rate limits,
// load shedding, routing), which under a flood must not log a line each.
// Handlers use writeError.
func writeCode(w http.ResponseWriter, code, msg string) {
	writeJSON(w, statusOf(code), errorBody{Status: "error", Code: code, Error: msg})
}
