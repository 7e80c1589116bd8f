package sqlstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe"
)

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
