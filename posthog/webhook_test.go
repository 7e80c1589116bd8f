package posthog

import (
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestParseWebhookShapes(t *testing.T) {
	type want struct {
		uuid, name, distinct, prompt, email string
		ts                                  time.Time
	}
	tests := []struct {
		name string
		body string
		opt  WebhookOptions
		want []want
	}{
		{
			name: "default PostHog template",
			body: `{"event":{"uuid":"0190-a","event":"generation_failed","distinct_id":"user-123",
				"properties":{"failure_reason":"timeout","input_prompt":"draw a cat","$lib":"web"},
				"elements_chain":"","timestamp":"2026-11-28T11:00:00.000Z","url":"https://eu.posthog.com/events/x"},
				"person":{"id":"p1","name":"user@example.com","properties":{"email":"user@example.com"},"url":"https://x"}}`,
			want: []want{{uuid: "0190-a", name: "generation_failed", distinct: "user-123", prompt: "draw a cat",
				email: "user@example.com", ts: now.Add(-time.Hour)}},
		},
		{
			name: "older events name themselves in event.name",
			body: `{"event":{"uuid":"0190-b","name":"feature_used","distinct_id":"u","properties":{"feature":"export"}}}`,
			want: []want{{uuid: "0190-b", name: "feature_used", distinct: "u", ts: now}},
		},
		{
			name: "flat README example",
			body: `{"event":"generation_failed","properties":{"distinct_id":"u9","failure_reason":"oom","input_prompt":"p"}}`,
			opt:  WebhookOptions{DeliveryID: "wh-1"},
			want: []want{{uuid: "wh-1", name: "generation_failed", distinct: "u9", prompt: "p", ts: now}},
		},
		{
			name: "flat feature_used with person",
			body: `{"event":"feature_used","person":{"properties":{"email":"a@b.c"}},"uuid":"f1"}`,
			want: []want{{uuid: "f1", name: "feature_used", email: "a@b.c", ts: now}},
		},
		{
			name: "endpoint supplies the missing name",
			body: `{"properties":{"input_prompt":"p"},"uuid":"n1","distinct_id":42}`,
			opt:  WebhookOptions{ExpectName: "generation_failed"},
			want: []want{{uuid: "n1", name: "generation_failed", distinct: "42", prompt: "p", ts: now}},
		},
		{
			name: "$time used when there is no timestamp",
			body: `{"event":"x","uuid":"t1","properties":{"$time":1764331200.5}}`,
			want: []want{{uuid: "t1", name: "x", ts: time.Unix(1764331200, 5e8).UTC()}},
		},
		{
			name: "array, delivery id split per event",
			body: `[{"event":"a"},{"event":{"event":"b","uuid":"own"}},{"event":"c"}]`,
			opt:  WebhookOptions{DeliveryID: "d"},
			want: []want{{uuid: "d#0", name: "a", ts: now}, {uuid: "own", name: "b", ts: now}, {uuid: "d#2", name: "c", ts: now}},
		},
		{
			name: "person inside the event (original app)",
			body: `{"event":{"event":"feature_used","uuid":"o1","person":{"properties":{"email":"in@side.x"}}}}`,
			want: []want{{uuid: "o1", name: "feature_used", email: "in@side.x", ts: now}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := tt.opt
			opt.Now = now
			got, err := ParseWebhook([]byte(tt.body), opt)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				e := got[i]
				if e.UUID != w.uuid || e.Name != w.name || e.DistinctID != w.distinct {
					t.Errorf("event %d: uuid/name/distinct = %q/%q/%q, want %q/%q/%q", i, e.UUID, e.Name, e.DistinctID, w.uuid, w.name, w.distinct)
				}
				if p := e.PropString("input_prompt"); p != w.prompt {
					t.Errorf("event %d: prompt %q, want %q", i, p, w.prompt)
				}
				email, _ := e.Person["email"].(string)
				if email != w.email {
					t.Errorf("event %d: person email %q, want %q", i, email, w.email)
				}
				if !e.Timestamp.Equal(w.ts) {
					t.Errorf("event %d: timestamp %v, want %v", i, e.Timestamp, w.ts)
				}
				if e.Source != hogpipe.SourceWebhook || !e.ReceivedAt.Equal(now) {
					t.Errorf("event %d: source %q received %v", i, e.Source, e.ReceivedAt)
				}
			}
		})
	}
}

func TestParseWebhookFreshIDWithoutAnyKey(t *testing.T) {
	a, err := ParseWebhook([]byte(`{"event":"x"}`), WebhookOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseWebhook([]byte(`{"event":"x"}`), WebhookOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if a[0].UUID == "" || a[0].UUID == b[0].UUID {
		t.Fatalf("want two distinct fresh ids, got %q and %q", a[0].UUID, b[0].UUID)
	}
}

func TestParseWebhookErrors(t *testing.T) {
	tests := []struct {
		name, body, expect string
		code, field        string
	}{
		{"truncated", `{"event":`, "", hogpipe.EMalformed, ""},
		{"not json", `hello`, "", hogpipe.EMalformed, ""},
		{"trailing data", `{"event":"x"} {}`, "", hogpipe.EMalformed, ""},
		{"empty body", ``, "", hogpipe.EMalformed, ""},
		{"invalid utf-8", "{\"event\":\"\xff\"}", "", hogpipe.EMalformed, ""},
		{"too deep", strings.Repeat("[", 40) + strings.Repeat("]", 40), "", hogpipe.EMalformed, ""},
		{"string body", `"generation_failed"`, "", hogpipe.EInvalid, "(body)"},
		{"empty array", `[]`, "", hogpipe.EInvalid, "[]"},
		{"array of strings", `["x"]`, "", hogpipe.EInvalid, "[0]"},
		{"no event name", `{"properties":{}}`, "", hogpipe.EInvalid, "event"},
		{"event is a number", `{"event":5}`, "", hogpipe.EInvalid, "event"},
		{"properties not object", `{"event":"x","properties":[]}`, "", hogpipe.EInvalid, "properties"},
		{"uuid not string", `{"event":"x","uuid":7}`, "", hogpipe.EInvalid, "uuid"},
		{"bad timestamp", `{"event":{"event":"x","timestamp":"yesterday"}}`, "", hogpipe.EInvalid, "event.timestamp"},
		{"distinct_id object", `{"event":"x","distinct_id":{}}`, "", hogpipe.EInvalid, "distinct_id"},
		{"person not object", `{"event":"x","person":"bob"}`, "", hogpipe.EInvalid, "person"},
		{"generation_failed without prompt", `{"event":{"event":"generation_failed","properties":{}}}`, "", hogpipe.EInvalid, "event.properties.input_prompt"},
		{"prompt not string", `{"event":"generation_failed","properties":{"input_prompt":1}}`, "", hogpipe.EInvalid, "properties.input_prompt"},
		{"blank prompt", `{"event":"generation_failed","properties":{"input_prompt":"  "}}`, "", hogpipe.EInvalid, "properties.input_prompt"},
		{"reason not string", `{"event":"generation_failed","properties":{"input_prompt":"p","failure_reason":{}}}`, "", hogpipe.EInvalid, "properties.failure_reason"},
		{"wrong event for endpoint", `{"event":"feature_used"}`, "generation_failed", hogpipe.EInvalid, "event"},
		{"bad element in array", `[{"event":"x"},{"properties":{}}]`, "", hogpipe.EInvalid, "[1].event"},
		{"name too long", `{"event":"` + strings.Repeat("n", 300) + `"}`, "", hogpipe.EInvalid, "event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook([]byte(tt.body), WebhookOptions{Now: now, ExpectName: tt.expect})
			if err == nil {
				t.Fatalf("want error, got %d events", len(got))
			}
			if got != nil {
				t.Errorf("events returned beside the error")
			}
			if c := hogpipe.ErrorCode(err); c != tt.code {
				t.Errorf("code %q, want %q (%v)", c, tt.code, err)
			}
			if tt.field != "" {
				e := err.(*hogpipe.Error)
				if e.Field != tt.field {
					t.Errorf("field %q, want %q (%v)", e.Field, tt.field, err)
				}
			}
		})
	}
}

func TestParseWebhookTooManyEvents(t *testing.T) {
	body := "[" + strings.TrimSuffix(strings.Repeat(`{"event":"x"},`, 11), ",") + "]"
	_, err := ParseWebhook([]byte(body), WebhookOptions{Now: now, MaxEvents: 10})
	if hogpipe.ErrorCode(err) != hogpipe.ETooLarge {
		t.Fatalf("got %v, want too_large", err)
	}
}
