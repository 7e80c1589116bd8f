package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hogpipe/hogpipe"
)

// prepared is an event with everything the committer needs already
// rendered, so the single writer does only SQL.
type prepared struct {
	e      *hogpipe.Event
	props  string
	person sql.NullString
	ts, rx string
	// example is the training line for generation_failed events.
	example *hogpipe.TrainingExample
	line    string
}

func (s *Store) prepare(e *hogpipe.Event) (prepared, error) {
	p := prepared{e: e, ts: hogpipe.FormatTime(e.Timestamp), rx: hogpipe.FormatTime(e.ReceivedAt)}
	b, err := json.Marshal(e.Properties)
	if err != nil {
		return p, fmt.Errorf("encode properties: %w", err)
	}
	p.props = string(b)
	if e.Person != nil {
		b, err := json.Marshal(e.Person)
		if err != nil {
			return p, fmt.Errorf("encode person: %w", err)
		}
		p.person = sql.NullString{String: string(b), Valid: true}
	}
	if e.Name == hogpipe.EventGenerationFailed {
		p.example = hogpipe.NewTrainingExample(e, s.training)
		b, err := hogpipe.MarshalLine(p.example)
		if err != nil {
			return p, fmt.Errorf("encode training line: %w", err)
		}
		p.line = string(b)
	}
	return p, nil
}

// Ingest stores events in one transaction, shared with other callers'
// (group commit), and returns once it is durable. Events whose uuid is
// already stored are reported as duplicates and change nothing.
func (s *Store) Ingest(ctx context.Context, events []hogpipe.Event) ([]hogpipe.IngestResult, error) {
	ps := make([]prepared, len(events))
	for i := range events {
		p, err := s.prepare(&events[i])
		if err != nil {
			return nil, &hogpipe.Error{Code: hogpipe.EInvalid, Message: "cannot encode event", Err: err}
		}
		ps[i] = p
	}
	results := make([]hogpipe.IngestResult, len(events))
	err := s.write(ctx, func(tx *txn) error {
		for i := range ps {
			dup, err := s.insertEvent(tx, &ps[i])
			if err != nil {
				return unavailable("store event", err)
			}
			results[i] = hogpipe.IngestResult{UUID: ps[i].e.UUID, Duplicate: dup}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (s *Store) insertEvent(tx *txn, p *prepared) (duplicate bool, err error) {
	e := p.e
	if needsPerson(e) {
		person, err := tx.resolvePerson(e)
		if err != nil {
			return false, err
		}
		p.person = sql.NullString{}
		if person != nil {
			e.Person = person
			b, err := json.Marshal(person)
			if err != nil {
				return false, fmt.Errorf("encode person: %w", err)
			}
			p.person = sql.NullString{String: string(b), Valid: true}
		}
	}
	res, err := tx.stmt(&tx.insertEvent, s.stmts.insertEvent).Exec(
		e.UUID, e.Name, e.DistinctID, string(e.Source), p.ts, p.rx, p.props, p.person)
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n == 0 {
		return true, nil
	}
	tx.count(e)
	if s.email != nil && s.email.Wants(e.Name) {
		if err := tx.enqueueEmail(e, s.email); err != nil {
			return false, err
		}
	}
	if p.example != nil {
		if err := tx.lockExampleOrder(); err != nil {
			return false, fmt.Errorf("lock example order: %w", err)
		}
		if _, err := tx.stmt(&tx.insertExample, s.stmts.insertExample).Exec(
			e.UUID, p.example.FailureReason, p.example.Timestamp, p.line); err != nil {
			return false, fmt.Errorf("insert training example: %w", err)
		}
	}
	return false, nil
}

// RecentEvents returns the latest events, newest first.
func (s *Store) RecentEvents(ctx context.Context, limit int) ([]hogpipe.StoredEvent, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT seq, uuid, name, distinct_id, source, timestamp, received_at, properties, coalesce(person, '')
		 FROM events ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []hogpipe.StoredEvent
	for rows.Next() {
		var ev hogpipe.StoredEvent
		var ts, rx, props, person string
		if err := rows.Scan(&ev.Seq, &ev.UUID, &ev.Name, &ev.DistinctID, &ev.Source, &ts, &rx, &props, &person); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		ev.Timestamp, _ = parseTime(ts)
		ev.ReceivedAt, _ = parseTime(rx)
		ev.Properties = json.RawMessage(props)
		if person != "" {
			ev.Person = json.RawMessage(person)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Event returns one stored event and what became of it.
func (s *Store) Event(ctx context.Context, id string) (hogpipe.EventOutcome, error) {
	var out hogpipe.EventOutcome
	var ts, rx, props, person string
	err := s.r.QueryRowContext(ctx,
		`SELECT seq, uuid, name, distinct_id, source, timestamp, received_at, properties, coalesce(person, '')
		 FROM events WHERE uuid = ?`, id).
		Scan(&out.Event.Seq, &out.Event.UUID, &out.Event.Name, &out.Event.DistinctID, &out.Event.Source, &ts, &rx, &props, &person)
	if errors.Is(err, sql.ErrNoRows) {
		return out, hogpipe.Errorf(hogpipe.ENotFound, "no event with id %q", id)
	}
	if err != nil {
		return out, fmt.Errorf("read event: %w", err)
	}
	out.Event.Timestamp, _ = parseTime(ts)
	out.Event.ReceivedAt, _ = parseTime(rx)
	out.Event.Properties = json.RawMessage(props)
	if person != "" {
		out.Event.Person = json.RawMessage(person)
	}
	if out.Event.Name == hogpipe.EventGenerationFailed {
		var line string
		err := s.r.QueryRowContext(ctx, `SELECT line FROM training_examples WHERE event_uuid = ?`, id).Scan(&line)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return out, fmt.Errorf("read training example: %w", err)
		}
		if line != "" {
			out.TrainingExample = json.RawMessage(line)
		}
	}
	return out, nil
}
