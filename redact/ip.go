package redact

import (
	"net/netip"
	"regexp"
	"strings"
)

var (
	ipv4RE = regexp.MustCompile(`\d{1,3}(?:\.\d{1,3}){3}`)
	// ipv6RE finds runs of hex groups and colons, compressed forms and an
	// embedded IPv4 tail included; netip decides.
	ipv6RE = regexp.MustCompile(`(?i)(?:[0-9a-f]{1,4}|:)(?::{1,2}[0-9a-f]{1,4}){1,7}(?:::)?(?:\.\d{1,3}){0,3}`)
)

func findIPs(s string, spans []Span) []Span {
	for _, loc := range ipv4RE.FindAllStringIndex(s, -1) {
		start, end := loc[0], loc[1]
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
	for _, loc := range ipv6RE.FindAllStringIndex(s, -1) {
		start, end := loc[0], loc[1]
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
