package server

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/hogpipe/hogpipe"
)

// Query parameters: one parser per kind, each answering a 400
// bad_parameter error whose field names the parameter, so that every
// handler refuses limit=abc or state=lost the same way. An absent (or
// empty) parameter takes its default. GET /api/training-data's options are
// read by trainingfile.ParseRequest, which hogpipe export shares.

// paramError is a bad query or path parameter.
func paramError(name, format string, args ...any) *hogpipe.Error {
	return &hogpipe.Error{Code: hogpipe.EBadParameter, Field: name, Message: fmt.Sprintf(format, args...)}
}

// asParam turns a domain parser's refusal of a value (ParseEmailState's
// EInvalid, which the CLI shares) into a refusal of the parameter name.
func asParam(name string, err error) error {
	var e *hogpipe.Error
	if err == nil || !errors.As(err, &e) || e.Code != hogpipe.EInvalid {
		return err
	}
	return &hogpipe.Error{Code: hogpipe.EBadParameter, Field: name, Message: e.Message, Err: e.Err}
}

// queryInt reads an integer from lo to hi (inclusive).
func queryInt(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, paramError(name, "must be a number from %d to %d", lo, hi)
	}
	return n, nil
}
