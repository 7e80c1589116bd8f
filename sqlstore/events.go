package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// prepared is an event with everything the committer needs already
// rendered, so the single writer does only SQL.
type prepared struct {
	e      *hogpipe.Event
	props  string
	person sql.NullString
	// sent is the person the event arrived with (a webhook's), kept apart
	// from e.Person, which attachPerson overwrites with the resolved one: a
	// second run of the op (after a failed fast path) must start from what
	// was sent, not from what a rolled-back first run computed.
	sent   map[string]any
	ts, rx string
	// example is the training line for generation_failed events.
	example *hogpipe.TrainingExample
	line    string
}

func (s *Store) prepare(e *hogpipe.Event) (prepared, error) {
	p := prepared{e: e, sent: e.Person, ts: hogpipe.FormatTime(e.Timestamp), rx: hogpipe.FormatTime(e.ReceivedAt)}
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
		p.example = trainingfile.NewExample(e, s.training)
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
		if events[i].UUID == "" {
			return nil, hogpipe.FieldError(fmt.Sprintf("[%d].uuid", i), "an event needs an id to be stored")
		}
		p, err := s.prepare(&events[i])
		if err != nil {
			return nil, &hogpipe.Error{Code: hogpipe.EInvalid, Message: "cannot encode event", Err: err}
		}
		ps[i] = p
	}
	req := &ingestReq{ps: ps, results: make([]hogpipe.IngestResult, len(events))}
	o := &op{ingest: req, run: func(t *txn) error { return s.ingestEvents(t, []*ingestReq{req}) }, done: make(chan struct{})}
	if err := s.submit(ctx, o); err != nil {
		return nil, err
	}
	// An acknowledged event must have been stored under its id: results
	// without one mean the op was never carried out, whatever the cause.
	for i, r := range req.results {
		if r.UUID == "" {
			return nil, &hogpipe.Error{Code: hogpipe.EInternal, Message: "write was not carried out",
				Err: fmt.Errorf("event %d of %d has no id after commit", i, len(req.results))}
		}
	}
	return req.results, nil
}

// ingestReq is one Ingest call's share of a group commit.
type ingestReq struct {
	ps      []prepared
	results []hogpipe.IngestResult
}

// ingestEvents stores the events of several Ingest calls with one
// multi-row INSERT per chunk instead of one statement per event: on
// PostgreSQL every statement is a round trip, and on SQLite every
// statement pays the driver's fixed cost. RETURNING says which rows were
// new; a uuid that appears twice in the batch is new only the first time.
func (s *Store) ingestEvents(t *txn, reqs []*ingestReq) error {
	var all []*prepared
	for _, r := range reqs {
		for i := range r.ps {
			all = append(all, &r.ps[i])
		}
	}
	if s.fault != nil {
		for _, p := range all {
			if err := s.fault(p.e, t.savepoints); err != nil {
				return unavailable("store events", err)
			}
		}
	}
	for _, p := range all {
		if err := s.attachPerson(t, p); err != nil {
			return unavailable("store person", err)
		}
	}
	inserted := make(map[string]bool, len(all))
	for start := 0; start < len(all); {
		n := chunkLen(len(all) - start)
		if err := s.insertEvents(t, all[start:start+n], inserted); err != nil {
			return unavailable("store events", err)
		}
		start += n
	}
	claimed := make(map[string]bool, len(all))
	var examples []*prepared
	for _, r := range reqs {
		for i := range r.ps {
			p := &r.ps[i]
			id := p.e.UUID
			isNew := inserted[id] && !claimed[id]
			if isNew {
				claimed[id] = true
				t.count(p.e)
				if s.email != nil && s.email.Wants(p.e.Name) {
					if err := t.enqueueEmail(p.e, s.email); err != nil {
						return unavailable("queue email", err)
					}
				}
				if p.example != nil {
					examples = append(examples, p)
				}
			}
			r.results[i] = hogpipe.IngestResult{UUID: id, Duplicate: !isNew}
		}
	}
	if len(examples) == 0 {
		return nil
	}
	// Seqs follow commit order: every group transaction holds the writes
	// lock (lockWrites) before its ops run.
	for start := 0; start < len(examples); {
		n := chunkLen(len(examples) - start)
		args := make([]any, 0, 4*n)
		for _, p := range examples[start : start+n] {
			args = append(args, p.e.UUID, p.example.FailureReason, p.example.Timestamp, p.line)
		}
		if _, err := t.stmt2(s.multiStmt(t, "ex", n)).ExecContext(t.ctx, args...); err != nil {
			return unavailable("store training examples", fmt.Errorf("insert training examples: %w", err))
		}
		start += n
	}
	return nil
}

// chunkLen cuts a batch into power-of-two chunks (at most 128 rows), so a
// handful of prepared statements serve every batch size.
func chunkLen(n int) int {
	c := 128
	for c > n {
		c /= 2
	}
	return c
}

// attachPerson resolves a captured event's person ($set, $identify) and
// renders it for the row.
func (s *Store) attachPerson(t *txn, p *prepared) error {
	e := p.e
	if !needsPerson(e) {
		return nil
	}
	e.Person = p.sent
	person, err := t.resolvePerson(e)
	if err != nil {
		return err
	}
	p.person = sql.NullString{}
	if person != nil {
		e.Person = person
		b, err := json.Marshal(person)
		if err != nil {
			return fmt.Errorf("encode person: %w", err)
		}
		p.person = sql.NullString{String: string(b), Valid: true}
	}
	return nil
}

func (s *Store) insertEvents(t *txn, ps []*prepared, inserted map[string]bool) error {
	args := make([]any, 0, 8*len(ps))
	for _, p := range ps {
		e := p.e
		args = append(args, e.UUID, e.Name, e.DistinctID, string(e.Source), p.ts, p.rx, p.props, p.person)
	}
	rows, err := t.stmt2(s.multiStmt(t, "ev", len(ps))).QueryContext(t.ctx, args...)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		inserted[id] = true
	}
	return rows.Err()
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
