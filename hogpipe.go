// Package hogpipe holds the domain of the pipeline, which every other
// package shares and which imports none of them: events as they arrive from
// PostHog (this file, event.go), the rules for values hogpipe stores
// (values.go), the training example types (training.go; trainingfile renders them), emails
// and the suppression list (email.go, suppression.go), and the error codes
// of every API answer (error.go).
//
// Interfaces are declared by the packages that consume them, sized to what
// each needs (server.Store, outbox.Queue and outbox.Sender, trainingfile.Source,
// metrics.Gauges); sqlstore implements the stores, mailgun the Sender.
// README.md "Layout" says what each package owns.
package hogpipe

import (
	"encoding/json"
	"time"
)

// Source tells how an event reached hogpipe.
type Source string

const (
	SourceWebhook Source = "webhook" // PostHog Cloud's HTTP Webhook destination
	SourceCapture Source = "capture" // posthog-js speaking the capture protocol to us
)

// Event names that feed a destination.
const (
	EventGenerationFailed = "generation_failed"
	EventFeatureUsed      = "feature_used"
)

// Event is one PostHog event, normalised from any of the shapes it arrives in.
type Event struct {
	// UUID is the dedupe key: the event's own uuid, else a delivery id
	// from the request headers, else a fresh id (then no dedupe is possible).
	UUID       string
	Name       string
	DistinctID string
	Timestamp  time.Time // when it happened, per the sender
	ReceivedAt time.Time
	Source     Source
	// Properties are the event's properties as received (JSON object).
	Properties map[string]any
	// Person holds the person's properties (JSON object) when known.
	Person map[string]any
	// Set and SetOnce are person properties the event sets ($set,
	// $set_once), applied to the person before the event is stored.
	Set, SetOnce map[string]any
	// AnonDistinctID is the anonymous id an $identify event merges in.
	AnonDistinctID string
	// Trusted: the event came through an authenticated webhook or from
	// this machine (not cross-site). Only trusted events trigger real
	// emails unless EmailPolicy.FromUntrusted. Not stored.
	Trusted bool
}

// PropString returns a string property, or "" when absent or not a string.
func (e *Event) PropString(key string) string {
	s, _ := e.Properties[key].(string)
	return s
}

// IngestResult is what the store says about one event it was given.
type IngestResult struct {
	UUID      string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

// StoredEvent is an event as the store returns it for listing.
type StoredEvent struct {
	Seq        int64           `json:"seq"`
	UUID       string          `json:"id"`
	Name       string          `json:"event"`
	DistinctID string          `json:"distinct_id"`
	Source     Source          `json:"source"`
	Timestamp  time.Time       `json:"timestamp"`
	ReceivedAt time.Time       `json:"received_at"`
	Properties json.RawMessage `json:"properties"`
	Person     json.RawMessage `json:"person,omitempty"`
}

// Stats is what the dashboard shows at a glance.
type Stats struct {
	Events           int64            `json:"events"`
	EventsByName     map[string]int64 `json:"events_by_name"`
	EventsBySource   map[string]int64 `json:"events_by_source"`
	TrainingExamples int64            `json:"training_examples"`
	// TrainingFileLag is how many committed examples are not yet in
	// training_data.jsonl.
	TrainingFileLag int64 `json:"training_file_lag"`
	// EmailsByState counts the email outbox.
	EmailsByState map[string]int64 `json:"emails_by_state"`
}

// MinuteCount is how many events of one name arrived in one minute.
type MinuteCount struct {
	Minute string `json:"minute"` // "2026-11-28T12:00", UTC
	Name   string `json:"event"`
	Count  int64  `json:"count"`
}

// EventOutcome is a stored event and what the pipeline made of it.
type EventOutcome struct {
	Event           StoredEvent     `json:"event"`
	TrainingExample json.RawMessage `json:"training_example,omitempty"`
	Email           *Email          `json:"email,omitempty"`
}
