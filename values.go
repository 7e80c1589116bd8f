package hogpipe

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The rules for values hogpipe stores, checked once at the door
// (ValidateEvent) so that everything stored can be read back by every
// reader — Go, SQLite's and PostgreSQL's JSON functions, Python, pandas:
//
//   - Strings (values and object keys, at any depth) must not hold U+0000:
//     PostgreSQL's text and jsonb cannot, and a NUL cuts C strings short.
//     The event's name and ids must also be valid UTF-8; elsewhere the JSON
//     codec guarantees it (invalid bytes become U+FFFD).
//   - Numbers must fit a float64: a literal whose magnitude rounds beyond
//     ±1.797…e308 (1e999) is refused, since most readers cannot hold it.
//     Numbers that fit are kept exactly as written, so a 20-digit id keeps
//     every digit (readers that use float64 may round it; hogpipe doesn't).

// checkString refuses strings a database cannot hold. Used for the
// event's own name and ids, which go into plain text columns.
func checkString(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return FieldError(field, nulMessage)
	}
	if !utf8.ValidString(s) {
		return FieldError(field, "is not valid UTF-8")
	}
	return nil
}

const nulMessage = "contains U+0000 (NUL), which cannot be stored"

// numberProblem says what is wrong with a number literal, or "".
func numberProblem(n json.Number) string {
	f, err := strconv.ParseFloat(string(n), 64)
	switch {
	case err == nil:
		return ""
	case math.IsInf(f, 0):
		return fmt.Sprintf("number %s is beyond the range of a 64-bit float (±1.8e308)", truncateNumber(string(n)))
	}
	return fmt.Sprintf("%q is not a number", truncateNumber(string(n)))
}

func truncateNumber(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// badValue is where findBad found a value the rules refuse: the path to
// it, innermost step first (built only on failure, so the walk over a
// good event allocates nothing), and what is wrong.
type badValue struct {
	path []string
	key  bool // the object's key at path is at fault, not its value
	msg  string
}

// findBad walks a decoded JSON value (as encoding/json decodes into any,
// with or without UseNumber). Strings are checked for U+0000 only: the
// JSON decoder never yields invalid UTF-8 (it writes U+FFFD), and
// json.Marshal repairs it for values built in Go.
func findBad(v any) *badValue {
	switch v := v.(type) {
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return &badValue{msg: nulMessage}
		}
	case json.Number:
		if msg := numberProblem(v); msg != "" {
			return &badValue{msg: msg}
		}
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return &badValue{msg: "number is not finite"}
		}
	case float32:
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			return &badValue{msg: "number is not finite"}
		}
	case map[string]any:
		for k, x := range v {
			if strings.IndexByte(k, 0) >= 0 {
				return &badValue{key: true, msg: "a key " + nulMessage}
			}
			if b := findBad(x); b != nil {
				b.path = append(b.path, keyStep(k))
				return b
			}
		}
	case []any:
		for i, x := range v {
			if b := findBad(x); b != nil {
				b.path = append(b.path, "["+strconv.Itoa(i)+"]")
				return b
			}
		}
	}
	return nil
}

// keyStep is an object key as a step of a field path; a long key is cut.
func keyStep(k string) string {
	if len(k) > 60 {
		k = strings.ToValidUTF8(k[:60], "") + "…"
	}
	return "." + k
}

// CheckValue checks a decoded JSON value against the rules above, naming
// the field at fault by its path ("properties.a.b[2]"); field names v.
func CheckValue(field string, v any) error {
	b := findBad(v)
	if b == nil {
		return nil
	}
	var path strings.Builder
	path.WriteString(field)
	for i := len(b.path) - 1; i >= 0; i-- {
		path.WriteString(b.path[i])
	}
	if b.key {
		path.WriteString(" (a key)")
	}
	return FieldError(path.String(), "%s", b.msg)
}
