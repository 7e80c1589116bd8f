package hogpipe

import "strings"

// MaxNameLen bounds event names and ids: PostHog's own are far shorter, and
// an unbounded key would let one request bloat every index.
const MaxNameLen = 200

// MaxProperties bounds the properties of one event. posthog-js sends about
// 60; the body limit bounds their total size.
const MaxProperties = 1000

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
