package compare

// The redactor as it was before issue #13 (main at 5b8c9f8): hand-written
// regular expressions, each kind run alone on the original text, overlaps
// settled in the old order. Kept here, test-only, as the baseline the
// measured detectors are compared with (make redact-report).

import (
	"net"
	"regexp"
	"slices"
	"strings"

	"github.com/hogpipe/hogpipe/redact"
)

type Span = redact.Span

const (
	Secret = redact.Secret
	Email  = redact.Email
	Card   = redact.Card
	IP     = redact.IP
	Phone  = redact.Phone
)

func oldFind(s string) []Span {
	var spans []Span
	for _, k := range []string{Secret, Email, Card, IP, Phone} {
		oldApply(k, s, &spans)
	}
	// The old redactor replaced kind after kind: an earlier kind's finding
	// hides any overlapping later one.
	var kept []Span
	for _, sp := range spans {
		if !slices.ContainsFunc(kept, func(k Span) bool { return k.Start < sp.End && sp.Start < k.End }) {
			kept = append(kept, sp)
		}
	}
	slices.SortFunc(kept, func(a, b Span) int { return a.Start - b.Start })
	return kept
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

// luhn as the old redactor had it (the same check as redact's, written
// apart: a doubled digit counts its two digits).
func luhn(d string) bool {
	if len(d) < 13 || len(d) > 19 {
		return false
	}
	sum := 0
	for i := range len(d) {
		n := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			n = n*2/10 + n*2%10
		}
		sum += n
	}
	return sum%10 == 0
}

var (
	oldSecretRE = regexp.MustCompile(`\b(?:sk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}|phc_[A-Za-z0-9]{20,}|phx_[A-Za-z0-9]{20,}|` +
		`(?:ghp|gho|ghs|ghu)_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|` +
		`key-[0-9a-f]{32}|[0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{40,}={0,2})`)
	oldEmailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	oldCardRE  = regexp.MustCompile(`\b\d(?:[ -]?\d){12,18}\b`)
	oldIPv4RE  = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}\b`)
	oldIPv6RE  = regexp.MustCompile(`(?i)\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\b`)
	oldPhoneRE = regexp.MustCompile(`(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}|\+\d{8,15}`)
)

func oldApply(kind, s string, spans *[]Span) {
	replace := func(re *regexp.Regexp, _ string, ok func(m string, start, end int) bool) {
		for _, loc := range re.FindAllStringIndex(s, -1) {
			if ok(s[loc[0]:loc[1]], loc[0], loc[1]) {
				*spans = append(*spans, Span{Kind: kind, Start: loc[0], End: loc[1]})
			}
		}
	}
	switch kind {
	case Secret:
		replace(oldSecretRE, "[SECRET]", func(m string, _, _ int) bool { return oldLooksSecret(m) })
	case Email:
		replace(oldEmailRE, "[EMAIL]", func(string, int, int) bool { return true })
	case Card:
		replace(oldCardRE, "[CARD]", func(m string, _, _ int) bool { return luhn(digits(m)) })
	case IP:
		replace(oldIPv4RE, "[IP]", func(m string, start, end int) bool {
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
		replace(oldIPv6RE, "[IP]", func(m string, _, _ int) bool {
			return strings.Count(m, ":") >= 2 && net.ParseIP(m) != nil && strings.ContainsAny(m, "0123456789abcdefABCDEF")
		})
	case Phone:
		replace(oldPhoneRE, "[PHONE]", func(m string, start, end int) bool {
			// Inside a longer token (an id, a hash) it is not a number.
			if start > 0 && oldIsWordOrDash(s[start-1]) || end < len(s) && oldIsWordOrDash(s[end]) {
				return false
			}
			d := digits(m)
			if len(d) < 9 || len(d) > 15 {
				return false
			}
			// Dates and times are digits with separators too.
			if strings.Count(m, ":") > 0 || oldLooksLikeDate(m) {
				return false
			}
			// A dotted run is a version or an address, not a number to call.
			if strings.Contains(m, ".") && !strings.ContainsAny(m, " -()+") {
				return false
			}
			return true
		})
	}
}

func oldLooksSecret(m string) bool {
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

func oldIsWordOrDash(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func oldLooksLikeDate(m string) bool {
	parts := strings.FieldsFunc(m, func(r rune) bool { return r == '-' || r == '.' || r == '/' || r == ' ' })
	return len(parts) == 3 && (len(parts[0]) == 4 || len(parts[2]) == 4) && len(digits(m)) == 8
}
