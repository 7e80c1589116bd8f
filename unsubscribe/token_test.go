package unsubscribe

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTripAndHostileInputs(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	s := NewSigner(strings.Repeat("k", 32), 24*time.Hour)
	tok := s.Token(" Ada@Example.COM. ", "feature_used", now)
	c, err := s.Verify(tok, now.Add(time.Hour))
	if err != nil || c.Address != "ada@example.com" || c.Kind != "feature_used" {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	// Case variants of one address get the same token: one key per recipient.
	if tok2 := s.Token("ADA@example.com", "feature_used", now); tok2 != tok {
		t.Errorf("case variants differ: %s vs %s", tok, tok2)
	}
	other := NewSigner(strings.Repeat("x", 32), 24*time.Hour)
	payload, mac, _ := strings.Cut(tok, ".")
	evil := s.Token("eve@example.com", "feature_used", now)
	evilPayload, _, _ := strings.Cut(evil, ".")
	cases := []struct {
		name string
		tok  string
		at   time.Time
		want error
	}{
		{"expired", tok, now.Add(25 * time.Hour), ErrExpired},
		{"at expiry", tok, now.Add(24 * time.Hour), ErrExpired},
		{"other key", other.Token("ada@example.com", "feature_used", now), now, ErrForged},
		{"payload swapped", evilPayload + "." + mac, now, ErrForged},
		{"mac flipped", payload + "." + strings.ToUpper(mac[:1]) + mac[1:], now, ErrForged},
		{"no dot", payload, now, ErrMalformed},
		{"empty", "", now, ErrMalformed},
		{"not base64", "%%%.###", now, ErrMalformed},
		{"huge", strings.Repeat("a", 5000) + "." + mac, now, ErrMalformed},
		{"empty mac", payload + ".", now, ErrForged},
	}
	for _, c := range cases {
		if c.name == "mac flipped" && strings.ToUpper(mac[:1]) == mac[:1] {
			c.tok = payload + "." + strings.ToLower(mac[:1]) + mac[1:]
			if c.tok == tok {
				continue
			}
		}
		if _, err := s.Verify(c.tok, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	s := NewSigner(strings.Repeat("k", 32), time.Hour)
	now := time.Unix(1_800_000_000, 0)
	f.Add(s.Token("a@b.co", "feature_used", now))
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok, now)
		if err == nil && s.Token(c.Address, c.Kind, c.Expires.Add(-time.Hour)) != tok {
			// A token that verifies must be exactly the one we would issue.
			t.Fatalf("accepted a token we did not issue: %q", tok)
		}
	})
}
