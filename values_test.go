package hogpipe

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestValidateEventValueRules: U+0000, invalid UTF-8 and numbers beyond
// float64 are refused wherever they sit in an event (values and keys, at
// any depth), naming the field; everything else, big integers included, is
// accepted.
func TestValidateEventValueRules(t *testing.T) {
	base := func() *Event {
		return &Event{UUID: "u", Name: "e", DistinctID: "d", Properties: map[string]any{"a": "b"}}
	}
	n := func(s string) json.Number { return json.Number(s) }
	refused := []struct {
		name  string
		edit  func(e *Event)
		field string
	}{
		{"NUL in name", func(e *Event) { e.Name = "a\x00" }, "event"},
		{"NUL in uuid", func(e *Event) { e.UUID = "\x00" }, "uuid"},
		{"uuid ..", func(e *Event) { e.UUID = ".." }, "uuid"},
		{"uuid /", func(e *Event) { e.UUID = "/" }, "uuid"},
		{"NUL in distinct_id", func(e *Event) { e.DistinctID = "a\x00b" }, "distinct_id"},
		{"NUL in anon id", func(e *Event) { e.AnonDistinctID = "\x00" }, "properties.$anon_distinct_id"},
		{"NUL in a property", func(e *Event) { e.Properties["p"] = "x\x00" }, "properties.p"},
		{"NUL in a key", func(e *Event) { e.Properties["k\x00"] = 1 }, "properties (a key)"},
		{"NUL deep", func(e *Event) { e.Properties["p"] = map[string]any{"q": []any{1, "\x00"}} }, "properties.p.q[1]"},
		{"NUL in $set", func(e *Event) { e.Set = map[string]any{"s": "\x00"} }, "$set.s"},
		{"NUL in person", func(e *Event) { e.Person = map[string]any{"email": "\x00"} }, "person.properties.email"},
		{"invalid UTF-8 in an id", func(e *Event) { e.DistinctID = "\xff" }, "distinct_id"},
		{"1e999 in $set", func(e *Event) { e.Set = map[string]any{"n": n("1e999")} }, "$set.n"},
		{"-1e999 in $set_once", func(e *Event) { e.SetOnce = map[string]any{"n": n("-1e999")} }, "$set_once.n"},
		{"1.8e308 deep", func(e *Event) { e.Properties["p"] = []any{map[string]any{"x": n("1.8e308")}} }, "properties.p[0].x"},
		{"400 digits", func(e *Event) { e.Properties["p"] = n("1" + strings.Repeat("0", 400)) }, "properties.p"},
	}
	for _, c := range refused {
		e := base()
		c.edit(e)
		err := ValidateEvent(e, "batch[2].")
		var he *Error
		if !errors.As(err, &he) || he.Code != EInvalid || he.Field != "batch[2]."+c.field {
			t.Errorf("%s: got %v (field %q), want EInvalid on %q", c.name, err, fieldOf(err), "batch[2]."+c.field)
		}
	}
	accepted := []any{n("12345678901234567891"), n("1e308"), n("-1.7976931348623157e308"), n("1e-400"), n("-0"),
		"\u2028\u2029", "\ufffd", "<&>", strings.Repeat("k", 10000), map[string]any{"": []any{nil, true}}}
	for _, v := range accepted {
		e := base()
		e.Properties["v"], e.Set = v, map[string]any{"v": v}
		if err := ValidateEvent(e, ""); err != nil {
			t.Errorf("%v refused: %v", v, err)
		}
	}
}

func fieldOf(err error) string {
	var he *Error
	if errors.As(err, &he) {
		return he.Field
	}
	return ""
}
