package redact

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestPseudonymizer(t *testing.T) {
	p := NewPseudonymizer([]byte("0123456789abcdef"))
	a := p.UserID("Ada@Example.com")
	if !strings.HasPrefix(a, PseudonymPrefix) || len(a) != len(PseudonymPrefix)+32 {
		t.Fatalf("pseudonym %q", a)
	}
	if b := p.UserID(" ada@example.com"); b != a {
		t.Errorf("case and spaces split one user: %q %q", a, b)
	}
	if b := p.UserID("bob@example.com"); b == a {
		t.Errorf("two users, one pseudonym")
	}
	if b := NewPseudonymizer([]byte("another key 12345")).UserID("ada@example.com"); b == a {
		t.Errorf("the key does not change the pseudonym")
	}
	if ph := p.UserID("+44 7700 900123"); !strings.HasPrefix(ph, PseudonymPrefix) {
		t.Errorf("a phone number as id kept: %q", ph)
	}
	for _, id := range []string{"", "user-123", "0190b0e6-1c2d-7000-8000-00000000abcd", a} {
		if got := p.UserID(id); got != id {
			t.Errorf("UserID(%q) = %q, want it unchanged", id, got)
		}
	}
}

func TestProperties(t *testing.T) {
	in := map[string]any{
		"model":  "gpt-4o-mini-2024-07-18",
		"person": map[string]any{"properties": map[string]any{"email": "ada@example.com", "Phone": "0123", "plan": "pro"}},
		"notes":  []any{"call +44 7700 900123", 42.0, nil, true, map[string]any{"iban": "x"}},
		"empty":  map[string]any{"email": ""},
	}
	// A copy sharing nothing with in, through JSON, which is where
	// properties come from.
	var before map[string]any
	if b, err := json.Marshal(in); err != nil || json.Unmarshal(b, &before) != nil {
		t.Fatalf("copying the input: %v", err)
	}
	out, kinds := Properties(in, All)
	want := map[string]any{
		"model":  "gpt-4o-mini-2024-07-18",
		"person": map[string]any{"properties": map[string]any{"email": "[EMAIL]", "Phone": "[PHONE]", "plan": "pro"}},
		"notes":  []any{"call [PHONE]", 42.0, nil, true, map[string]any{"iban": "[IBAN]"}},
		"empty":  map[string]any{"email": ""},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("Properties =\n%#v\nwant\n%#v", out, want)
	}
	if !reflect.DeepEqual(kinds, []string{Email, IBAN, Phone}) {
		t.Errorf("kinds %v", kinds)
	}
	if !reflect.DeepEqual(in, before) {
		t.Errorf("the input changed: %#v", in)
	}
	if again, k := Properties(out, All); !reflect.DeepEqual(again, out) || len(k) != 0 {
		t.Errorf("not idempotent: %#v %v", again, k)
	}
	if only, _ := Properties(in, []string{Phone}); only["person"].(map[string]any)["properties"].(map[string]any)["email"] != "ada@example.com" {
		t.Errorf("kinds not asked for were redacted: %v", only)
	}
}
