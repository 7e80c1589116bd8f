package posthog

import (
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/hogpipe/hogpipe"
)

// WebhookOptions carries what a webhook body is read with besides its bytes.
type WebhookOptions struct {
	// ExpectName is the event name an endpoint is for ("" accepts any). A
	// body without a name gets it; a body with another name is refused.
	ExpectName string
	// DeliveryID is the request's own id (webhook-id, else Idempotency-Key):
	// the dedupe key for events that carry no uuid.
	DeliveryID string
	Now        time.Time
	// MaxEvents bounds the events in one array body (0: no bound).
	MaxEvents int
}

// ParseWebhook reads every body shape PostHog's HTTP Webhook destination
// sends: the default {"event":{…},"person":{…}}, older events naming
// themselves in event.name, flat bodies a user templated by hand
// ({"event":"feature_used","properties":{…}}) and arrays of any of these.
// It returns the events or an *hogpipe.Error naming what is wrong; it never
// returns some events and an error.
func ParseWebhook(body []byte, opt WebhookOptions) ([]hogpipe.Event, error) {
	v, err := decodeJSON(body)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case map[string]any:
		e, err := webhookEvent(v, "", opt, opt.DeliveryID)
		if err != nil {
			return nil, err
		}
		return []hogpipe.Event{e}, nil
	case []any:
		if len(v) == 0 {
			return nil, hogpipe.FieldError("[]", "empty array: no events")
		}
		if opt.MaxEvents > 0 && len(v) > opt.MaxEvents {
			return nil, hogpipe.Errorf(hogpipe.ETooLarge, "%d events in one body; at most %d", len(v), opt.MaxEvents)
		}
		events := make([]hogpipe.Event, 0, len(v))
		for i, item := range v {
			m, ok := item.(map[string]any)
			prefix := index("", i)
			if !ok {
				return nil, hogpipe.FieldError(prefix[:len(prefix)-1], "must be an object, got %s", typeName(item))
			}
			delivery := ""
			if opt.DeliveryID != "" {
				// One delivery id for several events: each needs its own key.
				delivery = opt.DeliveryID + "#" + strconv.Itoa(i)
			}
			e, err := webhookEvent(m, prefix, opt, delivery)
			if err != nil {
				return nil, err
			}
			events = append(events, e)
		}
		return events, nil
	default:
		return nil, hogpipe.FieldError("(body)", "must be a JSON object or array, got %s", typeName(v))
	}
}

func webhookEvent(body map[string]any, prefix string, opt WebhookOptions, delivery string) (hogpipe.Event, error) {
	top := fields{body, prefix}
	var e hogpipe.Event
	ev := top // where the event's own fields are: nested or flat
	switch raw := body["event"].(type) {
	case map[string]any:
		ev = fields{raw, prefix + "event."}
		name, _, err := ev.str("event")
		if err != nil {
			return e, err
		}
		if name == "" {
			if name, _, err = ev.str("name"); err != nil {
				return e, err
			}
		}
		e.Name = name
	case string:
		e.Name = raw
	case nil:
		// Some templates name the event only in "name".
		name, _, err := top.str("name")
		if err != nil {
			return e, err
		}
		e.Name = name
	default:
		return e, hogpipe.FieldError(prefix+"event", "must be a string or an object, got %s", typeName(raw))
	}
	if e.Name == "" {
		e.Name = opt.ExpectName
	}
	if opt.ExpectName != "" && e.Name != opt.ExpectName {
		return e, hogpipe.FieldError(ev.prefix+"event", "this endpoint takes %q events, got %q; send other events to /api/webhooks/posthog",
			opt.ExpectName, truncate(e.Name, 60))
	}

	var err error
	if e.Properties, err = ev.obj("properties"); err != nil {
		return e, err
	}
	if e.Properties == nil {
		e.Properties = map[string]any{}
	}
	props := fields{e.Properties, ev.prefix + "properties."}

	if e.UUID, _, err = ev.str("uuid"); err != nil {
		return e, err
	}
	if e.UUID == "" {
		e.UUID = delivery
	}
	if e.UUID == "" {
		e.UUID = uuid.Must(uuid.NewV7()).String()
	}

	if e.DistinctID, err = ev.id("distinct_id"); err != nil {
		return e, err
	}
	if e.DistinctID == "" {
		if e.DistinctID, err = props.id("distinct_id"); err != nil {
			return e, err
		}
	}

	ts, ok, err := ev.timestamp("timestamp")
	if err != nil {
		return e, err
	}
	if !ok {
		ts, ok = unixTime(e.Properties["$time"])
	}
	if !ok {
		ts = opt.Now
	}
	e.Timestamp = ts
	e.ReceivedAt = opt.Now
	e.Source = hogpipe.SourceWebhook

	// The person sits beside the event in PostHog's default body, and inside
	// the event's properties in bodies from the original app.
	person, err := top.obj("person")
	if err != nil {
		return e, err
	}
	if person == nil && ev.prefix != top.prefix {
		if person, err = ev.obj("person"); err != nil {
			return e, err
		}
	}
	if person != nil {
		pp, err := fields{person, prefix + "person."}.obj("properties")
		if err != nil {
			return e, err
		}
		e.Person = pp
	}
	if err := hogpipe.ValidateEvent(&e, ev.prefix); err != nil {
		return e, err
	}
	return e, nil
}
