package redact

import (
	"net/netip"
	"strings"
)

// dottedQuad reads four groups of one to three digits joined by dots.
func dottedQuad(s string, i int) (int, bool) {
	for g := 0; g < 4; g++ {
		if g > 0 {
			if i >= len(s) || s[i] != '.' {
				return i, false
			}
			i++
		}
		n := 0
		for i < len(s) && isDigit(s[i]) && n < 4 {
			i++
			n++
		}
		if n == 0 || n > 3 {
			return i, false
		}
	}
	return i, true
}

func ipv6Byte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

func findIPs(s string, spans []Span) []Span {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) || i > 0 && isDigit(s[i-1]) {
			continue
		}
		end, ok := dottedQuad(s, i)
		if !ok {
			continue
		}
		start := i
		// Part of a longer dotted run (1.2.3.4.5), inside a word, or after
		// a "v": a version.
		if start > 0 {
			c := s[start-1]
			if isAlnum(c) || c == '.' || c == '_' || c == '-' {
				continue
			}
		}
		if end < len(s) && (isAlnum(s[end]) || s[end] == '_' || (s[end] == '.' || s[end] == '-') && end+1 < len(s) && isDigit(s[end+1])) {
			continue
		}
		if a, err := netip.ParseAddr(s[start:end]); err != nil || !a.Is4() {
			continue
		}
		spans = append(spans, Span{IP, start, end})
	}
	if strings.Count(s, ":") < 2 {
		return spans
	}
	// IPv6 candidates: runs of hex digits, colons and (for an embedded
	// IPv4 tail) dots holding two colons or more.
	for i := 0; i < len(s); {
		if !ipv6Byte(s[i]) {
			i++
			continue
		}
		start := i
		colons := 0
		for i < len(s) && ipv6Byte(s[i]) {
			if s[i] == ':' {
				colons++
			}
			i++
		}
		end := i
		// A sentence's full stop is not part of the address.
		for end > start && s[end-1] == '.' {
			end--
		}
		if colons < 2 || end-start < 3 {
			continue
		}
		m := s[start:end]
		// In code, "abc::def" is a path and "12:30:45" a time: an address
		// has a digit and either eight groups or a "::".
		if !strings.ContainsAny(m, "0123456789") || !strings.Contains(m, "::") && strings.Count(m, ":") != 7 && !strings.Contains(m, ".") {
			continue
		}
		if start > 0 {
			c := s[start-1]
			if isAlnum(c) || c == '_' || c == ':' || c == '.' {
				continue
			}
		}
		if end < len(s) && (isAlnum(s[end]) || s[end] == '_' || s[end] == ':') {
			continue
		}
		a, err := netip.ParseAddr(m)
		if err != nil || !a.Is6() {
			continue
		}
		spans = append(spans, Span{IP, start, end})
	}
	return spans
}
