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

// span is a byte range of the body being scanned; offsets rather than
// slices, because a body scanned as it arrives moves when its buffer grows.
type span struct{ start, end int }

func (s span) of(b []byte) []byte { return b[s.start:s.end] }

// scanner is the scan, resumable: feed it the body so far, as often as
// more arrives, and it picks up where it stopped (before a string or a
// literal it has not seen the end of).
type scanner struct {
	sh               shape
	maxDepth         int
	kinds            [MaxDepth + 2]byte // container kind at each depth
	depth, expect    int
	countDepth       int  // depth whose direct children are the events
	key, apiKey, tok span // last key at depth 1 of a top-level object; token values
	haveKey, haveAPI bool
	haveTok          bool
	pos              int
}

const (
	expectValue = iota
	expectKey
	expectOther
)

func newScanner(maxDepth int) *scanner {
	return &scanner{sh: shape{events: -1}, maxDepth: min(maxDepth, MaxDepth), countDepth: -1}
}

// scanShape reads b once. It is exact for valid JSON; on invalid JSON its
// counts may be off, which is harmless: the decoder that runs afterwards
// reports the syntax error.
func scanShape(b []byte, maxDepth int) (shape, error) {
	s := newScanner(maxDepth)
	if err := s.feed(b, true); err != nil {
		return s.sh, err
	}
	return s.result(b), nil
}

func (s *scanner) isKey(b []byte, name string) bool { return s.haveKey && keyIs(s.key.of(b), name) }

func (s *scanner) value(b []byte) {
	s.sh.values++
	if s.depth == s.countDepth {
		s.sh.events++
	}
	if s.depth == 1 && s.sh.top == '{' {
		// A repeated key: the last one counts, as for the decoder.
		switch {
		case s.isKey(b, "api_key"):
			s.haveAPI = false
		case s.isKey(b, "token"):
			s.haveTok = false
		case s.isKey(b, "batch"):
			s.sh.events = -1
		}
	}
}

// feed scans b (the whole body so far) from where the last call stopped;
// final says no more will come.
func (s *scanner) feed(b []byte, final bool) error {
	for s.pos < len(b) {
		i := s.pos
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
			if j >= len(b) && !final {
				return nil // the rest of the string has not arrived
			}
			str := span{i, min(j+1, len(b))}
			if s.expect == expectKey {
				if s.depth == 1 {
					s.key, s.haveKey = str, true
				}
			} else {
				s.value(b)
				if s.depth == 1 && s.sh.top == '{' {
					switch {
					case s.isKey(b, "api_key"):
						s.apiKey, s.haveAPI = str, true
					case s.isKey(b, "token"):
						s.tok, s.haveTok = str, true
					}
				}
			}
			s.expect = expectOther
			i = str.end
		case '{', '[':
			s.value(b)
			s.depth++
			if s.depth > s.maxDepth {
				return hogpipe.Errorf(hogpipe.EMalformed, "JSON nested deeper than %d levels", s.maxDepth)
			}
			s.kinds[s.depth] = c
			switch {
			case s.depth == 1:
				s.sh.top = c
				if c == '[' {
					s.sh.events, s.countDepth = 0, 1
				}
			case s.depth == 2 && c == '[' && s.sh.top == '{' && s.isKey(b, "batch"):
				s.sh.events, s.countDepth = 0, 2
			}
			s.expect = expectValue
			if c == '{' {
				s.expect = expectKey
			}
			i++
		case '}', ']':
			if s.depth == s.countDepth && s.depth == 2 {
				s.countDepth = -1 // the batch array ended; its count stays
			}
			if s.depth > 0 {
				s.depth--
			}
			s.expect = expectOther
			i++
		case ',':
			s.expect = expectValue
			if s.depth > 0 && s.kinds[s.depth] == '{' {
				s.expect = expectKey
			}
			i++
		case ':':
			s.expect = expectValue
			i++
		default: // a number, true, false, null, or garbage the decoder will name
			j := i
			for j < len(b) && !delimiter(b[j]) {
				j++
			}
			if j >= len(b) && !final {
				return nil // the literal may go on
			}
			s.value(b)
			s.expect = expectOther
			i = j
		}
		s.pos = i
	}
	return nil
}

// token is the envelope's token as far as the scan has seen.
func (s *scanner) token(b []byte) string {
	if s.haveAPI {
		if t := unquote(s.apiKey.of(b)); t != "" {
			return t
		}
	}
	if s.haveTok {
		return unquote(s.tok.of(b))
	}
	return ""
}

func (s *scanner) result(b []byte) shape {
	sh := s.sh
	sh.token = s.token(b)
	return sh
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

// CaptureLimits are the limits a capture body can be held to while it
// arrives.
type CaptureLimits struct {
	MaxEvents, MaxValues int
	KnownToken           func(string) bool
}

// BodyCheck checks a capture body as it arrives, so one that breaks a
// limit is refused after its first bytes, not after all of them: a plain
// JSON body's event count, value count, depth and envelope token. Gzip
// and base64 bodies are left to DecodeCapture.
type BodyCheck struct {
	lim  CaptureLimits
	scan *scanner
	off  bool
}

// NewBodyCheck starts checking one body.
func NewBodyCheck(lim CaptureLimits) *BodyCheck {
	return &BodyCheck{lim: lim, scan: newScanner(MaxDepth)}
}

// Check looks at the body read so far (all of it, from its first byte).
func (c *BodyCheck) Check(body []byte) error {
	if c.off {
		return nil
	}
	if c.scan.pos == 0 {
		t := bytes.TrimLeft(body, " \t\r\n")
		if len(t) == 0 {
			return nil
		}
		if !looksJSON(t) {
			c.off = true
			return nil
		}
	}
	if err := c.scan.feed(body, false); err != nil {
		return err
	}
	sh := &c.scan.sh
	if c.lim.MaxEvents > 0 && sh.events > c.lim.MaxEvents {
		return hogpipe.Errorf(hogpipe.ETooLarge, "more than %d events in one request", c.lim.MaxEvents)
	}
	if c.lim.MaxValues > 0 && sh.values > c.lim.MaxValues {
		return hogpipe.Errorf(hogpipe.ETooLarge, "more than %d JSON values in one request", c.lim.MaxValues)
	}
	if c.lim.KnownToken != nil {
		if tok := c.scan.token(body); tok != "" && !c.lim.KnownToken(tok) {
			return &hogpipe.Error{Code: hogpipe.EUnauthorized, Field: "api_key", Message: UnknownTokenMessage}
		}
	}
	return nil
}
