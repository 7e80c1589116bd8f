package trainingfile

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/redact"
)

// NewExample decides a training line's content: these are its rules, on
// the event as it arrives and under a policy with every part set.
func TestNewExample(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	event := func(props map[string]any) *hogpipe.Event {
		return &hogpipe.Event{UUID: "u1", Name: "generation_failed", DistinctID: "ada@example.com", Timestamp: at,
			ReceivedAt: at.Add(time.Second), Source: "webhook", Properties: props}
	}
	policy := &hogpipe.TrainingPolicy{Redact: []string{redact.Secret, redact.Email, redact.Phone}, MaxPromptBytes: 40,
		Redactor: redact.Text, PropertiesRedactor: redact.Properties,
		UserID: redact.NewPseudonymizer([]byte("0123456789abcdef")).UserID}

	props := map[string]any{"input_prompt": "  write to bob@example.com please  ", "failure_reason": " TimeOut ",
		"$browser": "Firefox", "distinct_id": "ada@example.com", "token": "phc_x", "model": "m1", "contact": "carol@example.com"}
	before := maps.Clone(props)
	e := event(props)
	ex := NewExample(e, policy)
	if ex.FailureReason != "timeout" || strings.Contains(ex.InputPrompt, "bob@") || ex.InputPrompt != strings.TrimSpace(ex.InputPrompt) {
		t.Errorf("reason %q, prompt %q: want the reason normalised and the address redacted", ex.FailureReason, ex.InputPrompt)
	}
	if !slices.Equal(ex.Redacted, []string{redact.Email}) || ex.Truncated {
		t.Errorf("redacted %v, truncated %v", ex.Redacted, ex.Truncated)
	}
	if !strings.HasPrefix(ex.UserID, redact.PseudonymPrefix) {
		t.Errorf("user_id %q: an address must become a pseudonym", ex.UserID)
	}
	for _, k := range []string{"$browser", "distinct_id", "token", "input_prompt", "failure_reason"} {
		if _, ok := ex.Properties[k]; ok {
			t.Errorf("property %s copied into the line", k)
		}
	}
	if ex.Properties["model"] != "m1" || strings.Contains(ex.Properties["contact"].(string), "carol@") {
		t.Errorf("properties %v: want model kept and the address redacted", ex.Properties)
	}
	if !maps.Equal(props, before) || e.DistinctID != "ada@example.com" {
		t.Errorf("the event changed: %v", props)
	}
	if ex.Timestamp != "2026-11-28T11:00:00.123Z" || ex.ReceivedAt != "2026-11-28T11:00:01.123Z" || ex.ID != "u1" ||
		ex.Schema != hogpipe.TrainingSchemaVersion || ex.Source != "webhook" || ex.Event != "generation_failed" {
		t.Errorf("fields: %+v", ex)
	}

	// Truncation cuts at a character boundary, within the limit, and says so.
	long := NewExample(event(map[string]any{"input_prompt": "a" + strings.Repeat("é", 30)}), policy)
	if !long.Truncated || len(long.InputPrompt) > 40 || !utf8.ValidString(long.InputPrompt) || long.FailureReason != "unknown" {
		t.Errorf("long prompt: %q (%d bytes), truncated %v, reason %q", long.InputPrompt, len(long.InputPrompt), long.Truncated, long.FailureReason)
	}
	// Without a policy nothing is redacted, cut or pseudonymized.
	plain := NewExample(event(map[string]any{"input_prompt": "mail bob@example.com"}), nil)
	if plain.InputPrompt != "mail bob@example.com" || plain.UserID != "ada@example.com" || plain.Redacted != nil {
		t.Errorf("no policy: %+v", plain)
	}
}
