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
	for _, loc := range emailRE.FindAllStringIndex(s, -1) {
		start, end := loc[0], loc[1]
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
