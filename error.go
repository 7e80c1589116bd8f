package hogpipe

import (
	"errors"
	"fmt"
)

// Error codes: every code hogpipe answers with, each with exactly one HTTP
// status, mapped in one place (server/json.go statusOf) so the domain never
// speaks HTTP. A code not listed here is a bug (server tests check it).
const (
	EMalformed = "malformed" // a body that does not parse → 400
	// EBadParameter: a query or path parameter that does not parse or is
	// out of range (limit=abc, split=NaN, state=lost); field names it → 400.
	// Unlike EInvalid it is about the request's URL, never an event.
	EBadParameter = "bad_parameter"
	EUnauthorized = "unauthorized" // missing or wrong credentials → 401
	// EForbidden: a credential that is there but forged (an unsubscribe
	// token with a wrong MAC) → 403.
	EForbidden = "forbidden"
	// ECrossOrigin: a browser write from another site to the admin API → 403.
	ECrossOrigin      = "cross_origin"
	ENotFound         = "not_found"          // → 404
	EMethodNotAllowed = "method_not_allowed" // → 405, with Allow
	ERejected         = "rejected"           // authentic in form but never acceptable (stale, replayed): do not retry → 406
	EExpired          = "expired"            // a signed link past its expiry → 410
	ETooLarge         = "too_large"          // input over a configured limit → 413
	// EUnsupportedMedia: a body type a cross-site form could send, where
	// hogpipe wants one only a same-origin script can → 415.
	EUnsupportedMedia  = "unsupported_media_type"
	EInvalid           = "invalid"            // a well-formed body that is not a usable event → 422
	ERateLimited       = "rate_limited"       // a client over --rate-limit → 429 + Retry-After
	EClientConcurrency = "client_concurrency" // a client over --max-per-client or its memory share → 429 + Retry-After
	EInternal          = "internal"           // a bug → 500
	EUnavailable       = "unavailable"        // transient: the caller should retry → 503
	EOverloaded        = "overloaded"         // at --max-concurrent → 503
	EMemoryBudget      = "memory_budget"      // --max-request-memory full → 503
	ENotReady          = "not_ready"          // /readyz, or a request before startup finished → 503
	EShuttingDown      = "shutting_down"      // /readyz while draining → 503
)

// Codes returns every error code, for tests and documentation.
func Codes() []string {
	return []string{EMalformed, EBadParameter, EUnauthorized, EForbidden, ECrossOrigin, ENotFound,
		EMethodNotAllowed, ERejected, EExpired, ETooLarge, EUnsupportedMedia, EInvalid, ERateLimited,
		EClientConcurrency, EInternal, EUnavailable, EOverloaded, EMemoryBudget, ENotReady, EShuttingDown}
}

// Error is an error a caller can act on: a code, a human message and, where
// the problem is one field of the input, that field's path.
type Error struct {
	Code    string
	Field   string
	Message string
	Err     error // the cause, kept for logs; never shown to clients
}

func (e *Error) Error() string {
	s := e.Message
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EInvalid error about one field of the input.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EInternal.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}
