package sqlstore

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

var errInjected = errors.New("injected fault")

// TestLoneOpFastPathFailure: a group commit whose fast path fails must end
// every op with its results or an error, also when the batch holds one op
// (the normal case on a quiet server). Before the fix a lone op whose
// fast path failed got neither: no error, results with empty ids, nothing
// stored.
func TestLoneOpFastPathFailure(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()

		// A fault on every run: the caller gets the error, nothing is stored.
		s.fault = func(e *hogpipe.Event, _ bool) error {
			if e.Name == "boom" {
				return errInjected
			}
			return nil
		}
		res, err := s.Ingest(ctx, []hogpipe.Event{ev("lone-bad", "boom", nil)})
		if err == nil || res != nil {
			t.Fatalf("lone failing op: results %+v, err %v; want an error and no results", res, err)
		}
		if code := hogpipe.ErrorCode(err); code != hogpipe.EUnavailable {
			t.Errorf("lone failing op: code %q, want %q (%v)", code, hogpipe.EUnavailable, err)
		}
		if _, err := s.Event(ctx, "lone-bad"); hogpipe.ErrorCode(err) != hogpipe.ENotFound {
			t.Errorf("failed event is readable: %v", err)
		}

		// A fault on the fast path only: the savepoint run stores the op,
		// and the caller gets real results.
		s.fault = func(_ *hogpipe.Event, savepoints bool) error {
			if !savepoints {
				return errInjected
			}
			return nil
		}
		res, err = s.Ingest(ctx, []hogpipe.Event{gf("lone-good")})
		if err != nil || len(res) != 1 || res[0].UUID != "lone-good" || res[0].Duplicate {
			t.Fatalf("lone op after a passing fault: results %+v, err %v", res, err)
		}
		if out, err := s.Event(ctx, "lone-good"); err != nil || out.TrainingExample == nil {
			t.Errorf("acknowledged event not stored: %+v %v", out, err)
		}

		// Two ops in one batch: the bad one fails alone.
		s.fault = func(e *hogpipe.Event, _ bool) error {
			if e.Name == "boom" {
				return errInjected
			}
			return nil
		}
		bad, good := s.ingestOp(ev("pair-bad", "boom", nil)), s.ingestOp(gf("pair-good"))
		s.commit([]*op{bad, good})
		if bad.err == nil {
			t.Error("failing op of a pair got no error")
		}
		if good.err != nil || good.ingest.results[0].UUID != "pair-good" {
			t.Errorf("good op of a pair: err %v, results %+v", good.err, good.ingest.results)
		}
		s.fault = nil

		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Events != 2 || st.TrainingExamples != 2 {
			t.Errorf("stats %+v; want the 2 good events and their examples", st)
		}
	})
}

// ingestOp builds the op Ingest would submit, for driving commit directly.
func (s *Store) ingestOp(e hogpipe.Event) *op {
	p, err := s.prepare(&e)
	if err != nil {
		panic(err)
	}
	req := &ingestReq{ps: []prepared{p}, results: make([]hogpipe.IngestResult, 1)}
	return &op{ingest: req, run: func(t *txn) error { return s.ingestEvents(t, []*ingestReq{req}) }, done: make(chan struct{})}
}

// TestLockWaitPastCommitTimeout: on PostgreSQL an INSERT that waits on a
// row lock past --commit-timeout fails the write with EUnavailable (503 +
// Retry-After), never a success without the event. Before the fix the
// lone op got a 200 with an empty id and the event was not stored.
func TestLockWaitPastCommitTimeout(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		if t.Name() != "TestLockWaitPastCommitTimeout/postgres" {
			t.Skip("SQLite waits on busy_timeout, covered by TestLockedStoreAnswers503")
		}
		s := open(Options{CommitTimeout: 300 * time.Millisecond})
		ctx := context.Background()
		// Another session inserts the same uuid and holds its transaction
		// open: our INSERT … ON CONFLICT waits on that row's lock.
		other, err := s.r.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Rollback()
		if _, err := other.ExecContext(ctx, `INSERT INTO events (uuid, name, distinct_id, source, timestamp, received_at, properties)
			VALUES ('held', 'x', 'd', 'webhook', '2026-11-28T12:00:00.000Z', '2026-11-28T12:00:00.000Z', '{}')`); err != nil {
			t.Fatal(err)
		}
		res, err := s.Ingest(ctx, []hogpipe.Event{ev("held", "other", nil)})
		if hogpipe.ErrorCode(err) != hogpipe.EUnavailable || res != nil {
			t.Fatalf("lock wait past the commit timeout: results %+v, err %v; want EUnavailable", res, err)
		}
		// Over HTTP: 503 with Retry-After, as PostHog retries.
		w := newOracle(s).do("POST", "/api/webhooks/posthog", "application/json", []byte(`{"event":{"uuid":"held","event":"other"}}`))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("webhook waiting on a lock past the commit timeout: %d %q (Retry-After %q); want 503 with Retry-After",
				w.Code, w.Body.String(), w.Header().Get("Retry-After"))
		}
		other.Rollback()
		// The store recovers: the same event is stored on retry.
		res, err = s.Ingest(ctx, []hogpipe.Event{ev("held", "other", nil)})
		if err != nil || len(res) != 1 || res[0].UUID != "held" || res[0].Duplicate {
			t.Fatalf("retry: %+v %v", res, err)
		}
	})
}

// TestStoreRefusalIsAnError: a value the database itself refuses (U+0000
// in a text column on PostgreSQL), reaching the store past validation, is
// an error for its caller — never results without the event. On SQLite,
// which can hold it, the event is stored and readable. Before the fix the
// lone op on PostgreSQL got results with an empty id and no error.
func TestStoreRefusalIsAnError(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		e := ev("nul", "other", nil)
		e.DistinctID = "a\x00b"
		res, err := s.Ingest(ctx, []hogpipe.Event{e})
		if s.Postgres() {
			if err == nil || res != nil {
				t.Fatalf("PostgreSQL took U+0000: results %+v, err %v; want an error", res, err)
			}
			return
		}
		if err != nil || len(res) != 1 || res[0].UUID != "nul" {
			t.Fatalf("SQLite: %+v %v", res, err)
		}
		if _, err := s.Event(ctx, "nul"); err != nil {
			t.Error(err)
		}
	})
}

// An op must be safe to run twice (commitTx runs the batch again, op by
// op, after the fast path fails): what its first run computed must not
// feed its second. Here the fast path computes both events' person (A's
// $set, then B's on top) and fails on a third op; in the savepoint run A
// fails. Before the fix B's event kept the person of the first run as if
// PostHog had sent it, so A's $set — refused, its caller told so — was
// stored in the person anyway.
func TestFailedOpLeavesNoTraceThroughRerun(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		capture := func(id string, set map[string]any) hogpipe.Event {
			e := ev(id, "x", nil)
			e.Source, e.DistinctID, e.Set = hogpipe.SourceCapture, "shared", set
			return e
		}
		s.fault = func(e *hogpipe.Event, savepoints bool) error {
			if e.UUID == "rerun-a" && savepoints {
				return errInjected
			}
			return nil
		}
		a := s.ingestOp(capture("rerun-a", map[string]any{"leak": "from A"}))
		b := s.ingestOp(capture("rerun-b", map[string]any{"b": "from B"}))
		fails := &op{run: func(*txn) error { return errors.New("another op fails") }, done: make(chan struct{})}
		s.commit([]*op{a, b, fails})
		s.fault = nil
		if a.err == nil || b.err != nil || fails.err == nil {
			t.Fatalf("errors: a %v, b %v, third %v; want a and the third to fail", a.err, b.err, fails.err)
		}
		out, err := s.Event(ctx, "rerun-b")
		if err != nil {
			t.Fatal(err)
		}
		var props string
		if err := s.r.QueryRowContext(ctx, `SELECT properties FROM persons WHERE distinct_id = 'shared'`).Scan(&props); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(props, "from A") || strings.Contains(string(out.Event.Person), "from A") {
			t.Errorf("the failed op's $set was stored: person %s, event person %s", props, out.Event.Person)
		}
		if !strings.Contains(props, "from B") {
			t.Errorf("person %s lacks B's $set", props)
		}
	})
}
