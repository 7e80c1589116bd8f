package posthog

import (
	"bytes"
	"encoding/json"

	"github.com/hogpipe/hogpipe"
)

// shape is what one pass over a JSON body tells before anything is
// decoded: decoding builds a map or an interface per value (~30–100 bytes
// for a one-byte "0"), so a 1 MiB body of [0,0,0,…] would become ~33 MiB
// of garbage before the token or the event count were looked at. The scan
// allocates nothing, so the limits are checked at the cost of one read of
// the bytes.
type shape struct {
	// top is the first byte of the top-level value ('{', '[' or other).
	top byte
	// values counts every JSON value (scalars and containers, keys not
	// included): what decoding will allocate, to within a constant.
	values int
	// events is the element count of the top-level array, or of the
	// top-level "batch" array of an envelope; -1 when the body is one event.
	events int
	// token is the envelope's top-level api_key (else token) when it is a
	// non-empty string; "" when the envelope does not carry one there.
	token string
}

// scanShape reads b once. It is exact for valid JSON; on invalid JSON its
// counts may be off, which is harmless: the decoder that runs afterwards
// reports the syntax error.
func scanShape(b []byte, maxDepth int) (shape, error) {
	sh := shape{events: -1}
	const (
		expectValue = iota
		expectKey
		expectOther
	)
	var kinds [MaxDepth + 2]byte // container kind at each depth
	if maxDepth > MaxDepth {
		maxDepth = MaxDepth
	}
	depth, expect := 0, expectValue
	countDepth := -1 // depth whose direct children are the events
	var key []byte   // last key read at depth 1 of a top-level object
	var apiKey, token []byte
	value := func() {
		sh.values++
		if depth == countDepth {
			sh.events++
		}
		if depth == 1 && sh.top == '{' {
			// A repeated key: the last one counts, as for the decoder.
			switch {
			case keyIs(key, "api_key"):
				apiKey = nil
			case keyIs(key, "token"):
				token = nil
			case keyIs(key, "batch"):
				sh.events = -1
			}
		}
	}
	for i := 0; i < len(b); {
		c := b[i]
		switch c {
		case ' ', '\t', '\n', '\r':
			i++
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			s := b[i:min(j+1, len(b))]
			if expect == expectKey {
				if depth == 1 {
					key = s
				}
			} else {
				value()
				if depth == 1 && sh.top == '{' {
					switch {
					case keyIs(key, "api_key"):
						apiKey = s
					case keyIs(key, "token"):
						token = s
					}
				}
			}
			expect = expectOther
			i = j + 1
		case '{', '[':
			value()
			depth++
			if depth > maxDepth {
				return sh, hogpipe.Errorf(hogpipe.EMalformed, "JSON nested deeper than %d levels", maxDepth)
			}
			kinds[depth] = c
			switch {
			case depth == 1:
				sh.top = c
				if c == '[' {
					sh.events, countDepth = 0, 1
				}
			case depth == 2 && c == '[' && sh.top == '{' && keyIs(key, "batch"):
				sh.events, countDepth = 0, 2
			}
			expect = expectValue
			if c == '{' {
				expect = expectKey
			}
			i++
		case '}', ']':
			if depth == countDepth && depth == 2 {
				countDepth = -1 // the batch array ended; its count stays
			}
			if depth > 0 {
				depth--
			}
			expect = expectOther
			i++
		case ',':
			expect = expectValue
			if depth > 0 && kinds[depth] == '{' {
				expect = expectKey
			}
			i++
		case ':':
			expect = expectValue
			i++
		default: // a number, true, false, null, or garbage the decoder will name
			value()
			for i < len(b) && !delimiter(b[i]) {
				i++
			}
			expect = expectOther
		}
	}
	if s := unquote(apiKey); s != "" {
		sh.token = s
	} else {
		sh.token = unquote(token)
	}
	return sh, nil
}

// keyIs compares a raw key (with its quotes) to name; a key written with
// escapes is unquoted first.
func keyIs(raw []byte, name string) bool {
	if len(raw) == len(name)+2 && string(raw[1:len(raw)-1]) == name {
		return true
	}
	return bytes.IndexByte(raw, '\\') >= 0 && unquote(raw) == name
}

func unquote(raw []byte) string {
	if len(raw) < 2 {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

func delimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ':', '[', ']', '{', '}', '"':
		return true
	}
	return false
}
