package sqlstore

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/hogpipe/hogpipe"
)

// needsPerson tells whether an event's person comes from the persons
// table: captured events carry only $set and the like, not the person.
// Webhook deliveries carry PostHog's own person and skip the lookup.
func needsPerson(e *hogpipe.Event) bool {
	return e.DistinctID != "" && (e.Source == hogpipe.SourceCapture || len(e.Set) > 0 || len(e.SetOnce) > 0)
}

// resolvePerson applies the event's $set/$set_once (and an $identify's
// anonymous person) to the stored person and returns its properties.
func (t *txn) resolvePerson(e *hogpipe.Event) (map[string]any, error) {
	props, found, err := t.personProps(e.DistinctID)
	if err != nil {
		return nil, err
	}
	before := maps.Clone(props)
	if e.AnonDistinctID != "" && e.AnonDistinctID != e.DistinctID {
		anon, _, err := t.personProps(e.AnonDistinctID)
		if err != nil {
			return nil, err
		}
		for k, v := range anon {
			if _, ok := props[k]; !ok {
				props[k] = v
			}
		}
	}
	for k, v := range e.SetOnce {
		if _, ok := props[k]; !ok {
			props[k] = v
		}
	}
	maps.Copy(props, e.Set)
	if e.Person != nil {
		// A webhook body's person is PostHog's own view: newest wins.
		maps.Copy(props, e.Person)
	}
	if !found && len(props) == 0 {
		return nil, nil
	}
	if !maps.EqualFunc(props, before, func(a, b any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) || !found {
		b, err := json.Marshal(props)
		if err != nil {
			return nil, fmt.Errorf("encode person: %w", err)
		}
		if len(b) > hogpipe.MaxPersonBytes {
			// Keep the person as it was (see MaxPersonBytes); the event
			// itself is stored.
			t.s.log.Warn("person properties past their bound: this event's $set is not applied",
				"event", e.UUID, "bytes", len(b), "max", hogpipe.MaxPersonBytes)
			if !found {
				return nil, nil
			}
			return before, nil
		}
		if _, err := t.Exec(`INSERT INTO persons (distinct_id, properties, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (distinct_id) DO UPDATE SET properties = excluded.properties, updated_at = excluded.updated_at`,
			e.DistinctID, string(b), hogpipe.FormatTime(e.ReceivedAt)); err != nil {
			return nil, fmt.Errorf("store person: %w", err)
		}
	}
	return props, nil
}

func (t *txn) personProps(distinctID string) (map[string]any, bool, error) {
	var raw string
	err := t.QueryRow(`SELECT properties FROM persons WHERE distinct_id = ?`, distinctID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return map[string]any{}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read person: %w", err)
	}
	props := map[string]any{}
	if err := decodeNumbers(raw, &props); err != nil {
		return nil, false, fmt.Errorf("stored person %q: %w", distinctID, err)
	}
	return props, true, nil
}

// decodeNumbers decodes stored JSON keeping numbers as written
// (json.Number), as ingest does: a float64 would round a 20-digit id and
// fail outright on a literal beyond its range stored before such numbers
// were refused, making every later event of that person fail.
func decodeNumbers(raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}
