// Package redact replaces personal data and secrets in free text with typed
// placeholders ([EMAIL], [PHONE], [CARD], [IBAN], [IP], [SECRET]) before the
// text becomes training data.
//
// Every kind is found by a cheap candidate pattern and then confirmed by
// what makes the data what it is: a card number passes Luhn and belongs to
// a card network, an IBAN passes its mod-97 check for its country's length,
// a phone number is valid in libphonenumber's metadata, a secret has the
// shape of a known credential format. Near misses stay untouched: a version
// is not an IP address, a list of numbers is not a phone number, a git hash
// is not a secret. How well this works is measured on the labelled corpus
// in testdata/ (see corpus_test.go and docs/training-data.md).
package redact

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of data redacted, as recorded in each training line.
const (
	Email  = "email"
	Phone  = "phone"
	Card   = "card"
	IBAN   = "iban"
	IP     = "ip"
	Secret = "secret"
)

// All lists every kind, in the order the training line reports them. When
// two findings overlap, the earlier kind wins (a private-key block holds
// base64 that could look like anything; an IBAN holds digit runs).
var All = []string{Secret, Email, IBAN, Card, IP, Phone}

// finders holds each kind's detector; each appends its findings to spans.
var finders = map[string]func(s string, spans []Span) []Span{
	Secret: findSecrets, Email: findEmails, Card: findCards, IBAN: findIBANs, IP: findIPs, Phone: findPhones,
}

// Placeholder is what replaces a finding of the kind.
func Placeholder(kind string) string { return "[" + strings.ToUpper(kind) + "]" }

// ParseKinds reads a comma-separated list ("all" and "none" too).
func ParseKinds(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "none", "off", "false":
		return nil, nil
	case "all", "on", "true":
		return All, nil
	}
	var out []string
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(All, k) {
			return nil, fmt.Errorf("unknown kind %q; use %s, all or none", k, strings.Join(All, ", "))
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Span is one finding: s[Start:End] is data of Kind.
type Span struct {
	Kind       string
	Start, End int
}

// Find returns the findings of the kinds asked for, in text order, never
// overlapping.
func Find(s string, kinds []string) []Span {
	if len(kinds) == 0 || s == "" {
		return nil
	}
	c := scan(s)
	var spans []Span
	for _, k := range All {
		if !slices.Contains(kinds, k) || !c.mayHold(k) {
			continue
		}
		spans = finders[k](s, spans)
	}
	// A finding glued to a letter or digit would leave part of a word in
	// clear beside its placeholder (zoë.mü[EMAIL]): the whole is left
	// alone instead, whatever the detector.
	kept := spans[:0]
	for _, sp := range spans {
		if !gluedToWord(s, sp.Start, sp.End) {
			kept = append(kept, sp)
		}
	}
	return resolve(kept)
}

func gluedToWord(s string, start, end int) bool {
	if r, _ := utf8.DecodeLastRuneInString(s[:start]); start > 0 && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)) {
		return true
	}
	if r, _ := utf8.DecodeRuneInString(s[end:]); end < len(s) && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r)) {
		return true
	}
	return false
}

// resolve drops findings that overlap an earlier-kind (or, within a kind,
// an earlier or longer) finding, and sorts the rest by position.
func resolve(spans []Span) []Span {
	if len(spans) < 2 {
		return spans
	}
	rank := func(k string) int { return slices.Index(All, k) }
	slices.SortStableFunc(spans, func(a, b Span) int {
		if r := rank(a.Kind) - rank(b.Kind); r != 0 {
			return r
		}
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return (b.End - b.Start) - (a.End - a.Start)
	})
	kept := spans[:0:0]
	for _, sp := range spans {
		// kept is sorted by Start; find where sp would go and look at
		// both neighbours.
		i, _ := slices.BinarySearchFunc(kept, sp.Start, func(k Span, start int) int { return k.Start - start })
		if i > 0 && kept[i-1].End > sp.Start || i < len(kept) && kept[i].Start < sp.End {
			continue
		}
		kept = slices.Insert(kept, i, sp)
	}
	return kept
}

// Text redacts the kinds asked for and returns the new text and the kinds
// that were found (in All's order).
func Text(s string, kinds []string) (string, []string) {
	spans := Find(s, kinds)
	if len(spans) == 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	var found []string
	for _, sp := range spans {
		b.WriteString(s[last:sp.Start])
		b.WriteString(Placeholder(sp.Kind))
		last = sp.End
		if !slices.Contains(found, sp.Kind) {
			found = append(found, sp.Kind)
		}
	}
	b.WriteString(s[last:])
	slices.SortFunc(found, func(a, b string) int { return slices.Index(All, a) - slices.Index(All, b) })
	return b.String(), found
}

// shape is what one pass over the text tells about it, so that most
// prompts skip most detectors (they run on every training example, on the
// ingest path).
type shape struct {
	digits, dots, colons, equals, longestWord, upper int
	at                                               bool
}

func scan(s string) shape {
	var c shape
	word := 0
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= '0' && b <= '9':
			c.digits++
		case b == '.':
			c.dots++
		case b == ':':
			c.colons++
		case b == '=':
			c.equals++
		case b == '@':
			c.at = true
		case b >= 'A' && b <= 'Z':
			c.upper++
		}
		if b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || b == '-' || b == '+' || b == '/' || b == '=' || b == '.' {
			word++
			c.longestWord = max(c.longestWord, word)
		} else {
			word = 0
		}
	}
	return c
}

func (c shape) mayHold(kind string) bool {
	switch kind {
	case Secret:
		// A credential setting's value may hold any punctuation.
		return c.longestWord >= 12 || c.colons > 0 || c.equals > 0
	case Email:
		return c.at
	case Card:
		return c.digits >= 12
	case IBAN:
		return c.digits >= 10 && c.upper >= 2
	case IP:
		return c.digits >= 4 && c.dots >= 3 || c.colons >= 2
	case Phone:
		return c.digits >= 7
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
