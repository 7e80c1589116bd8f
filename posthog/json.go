// Package posthog reads PostHog's wire formats: HTTP Webhook destination
// bodies and capture-protocol requests from posthog-js, into hogpipe.Events.
package posthog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/hogpipe/hogpipe"
)

// decodeJSON parses a whole body into generic values, keeping numbers exact
// (json.Number) so a 64-bit id survives the round trip into the store.
func decodeJSON(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, hogpipe.Errorf(hogpipe.EMalformed, "body is not valid UTF-8")
	}
	if err := checkDepth(body, MaxDepth); err != nil {
		return nil, err
	}
	return decodeValue(body)
}

// decodeValue decodes one JSON value that must fill body.
func decodeValue(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, hogpipe.Errorf(hogpipe.EMalformed, "malformed JSON: data after the first value at byte %d", dec.InputOffset())
	}
	return v, nil
}

// MaxDepth bounds JSON nesting: no PostHog event comes near it, and deep
// nesting is a classic way to make a parser burn stack and CPU.
const MaxDepth = 32

// checkDepth rejects bodies nested deeper than max without parsing them.
func checkDepth(body []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case escaped:
			escaped = false
		case inString:
			if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return hogpipe.Errorf(hogpipe.EMalformed, "JSON nested deeper than %d levels", max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func malformed(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return hogpipe.Errorf(hogpipe.EMalformed, "malformed JSON at byte %d: %s", se.Offset, se.Error())
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return hogpipe.Errorf(hogpipe.EMalformed, "malformed JSON: unexpected end of input")
	}
	return hogpipe.Errorf(hogpipe.EMalformed, "malformed JSON: %s", err.Error())
}

// fields is a JSON object with typed accessors that name the field at fault.
type fields struct {
	m      map[string]any
	prefix string
}

func (f fields) str(key string) (string, bool, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, hogpipe.FieldError(f.prefix+key, "must be a string, got %s", typeName(v))
	}
	return s, true, nil
}

// id reads a string or a number: PostHog distinct_ids are strings, but
// some SDKs send numeric user ids.
func (f fields) id(key string) (string, error) {
	switch v := f.m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	default:
		return "", hogpipe.FieldError(f.prefix+key, "must be a string or number, got %s", typeName(v))
	}
}

func (f fields) obj(key string) (map[string]any, error) {
	v, ok := f.m[key]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, hogpipe.FieldError(f.prefix+key, "must be an object, got %s", typeName(v))
	}
	return m, nil
}

// timestamp reads an ISO 8601 time, as PostHog prints them.
func (f fields) timestamp(key string) (time.Time, bool, error) {
	s, ok, err := f.str(key)
	if err != nil || !ok || s == "" {
		return time.Time{}, false, err
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, false, hogpipe.FieldError(f.prefix+key, "not an ISO 8601 time: %q", truncate(s, 40))
	}
	return t, true, nil
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999", // no zone: PostHog means UTC
	"2006-01-02 15:04:05.999999999", // ClickHouse's way, seen in exports
	"2006-01-02 15:04:05.999999999Z07:00",
}

// ParseTime parses the time formats PostHog emits.
func ParseTime(s string) (time.Time, error) {
	var err error
	for _, l := range timeLayouts {
		var t time.Time
		if t, err = time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, err
}

// unixTime reads "$time"-style float seconds.
func unixTime(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC().Truncate(time.Millisecond), true
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func index(prefix string, i int) string { return prefix + "[" + strconv.Itoa(i) + "]." }
