package redact

import (
	"testing"
	"unicode/utf8"
)

// FuzzText: redaction never panics, never grows the text by more than a
// placeholder's worth per finding, is idempotent, and never leaves part of
// a finding in clear beside its placeholder (a letter or digit glued to
// either end of a replaced span).
func FuzzText(f *testing.F) {
	for _, s := range []string{
		"zoë.müller@example.com", "call +44 7700 900123 or 030 12345678", "card 4111 1111 1111 1111 12/29",
		"DE89 3704 0044 0532 0130 00", "::1 abc::def 2001:db8::1", "sk-proj-abcDEF1234567890abcdef",
		"-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----", "128 256 512 1024",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijkl", "password=Sup3rSecretValue!", "a@b.cc@d.ee",
		"x07700 900123y", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWYZZ", "1.2.3.4.5 10.0.0.1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, kinds := Text(s, All)
		spans := Find(s, All)
		if len(spans) == 0 && (out != s || kinds != nil) {
			t.Fatalf("nothing found but %q became %q %v", s, out, kinds)
		}
		// Each finding is at least 3 bytes and its placeholder at most 8.
		if len(out) > len(s)+5*len(spans) {
			t.Fatalf("grew from %d to %d bytes with %d findings", len(s), len(out), len(spans))
		}
		if again, k := Text(out, All); again != out || k != nil {
			t.Fatalf("not idempotent:\n%q\n%q\n%q %v", s, out, again, k)
		}
		last := 0
		for _, sp := range spans {
			if sp.Start < last || sp.End <= sp.Start || sp.End > len(s) {
				t.Fatalf("bad span %v in %q", sp, s)
			}
			last = sp.End
			if gluedToWord(s, sp.Start, sp.End) {
				t.Fatalf("partial %s %q in %q", sp.Kind, s[sp.Start:sp.End], s)
			}
			if utf8.ValidString(s) && !utf8.ValidString(s[sp.Start:sp.End]) {
				t.Fatalf("span %v cuts a character in %q", sp, s)
			}
		}
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", out)
		}
	})
}
