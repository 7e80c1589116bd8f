package trainingfile

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hogpipe/hogpipe"
)

// NewExample renders the training example of a generation_failed event
// with policy p: the one place a training line's content is decided (the
// store calls it at ingest and in RewriteExamples; hogpipe.MarshalLine
// encodes it). It assumes ValidateEvent accepted the event. The event itself is
// not changed: the event log keeps what arrived.
func NewExample(e *hogpipe.Event, p *hogpipe.TrainingPolicy) *hogpipe.TrainingExample {
	props := make(map[string]any, len(e.Properties))
	for k, v := range e.Properties {
		// "$" properties are PostHog's own (library, browser, geo…); the two
		// promoted fields would otherwise appear twice in every line.
		if strings.HasPrefix(k, "$") || k == "input_prompt" || k == "failure_reason" ||
			k == "distinct_id" || k == "token" {
			continue
		}
		props[k] = v
	}
	reason := strings.ToLower(strings.TrimSpace(e.PropString("failure_reason")))
	if reason == "" {
		reason = "unknown"
	}
	prompt := strings.TrimSpace(e.PropString("input_prompt"))
	var redacted []string
	truncated := false
	userID := e.DistinctID
	if p != nil {
		if len(p.Redact) > 0 && p.Redactor != nil {
			prompt, redacted = p.Redactor(prompt, p.Redact)
		}
		if len(p.Redact) > 0 && p.PropertiesRedactor != nil {
			var more []string
			props, more = p.PropertiesRedactor(props, p.Redact)
			for _, k := range more {
				if !slices.Contains(redacted, k) {
					redacted = append(redacted, k)
				}
			}
			// One order for the union: the policy's.
			slices.SortFunc(redacted, func(a, b string) int { return slices.Index(p.Redact, a) - slices.Index(p.Redact, b) })
		}
		if p.UserID != nil {
			userID = p.UserID(userID)
		}
		if p.MaxPromptBytes > 0 && len(prompt) > p.MaxPromptBytes {
			cut := p.MaxPromptBytes
			for cut > 0 && !utf8.RuneStart(prompt[cut]) {
				cut--
			}
			prompt, truncated = prompt[:cut], true
		}
	}
	return &hogpipe.TrainingExample{
		Timestamp:     hogpipe.FormatTime(e.Timestamp),
		UserID:        userID,
		FailureReason: reason,
		InputPrompt:   prompt,
		Redacted:      redacted,
		Truncated:     truncated,
		ID:            e.UUID,
		Event:         e.Name,
		ReceivedAt:    hogpipe.FormatTime(e.ReceivedAt),
		Source:        e.Source,
		Schema:        hogpipe.TrainingSchemaVersion,
		Properties:    props,
	}
}
