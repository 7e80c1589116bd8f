package outbox

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hogpipe/hogpipe"
)

// checkClean is the promise for every event string a template sees.
func checkClean(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%q → invalid UTF-8 %q", in, out)
	}
	if n := utf8.RuneCountInString(out); n > MaxTemplateValue+1 {
		t.Fatalf("%q → %d characters, more than %d", in, n, MaxTemplateValue+1)
	}
	for _, r := range out {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || (unicode.IsSpace(r) && r != ' ') {
			t.Fatalf("%q → %q holds %U", in, out, r)
		}
	}
	if strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") || strings.Contains(out, "  ") {
		t.Fatalf("%q → %q: space not collapsed", in, out)
	}
}

func FuzzTemplateValue(f *testing.F) {
	for _, s := range []string{"", "export", "a\r\nBcc: victim@example.org", "\x00\x1b[31mred", "\u202eevil\u202c",
		"x\u200by", strings.Repeat("é", 500), "\xff\xfe", " \t lead and trail \n "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkClean(t, s, templateValue(s))
	})
}

// Values from events reach templates bounded and stripped of control and
// invisible characters; before the fix they went in as sent.
func TestTemplatesGetCleanEventValues(t *testing.T) {
	tm, err := ParseTemplates("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	hostile := "export\r\nBcc: victim@example.org\r\n\r\nClick https://evil.example \u202egnp.exe\x00" + strings.Repeat("spam ", 400)
	it := hogpipe.OutboxItem{
		Email: hogpipe.Email{Recipient: "ada@example.com"},
		Event: hogpipe.Event{UUID: "u1", Name: hogpipe.EventFeatureUsed,
			Properties: map[string]any{"feature": hostile, "list": []any{"a\nb", map[string]any{"k\n": "v\x07"}}},
			Person:     map[string]any{"name": "Ada\nLovelace", "email": "ada@example.com"}},
	}
	d := dataFor(it)
	checkClean(t, hostile, d.Event.Properties["feature"].(string))
	if got := d.Person["name"]; got != "Ada Lovelace" {
		t.Errorf("person name %q", got)
	}
	nested := d.Event.Properties["list"].([]any)
	if nested[0] != "a b" || nested[1].(map[string]any)["k"] != "v" {
		t.Errorf("nested values %v", nested)
	}
	subject, text, html, err := tm.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{subject, text, html} {
		if strings.Contains(part, "\r") || strings.Contains(part, "\u202e") || strings.Contains(part, "\x00") ||
			strings.Contains(part, "\nBcc") || strings.Count(part, "spam") > MaxTemplateValue/5 {
			t.Errorf("rendered part carries the hostile value: %q", part)
		}
	}
	if len(subject) > 400 {
		t.Errorf("subject is %d bytes", len(subject))
	}
}
