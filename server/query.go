package server

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Query parameters: one parser per kind, each answering a 400
// bad_parameter error whose field names the parameter, so that every
// handler refuses limit=abc, split=NaN or state=lost the same way. An
// absent (or empty) parameter takes its default.

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

// queryBool reads true or false (and strconv.ParseBool's 1, 0, t, f).
func queryBool(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, paramError(name, "say true or false")
	}
	return b, nil
}

// queryFraction reads a number strictly between 0 and 1; ok is false when
// the parameter is absent. Written so that NaN fails too: it compares
// false with everything, and split=NaN once exported nothing with a 200.
func queryFraction(q url.Values, name, hint string) (f float64, ok bool, err error) {
	v := q.Get(name)
	if v == "" {
		return 0, false, nil
	}
	f, err = strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0 && f < 1) {
		return 0, false, paramError(name, "%s", hint)
	}
	return f, true, nil
}

// queryTime reads a day (2026-11-28) or an RFC 3339 time; zero if absent.
func queryTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			return time.Time{}, paramError(name, "use a day (2026-11-28) or an RFC 3339 time")
		}
	}
	return t, nil
}

// queryOneOf reads one of allowed.
func queryOneOf(q url.Values, name, def string, allowed []string) (string, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	if !slices.Contains(allowed, v) {
		return "", paramError(name, "use one of %s", strings.Join(allowed, ", "))
	}
	return v, nil
}
