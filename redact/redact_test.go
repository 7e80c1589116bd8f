package redact

import (
	"slices"
	"testing"
)

func TestRedactTruePositives(t *testing.T) {
	tests := []struct {
		in, want string
		kinds    []string
	}{
		{"mail me at ada.lovelace+ml@example.co.uk please", "mail me at [EMAIL] please", []string{Email}},
		{"two: a@b.io, c_d@x-y.org", "two: [EMAIL], [EMAIL]", []string{Email}},
		{"call +44 20 7946 0958 now", "call [PHONE] now", []string{Phone}},
		{"call (555) 123-4567", "call [PHONE]", []string{Phone}},
		{"or 555-123-4567", "or [PHONE]", []string{Phone}},
		{"card 4111 1111 1111 1111 exp 12/29", "card [CARD] exp 12/29", []string{Card}},
		{"card 5500-0000-0000-0004", "card [CARD]", []string{Card}},
		{"amex 378282246310005", "amex [CARD]", []string{Card}},
		{"from 192.168.1.20 to 8.8.8.8", "from [IP] to [IP]", []string{IP}},
		{"v6 2001:db8::8a2e:370:7334 here", "v6 [IP] here", []string{IP}},
		{"key sk-proj-abcDEF1234567890abcdef done", "key [SECRET] done", []string{Secret}},
		{"token phc_A1b2C3d4E5f6G7h8I9j0K1l2M3", "token [SECRET]", []string{Secret}},
		{"iban DE89370400440532013000 ok", "iban [IBAN] ok", []string{IBAN}},
		{"Zoë <zoë.müller@example.com> and 4111-1111-1111-1111", "Zoë <[EMAIL]> and [CARD]", []string{Email, Card}},
		{"aws AKIAIOSFODNN7EXAMPLE", "aws [SECRET]", []string{Secret}},
		{"mixed a@b.io and 10.0.0.1", "mixed [EMAIL] and [IP]", []string{Email, IP}},
	}
	for _, tt := range tests {
		got, kinds := Text(tt.in, All)
		if got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !slices.Equal(kinds, tt.kinds) {
			t.Errorf("Text(%q) kinds = %v, want %v", tt.in, kinds, tt.kinds)
		}
	}
}

func TestRedactNearMisses(t *testing.T) {
	for _, in := range []string{
		"upgrade to version 1.2.3 or v10.0.1.4",     // versions, not IPs
		"chrome 120.0.6099.109 crashed",             // a 4-part version with an octet over 255
		"card 4111 1111 1111 1112",                  // 16 digits that fail Luhn
		"order 1234567812345678",                    // same, no spaces
		"meeting on 2026-11-28 at 12:30:45",         // a date and a time
		"uuid 0190b0e6-1c2d-7000-8000-00000000abcd", // an id, not a secret
		"the word internationalization is long",     // long word, no digits
		"price $1,299.99 for 3 seats",               // money
		"call me maybe @ noon",                      // an @ without an address
		"ratio 16:9 at 1920x1080",                   // not IPv6
		"pi is 3.14159",                             // a number
		"room 42, floor 7",                          // short numbers
		// A hex digest is a content id in code far more often than a key.
		"hex 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	} {
		if got, kinds := Text(in, All); got != in || len(kinds) != 0 {
			t.Errorf("Text(%q) = %q %v, want it untouched", in, got, kinds)
		}
	}
}

func TestRedactOnlyChosenKinds(t *testing.T) {
	in := "a@b.io from 10.0.0.1"
	if got, kinds := Text(in, []string{IP}); got != "a@b.io from [IP]" || !slices.Equal(kinds, []string{IP}) {
		t.Errorf("IP only: %q %v", got, kinds)
	}
	if got, kinds := Text(in, nil); got != in || kinds != nil {
		t.Errorf("none: %q %v", got, kinds)
	}
}

func TestParseKinds(t *testing.T) {
	if k, err := ParseKinds("all"); err != nil || !slices.Equal(k, All) {
		t.Errorf("all: %v %v", k, err)
	}
	if k, err := ParseKinds("none"); err != nil || k != nil {
		t.Errorf("none: %v %v", k, err)
	}
	if k, err := ParseKinds("email, ip,email"); err != nil || !slices.Equal(k, []string{Email, IP}) {
		t.Errorf("list: %v %v", k, err)
	}
	if _, err := ParseKinds("email,ssn"); err == nil {
		t.Error("unknown kind accepted")
	}
}

// Every kind a user can name has a detector (Find would panic otherwise).
func TestEveryKindHasAFinder(t *testing.T) {
	for _, k := range All {
		if finders[k] == nil {
			t.Errorf("kind %q has no finder", k)
		}
	}
	if len(finders) != len(All) {
		t.Errorf("%d finders for %d kinds", len(finders), len(All))
	}
}
