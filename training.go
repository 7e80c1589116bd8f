package hogpipe

import (
	"encoding/json"
	"strings"
	"time"
)

// TrainingSchemaVersion is the "schema" field of every training line.
const TrainingSchemaVersion = 1

// TrainingExample is one line of training_data.jsonl (schema v1). The first
// four fields are the original service's format, kept with their meanings so
// existing consumers keep working; the rest were added in v1.
type TrainingExample struct {
	Timestamp     string         `json:"timestamp"`
	UserID        string         `json:"user_id"`
	FailureReason string         `json:"failure_reason"`
	InputPrompt   string         `json:"input_prompt"`
	ID            string         `json:"id"`
	Event         string         `json:"event"`
	ReceivedAt    string         `json:"received_at"`
	Source        Source         `json:"source"`
	Schema        int            `json:"schema"`
	Properties    map[string]any `json:"properties"`
	// Redacted lists the kinds of personal data or secrets replaced in
	// input_prompt or properties (secret, email, iban, card, ip, phone);
	// absent when none.
	Redacted []string `json:"redacted,omitempty"`
	// Truncated is true when input_prompt was cut to the maximum length.
	Truncated bool `json:"truncated,omitempty"`
}

// TrainingPolicy is how events become training examples.
type TrainingPolicy struct {
	// Redact lists the kinds of data to replace in prompts (see package
	// redact); empty redacts nothing.
	Redact []string
	// MaxPromptBytes truncates longer prompts (at a character boundary);
	// 0 means no limit.
	MaxPromptBytes int
	// Redactor does the redaction; set with Redact.
	Redactor func(text string, kinds []string) (string, []string)
	// PropertiesRedactor, when set, redacts the Redact kinds in the
	// properties copied into the line (a copy: the event keeps them).
	PropertiesRedactor func(props map[string]any, kinds []string) (map[string]any, []string)
	// UserID, when set, rewrites user_id: hogpipe pseudonymizes ids that
	// hold personal data (see redact.Pseudonymizer).
	UserID func(id string) string
}

// DefaultMaxPromptBytes keeps one example to a sane size for training.
const DefaultMaxPromptBytes = 32 << 10

// OriginalExample is the original 4-key line format.
type OriginalExample struct {
	Timestamp     string `json:"timestamp"`
	UserID        string `json:"user_id"`
	FailureReason string `json:"failure_reason"`
	InputPrompt   string `json:"input_prompt"`
}

// Original returns the example in the original 4-key format.
func (t *TrainingExample) Original() OriginalExample {
	return OriginalExample{t.Timestamp, t.UserID, t.FailureReason, t.InputPrompt}
}

// timeFormat has fixed millisecond precision so lines sort as text and
// match what PostHog itself prints.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// FormatTime renders a time the way every hogpipe output does.
func FormatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// MarshalLine renders v as one JSONL line, newline included. HTML escaping is
// off: prompts are data, and "<" in a prompt should stay "<".
func MarshalLine(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// ExampleLine is a stored training example as the mirror and exports read
// it: its commit-order seq, its id and its rendered v1 line.
type ExampleLine struct {
	Seq  int64
	ID   string
	Line []byte // with trailing newline
	// V1 is the example's v1 line when Line is not one: an imported line,
	// which the training file keeps as it was. Exports write V1. Nil for
	// examples made from events.
	V1 []byte
}

// ExportLine is the example's line as exports write it: its v1 line.
func (l *ExampleLine) ExportLine() []byte {
	if l.V1 != nil {
		return l.V1
	}
	return l.Line
}

// SourceImport marks training examples imported from an existing JSONL
// file (hogpipe import, or a training file adopted on first start): they
// have no event.
const SourceImport Source = "import"

// ImportedExample is one line of an imported JSONL file as the store keeps
// it.
type ImportedExample struct {
	// ID is derived from the line's number and content, so importing the
	// same file again finds it stored.
	ID string
	// OwnID is the line's own "id" when it has one (a line hogpipe wrote):
	// a line whose OwnID is a stored example is not imported again.
	OwnID         string
	FailureReason string // normalised as for events, for filters and stats
	Timestamp     string // as in the line; normalised when it is RFC 3339
	Line          []byte // the original bytes, newline included
	V1            []byte // the v1 rendering exports write
}

// MirrorState is how far a file mirror of the training examples has got:
// its first Bytes bytes hold exactly the examples up to Seq.
type MirrorState struct {
	Seq   int64
	Bytes int64
}

// ExampleFilter selects training examples for an export.
type ExampleFilter struct {
	Since, Until time.Time // on the example's timestamp; zero: unbounded
	Reasons      []string  // failure_reason in this list; empty: any
}

// Empty tells whether the filter selects everything.
func (f ExampleFilter) Empty() bool {
	return f.Since.IsZero() && f.Until.IsZero() && len(f.Reasons) == 0
}

// KeyCount is one row of a count.
type KeyCount struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

// TrainingStats summarises the training data.
type TrainingStats struct {
	Total      int64      `json:"total"`
	ByReason   []KeyCount `json:"by_reason"`
	ByDay      []KeyCount `json:"by_day"`
	TopPrompts []KeyCount `json:"top_prompts"`
}
