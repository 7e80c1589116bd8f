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

// statusOf is the one place an error code becomes an HTTP status: every
// error answer, whether from writeError or writeCode, goes through it. An
// unknown code is a bug and answers 500.
func statusOf(code string) int {
	switch code {
	case hogpipe.EMalformed, hogpipe.EBadParameter:
		return http.StatusBadRequest
	case hogpipe.EUnauthorized:
		return http.StatusUnauthorized
	case hogpipe.EForbidden, hogpipe.ECrossOrigin:
		return http.StatusForbidden
	case hogpipe.ENotFound:
		return http.StatusNotFound
	case hogpipe.EMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case hogpipe.ERejected:
		return http.StatusNotAcceptable
	case hogpipe.EExpired:
		return http.StatusGone
	case hogpipe.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case hogpipe.EUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case hogpipe.EInvalid:
		return http.StatusUnprocessableEntity
	case hogpipe.ERateLimited, hogpipe.EClientConcurrency:
		return http.StatusTooManyRequests
	case hogpipe.EUnavailable, hogpipe.EOverloaded, hogpipe.EMemoryBudget, hogpipe.ENotReady, hogpipe.EShuttingDown:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
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
