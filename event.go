package hogpipe

import "strings"

// MaxNameLen bounds event names and ids: PostHog's own are far shorter, and
// an unbounded key would let one request bloat every index.
const MaxNameLen = 200

// MaxProperties bounds the properties of one event. posthog-js sends about
// 60; the body limit bounds their total size.
const MaxProperties = 1000

// MaxPersonBytes bounds a person's stored properties (encoded as JSON).
// Each event of a captured user reads, merges and rewrites its person in
// the one group commit, and copies it into the event's row: without a
// bound, anyone holding the public capture token could grow one person by
// a megabyte per request with fresh $set keys until every event of that
// user stalled the committer and wrote megabytes. A $set that would take a
// person past the bound is not applied (the event is still stored).
const MaxPersonBytes = 256 << 10

// ValidateEvent checks that an event can feed the pipeline, naming the field
// at fault. prefix is prepended to field names ("" or e.g. "[3].").
func ValidateEvent(e *Event, prefix string) error {
	if strings.TrimSpace(e.Name) == "" {
		return FieldError(prefix+"event", "missing event name")
	}
	if len(e.Name) > MaxNameLen {
		return FieldError(prefix+"event", "event name longer than %d bytes", MaxNameLen)
	}
	if len(e.UUID) > MaxNameLen {
		return FieldError(prefix+"uuid", "longer than %d bytes", MaxNameLen)
	}
	switch e.UUID {
	case ".", "..", "/":
		// An acknowledged event must be readable by its id, and these
		// cannot be a path segment of GET /api/events/{id} (found by
		// FuzzIngestOracle).
		return FieldError(prefix+"uuid", "%q cannot be an event id", e.UUID)
	}
	if len(e.DistinctID) > MaxNameLen {
		return FieldError(prefix+"distinct_id", "longer than %d bytes", MaxNameLen)
	}
	if len(e.Properties) > MaxProperties {
		return FieldError(prefix+"properties", "%d properties; at most %d", len(e.Properties), MaxProperties)
	}
	for k := range e.Properties {
		if len(k) > MaxNameLen {
			return FieldError(prefix+"properties", "a property name is longer than %d bytes", MaxNameLen)
		}
	}
	for _, o := range []struct {
		name string
		m    map[string]any
	}{{"$set", e.Set}, {"$set_once", e.SetOnce}} {
		if len(o.m) > MaxProperties {
			return FieldError(prefix+o.name, "%d properties; at most %d", len(o.m), MaxProperties)
		}
		for k := range o.m {
			if len(k) > MaxNameLen {
				return FieldError(prefix+o.name, "a property name is longer than %d bytes", MaxNameLen)
			}
		}
	}
	if err := checkValues(e, prefix); err != nil {
		return err
	}
	if e.Name == EventGenerationFailed {
		p, ok := e.Properties["input_prompt"]
		if !ok {
			return FieldError(prefix+"properties.input_prompt", "required for %s", EventGenerationFailed)
		}
		s, ok := p.(string)
		if !ok {
			return FieldError(prefix+"properties.input_prompt", "must be a string")
		}
		if strings.TrimSpace(s) == "" {
			return FieldError(prefix+"properties.input_prompt", "must not be empty")
		}
		if r, ok := e.Properties["failure_reason"]; ok && r != nil {
			if _, ok := r.(string); !ok {
				return FieldError(prefix+"properties.failure_reason", "must be a string")
			}
		}
	}
	return nil
}

// checkValues applies the value rules (values.go) to every string and
// number of the event, so that nothing a database or reader cannot hold
// gets in: refusing here, with the field named, is what keeps one bad
// value from failing the commit it shares or every later read.
func checkValues(e *Event, prefix string) error {
	for _, f := range []struct{ name, v string }{
		{"event", e.Name}, {"uuid", e.UUID}, {"distinct_id", e.DistinctID}, {"properties.$anon_distinct_id", e.AnonDistinctID},
	} {
		if err := checkString(prefix+f.name, f.v); err != nil {
			return err
		}
	}
	for _, o := range []struct {
		name string
		m    map[string]any
	}{
		{"properties", e.Properties}, {"$set", e.Set}, {"$set_once", e.SetOnce}, {"person.properties", e.Person},
	} {
		if err := CheckValue(prefix+o.name, o.m); err != nil {
			return err
		}
	}
	return nil
}
