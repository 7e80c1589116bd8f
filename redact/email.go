package redact

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// emailRE matches addresses with Unicode local parts and domains (RFC 6531
// and IDNA), so that "zoë.müller@example.com" goes whole, not from the
// first ASCII letter. The top-level domain is letters (Unicode ones too)
// or an A-label, which keeps "react@19.3.1" and "user@localhost" out.
var emailRE = regexp.MustCompile(`[\p{L}\p{M}\p{N}._%+'-]+@(?:[\p{L}\p{M}\p{N}](?:[\p{L}\p{M}\p{N}-]*[\p{L}\p{M}\p{N}])?\.)+(?:xn--[a-z0-9-]{2,}|[\p{L}\p{M}]{2,63})`)

func findEmails(s string, spans []Span) []Span {
	// The regexp runs only around each "@" (local parts are at most 64
	// bytes, domains 255), which keeps long texts linear.
	done := 0
	for off := 0; ; {
		k := strings.IndexByte(s[off:], '@')
		if k < 0 {
			break
		}
		at := off + k
		off = at + 1
		if at < done {
			continue
		}
		from, to := max(done, at-128), min(len(s), at+256)
		loc := emailRE.FindStringIndex(s[from:to])
		if loc == nil || from+loc[0] > at || from+loc[1] <= at {
			continue
		}
		start, end := from+loc[0], from+loc[1]
		done = end
		// A quote or dot before the name is punctuation, not address.
		for start < end && strings.ContainsRune(".'%+-", rune(s[start])) {
			start++
		}
		if s[start] == '@' {
			continue
		}
		// A letter straight after the TLD means the regexp stopped inside
		// a word it cannot match (mixed scripts): leave the whole alone
		// rather than cut it.
		if r, _ := utf8.DecodeRuneInString(s[end:]); end < len(s) && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			continue
		}
		spans = append(spans, Span{Email, start, end})
	}
	return spans
}
