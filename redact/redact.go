// Package redact replaces personal data and secrets in free text with typed
// placeholders ([EMAIL], [PHONE], [CARD], [IP], [SECRET]) before the text
// becomes training data. It errs towards near misses staying untouched:
// a version number is not an IP address, a 16-digit number that fails the
// Luhn check is not a card.
package redact

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
)

// Kinds of data redacted, as recorded in each training line.
const (
	Email  = "email"
	Phone  = "phone"
	Card   = "card"
	IP     = "ip"
	Secret = "secret"
)

// All lists every kind, in the order they are applied.
var All = []string{Secret, Email, Card, IP, Phone}

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

var (
	secretRE = regexp.MustCompile(`\b(?:sk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}|phc_[A-Za-z0-9]{20,}|phx_[A-Za-z0-9]{20,}|` +
		`(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|` +
		`key-[0-9a-f]{32}|[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})`)
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	cardRE  = regexp.MustCompile(`\b\d(?:[ -]?\d){12,18}\b`)
	ipv4RE  = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}\b`)
	ipv6RE  = regexp.MustCompile(`(?i)\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b`)
	phoneRE = regexp.MustCompile(`(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}|\+\d{8,15}`)
)

// Text redacts the kinds asked for and returns the new text and the kinds
// that were found (in All's order).
func Text(s string, kinds []string) (string, []string) {
	var found []string
	c := scan(s)
	for _, k := range All {
		if !slices.Contains(kinds, k) || !c.mayHold(k) {
			continue
		}
		var n int
		s, n = apply(k, s)
		if n > 0 {
			found = append(found, k)
		}
	}
	return s, found
}

func apply(kind, s string) (string, int) {
	n := 0
	replace := func(re *regexp.Regexp, placeholder string, ok func(m string, start, end int) bool) {
		var b strings.Builder
		last := 0
		for _, loc := range re.FindAllStringIndex(s, -1) {
			m := s[loc[0]:loc[1]]
			if !ok(m, loc[0], loc[1]) {
				continue
			}
			b.WriteString(s[last:loc[0]])
			b.WriteString(placeholder)
			last = loc[1]
			n++
		}
		if last > 0 {
			b.WriteString(s[last:])
			s = b.String()
		}
	}
	switch kind {
	case Secret:
		replace(secretRE, "[SECRET]", func(m string, _, _ int) bool { return looksSecret(m) })
	case Email:
		replace(emailRE, "[EMAIL]", func(string, int, int) bool { return true })
	case Card:
		replace(cardRE, "[CARD]", func(m string, _, _ int) bool { return luhn(digits(m)) })
	case IP:
		replace(ipv4RE, "[IP]", func(m string, start, end int) bool {
			// Part of a longer dotted run (1.2.3.4.5) or after a "v": a version.
			if start > 0 && (s[start-1] == '.' || s[start-1] == 'v' || s[start-1] == 'V') {
				return false
			}
			if end+1 < len(s) && s[end] == '.' && s[end+1] >= '0' && s[end+1] <= '9' {
				return false
			}
			ip := net.ParseIP(m)
			return ip != nil && ip.To4() != nil
		})
		replace(ipv6RE, "[IP]", func(m string, _, _ int) bool {
			return strings.Count(m, ":") >= 2 && net.ParseIP(m) != nil && strings.ContainsAny(m, "0123456789abcdefABCDEF")
		})
	case Phone:
		replace(phoneRE, "[PHONE]", func(m string, start, end int) bool {
			// Inside a longer token (an id, a hash) it is not a number.
			if start > 0 && isWordOrDash(s[start-1]) || end < len(s) && isWordOrDash(s[end]) {
				return false
			}
			d := digits(m)
			if len(d) < 9 || len(d) > 15 {
				return false
			}
			// Dates and times are digits with separators too.
			if strings.Count(m, ":") > 0 || looksLikeDate(m) {
				return false
			}
			// A dotted run is a version or an address, not a number to call.
			if strings.Contains(m, ".") && !strings.ContainsAny(m, " -()+") {
				return false
			}
			return true
		})
	}
	return s, n
}

// shape is what one pass over the text tells about it, so that most
// prompts skip most regular expressions (they run on every training
// example, on the ingest path).
type shape struct {
	digits, dots, colons, longestWord int
	at                                bool
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
		case b == '@':
			c.at = true
		}
		if b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b == '_' || b == '-' || b == '+' || b == '/' || b == '=' {
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
		return c.longestWord >= 16
	case Email:
		return c.at
	case Card:
		return c.digits >= 13
	case IP:
		return c.digits >= 4 && c.dots >= 3 || c.colons >= 2
	case Phone:
		return c.digits >= 9
	}
	return true
}

// looksSecret keeps long words out: a secret mixes letters and digits.
func looksSecret(m string) bool {
	if strings.HasPrefix(m, "sk-") || strings.HasPrefix(m, "phc_") || strings.HasPrefix(m, "phx_") ||
		strings.HasPrefix(m, "gh") || strings.HasPrefix(m, "github_pat_") || strings.HasPrefix(m, "xox") ||
		strings.HasPrefix(m, "AKIA") || strings.HasPrefix(m, "key-") {
		return true
	}
	hasDigit, hasLetter := false, false
	for _, c := range m {
		switch {
		case c >= '0' && c <= '9':
			hasDigit = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			hasLetter = true
		}
	}
	return hasDigit && hasLetter
}

func isWordOrDash(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func looksLikeDate(m string) bool {
	parts := strings.FieldsFunc(m, func(r rune) bool { return r == '-' || r == '.' || r == '/' || r == ' ' })
	return len(parts) == 3 && (len(parts[0]) == 4 || len(parts[2]) == 4) && len(digits(m)) == 8
}

func digits(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// luhn is the payment-card checksum; it also rules out most random runs.
func luhn(d string) bool {
	if len(d) < 13 || len(d) > 19 {
		return false
	}
	sum, double := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}
