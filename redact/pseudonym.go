package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// PseudonymPrefix starts every pseudonymized user id, so a consumer of the
// training data can tell a pseudonym from an id the app chose.
const PseudonymPrefix = "anon-"

// Pseudonymizer replaces user ids that hold personal data (an email
// address, a phone number: posthog-js identify(email) is common) by a
// keyed hash. The same id and key always give the same pseudonym, so one
// user's examples still group together; without the key the pseudonym
// cannot be tested against a guessed address.
type Pseudonymizer struct {
	key []byte
}

// NewPseudonymizer keys a Pseudonymizer; the key should hold at least 16
// random bytes.
func NewPseudonymizer(key []byte) *Pseudonymizer {
	return &Pseudonymizer{key: append([]byte(nil), key...)}
}

// UserID returns id unchanged when it holds no personal data of any kind,
// else its pseudonym: PseudonymPrefix and 32 hex digits of
// HMAC-SHA256(key, id), with an address lower-cased first so that
// Ada@Example.com and ada@example.com are one user.
func (p *Pseudonymizer) UserID(id string) string {
	if id == "" || strings.HasPrefix(id, PseudonymPrefix) && len(id) == len(PseudonymPrefix)+32 || len(Find(id, All)) == 0 {
		return id
	}
	norm := strings.TrimSpace(id)
	if strings.Contains(norm, "@") {
		norm = strings.TrimSuffix(strings.ToLower(norm), ".")
	}
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(norm))
	return PseudonymPrefix + hex.EncodeToString(m.Sum(nil)[:16])
}

// personalKeys are property names whose string values are personal data
// of a kind whatever their shape (a "phone" of "12345" is still one).
var personalKeys = map[string]string{
	"email": Email, "e-mail": Email, "e_mail": Email, "email_address": Email, "emailaddress": Email,
	"phone": Phone, "phone_number": Phone, "phonenumber": Phone, "mobile": Phone, "telephone": Phone,
	"ip": IP, "ip_address": IP, "iban": IBAN, "card_number": Card,
	"password": Secret, "api_key": Secret, "apikey": Secret, "access_token": Secret,
}

// Properties returns a copy of props (as decoded from JSON: maps, slices,
// strings, numbers, booleans, nil) with the kinds asked for redacted in
// every string at any depth, and every non-empty string under a key that
// names a kind (email, phone, …) replaced whole. props is not changed. The
// kinds found come back in All's order.
func Properties(props map[string]any, kinds []string) (map[string]any, []string) {
	if len(kinds) == 0 {
		return props, nil
	}
	found := map[string]bool{}
	out, _ := redactValue(props, "", kinds, found).(map[string]any)
	var list []string
	for _, k := range All {
		if found[k] {
			list = append(list, k)
		}
	}
	return out, list
}

func redactValue(v any, key string, kinds []string, found map[string]bool) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = redactValue(e, k, kinds, found)
		}
		return m
	case []any:
		if x == nil {
			return x
		}
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = redactValue(e, key, kinds, found)
		}
		return s
	case string:
		if kind, ok := personalKeys[strings.ToLower(key)]; ok && strings.TrimSpace(x) != "" && slices.Contains(kinds, kind) && x != Placeholder(kind) {
			found[kind] = true
			return Placeholder(kind)
		}
		r, ks := Text(x, kinds)
		for _, k := range ks {
			found[k] = true
		}
		return r
	}
	return v
}
