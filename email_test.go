package hogpipe

import "testing"

func TestNormalizeAddress(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Victim@Example.org", "victim@example.org"},
		{"VICTIM@example.org", "victim@example.org"},
		{"victim@EXAMPLE.org.", "victim@example.org"},
		{"  Zoë.Müller@Bücher.DE ", "zoë.müller@bücher.de"},
		{"a+tag@example.com", "a+tag@example.com"},
	} {
		if got := NormalizeAddress(tc.in); got != tc.want {
			t.Errorf("NormalizeAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := NormalizeAddress(NormalizeAddress(tc.in)); got != tc.want {
			t.Errorf("NormalizeAddress is not idempotent on %q: %q", tc.in, got)
		}
	}
}
