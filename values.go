package hogpipe

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The rules for values hogpipe stores, checked once at the door
// (ValidateEvent) so that everything stored can be read back by every
// reader — Go, SQLite's and PostgreSQL's JSON functions, Python, pandas:
//
//   - Strings (values and object keys, at any depth) must be valid UTF-8
//     without U+0000: PostgreSQL's text and jsonb cannot hold U+0000, and
//     a NUL cuts C strings short.
//   - Numbers must fit a float64: a literal whose magnitude rounds beyond
//     ±1.797…e308 (1e999) is refused, since most readers cannot hold it.
//     Numbers that fit are kept exactly as written, so a 20-digit id keeps
//     every digit (readers that use float64 may round it; hogpipe doesn't).

// checkString refuses strings a database cannot hold.
func checkString(field, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return FieldError(field, "contains U+0000 (NUL), which cannot be stored")
	}
	if !utf8.ValidString(s) {
		return FieldError(field, "is not valid UTF-8")
	}
	return nil
}

// checkNumber refuses numbers beyond float64's range.
func checkNumber(field string, n json.Number) error {
	f, err := strconv.ParseFloat(string(n), 64)
	if err == nil {
		return nil
	}
	if math.IsInf(f, 0) {
		return FieldError(field, "number %s is beyond the range of a 64-bit float (±1.8e308)", truncateNumber(string(n)))
	}
	return FieldError(field, "%q is not a number", truncateNumber(string(n)))
}

func truncateNumber(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// CheckValue checks a decoded JSON value (as encoding/json decodes into
// any, with or without UseNumber) against the rules above, naming the field
// at fault by its path ("properties.a.b[2]").
func CheckValue(field string, v any) error {
	switch v := v.(type) {
	case string:
		return checkString(field, v)
	case json.Number:
		return checkNumber(field, v)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return FieldError(field, "number is not finite")
		}
	case float32:
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			return FieldError(field, "number is not finite")
		}
	case map[string]any:
		return checkObject(field, v)
	case []any:
		for i, x := range v {
			if err := CheckValue(field+"["+strconv.Itoa(i)+"]", x); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkObject checks an object's keys and values.
func checkObject(field string, m map[string]any) error {
	for k, x := range m {
		path := k
		if len(path) > 60 || !utf8.ValidString(path) || strings.IndexByte(path, 0) >= 0 {
			// Name the object; a key that cannot be shown stays out of
			// the message.
			if err := checkString(field+" (a key)", k); err != nil {
				return err
			}
			path = strings.ToValidUTF8(path[:min(len(path), 60)], "") + "…"
		}
		if field != "" {
			path = field + "." + path
		}
		if err := CheckValue(path, x); err != nil {
			return err
		}
	}
	return nil
}
