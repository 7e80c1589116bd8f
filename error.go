package hogpipe

import (
	"errors"
	"fmt"
)

// Error codes, mapped to HTTP statuses in one place (server/json.go) so the
// domain never speaks HTTP.
const (
	EInvalid      = "invalid"      // well-formed input that is not a usable event → 422
	EMalformed    = "malformed"    // input that does not parse → 400
	ETooLarge     = "too_large"    // input over a configured limit → 413
	EUnauthorized = "unauthorized" // missing or wrong credentials → 401
	EUnavailable  = "unavailable"  // transient: the caller should retry → 503
	ENotFound     = "not_found"    // → 404
	ERejected     = "rejected"     // authentic in form but never acceptable (stale, replayed): do not retry → 406
	// EUnsupportedMedia: a body type a cross-site form could send, where
	// hogpipe wants one only a same-origin script can → 415.
	EUnsupportedMedia = "unsupported_media_type"
	EInternal         = "internal" // a bug → 500
)

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
