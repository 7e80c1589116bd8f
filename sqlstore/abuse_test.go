package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// fuTo is a feature_used event for an address.
func fuTo(id, email string) hogpipe.Event {
	e := ev(id, hogpipe.EventFeatureUsed, nil)
	e.Person = map[string]any{"email": email}
	return e
}

// sendAll claims every due email and records outcome for it.
func sendAll(t *testing.T, s *Store, now time.Time, state hogpipe.EmailState) int {
	t.Helper()
	ctx := context.Background()
	items, err := s.ClaimEmails(ctx, now, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if ok, err := s.FinishEmail(ctx, it.Email, hogpipe.EmailOutcome{State: state, At: now}); !ok || err != nil {
			t.Fatalf("finish %d: %v %v", it.Email.ID, ok, err)
		}
	}
	return len(items)
}

// Replay takes failed and retrying emails only; sent and dry_run need
// force (the command line's --force), and suppressed and skipped ones are
// never requeued. Before the fix, state=sent requeued every sent email.
func TestStoreReplayRefusesSentAndSuppressed(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}, CapWindow: time.Hour}
		s := open(Options{Email: pol})
		ctx := context.Background()
		now := time.Now()
		// r1 is sent, r2 suppressed by the cap, r3 skipped, f1 failed.
		if _, err := s.Ingest(ctx, []hogpipe.Event{fuTo("r1", "a@example.com"), fuTo("r2", "a@example.com"), fuTo("r3", "")}); err != nil {
			t.Fatal(err)
		}
		sendAll(t, s, now, hogpipe.EmailSent)
		if _, err := s.Ingest(ctx, []hogpipe.Event{fuTo("f1", "b@example.com")}); err != nil {
			t.Fatal(err)
		}
		sendAll(t, s, now, hogpipe.EmailFailed)
		for _, c := range []struct {
			state hogpipe.EmailState
			force bool
		}{
			{hogpipe.EmailSent, false}, {hogpipe.EmailDryRun, false},
			{hogpipe.EmailSuppressed, false}, {hogpipe.EmailSuppressed, true},
			{hogpipe.EmailSkipped, false}, {hogpipe.EmailSkipped, true},
			{hogpipe.EmailQueued, true}, {hogpipe.EmailSending, true},
		} {
			n, err := s.ReplayEmails(ctx, c.state, now, c.force)
			if hogpipe.ErrorCode(err) != hogpipe.EInvalid || n != 0 {
				t.Errorf("replay %s (force %v): %d, %v; want refused", c.state, c.force, n, err)
			}
		}
		counts, _ := s.EmailCounts(ctx)
		if counts["sent"] != 1 || counts["suppressed"] != 1 || counts["skipped"] != 1 || counts["failed"] != 1 || counts["queued"] != 0 {
			t.Fatalf("a refused replay changed the outbox: %v", counts)
		}
		if n, err := s.ReplayEmails(ctx, hogpipe.EmailFailed, now, false); n != 1 || err != nil {
			t.Errorf("replay failed: %d, %v", n, err)
		}
		if n, err := s.ReplayEmails(ctx, hogpipe.EmailSent, now, true); n != 1 || err != nil {
			t.Errorf("forced replay of sent: %d, %v", n, err)
		}
		counts, _ = s.EmailCounts(ctx)
		if counts["queued"] != 2 || counts["suppressed"] != 1 {
			t.Errorf("after replays: %v", counts)
		}
	})
}

// recountTrainingStats is the old full scan, the reference the counters
// must match (ties among prompts broken by first appearance).
func recountTrainingStats(t *testing.T, s *Store, top int) hogpipe.TrainingStats {
	t.Helper()
	ctx := context.Background()
	var st hogpipe.TrainingStats
	count := func(q string, args ...any) []hogpipe.KeyCount {
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := []hogpipe.KeyCount{}
		for rows.Next() {
			var kc hogpipe.KeyCount
			var first int64
			dest := []any{&kc.Key, &kc.Count}
			if len(args) > 0 {
				dest = append(dest, &first)
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			out = append(out, kc)
		}
		return out
	}
	st.ByReason = count(`SELECT failure_reason, count(*) FROM training_examples GROUP BY 1 ORDER BY 2 DESC, 1`)
	for _, c := range st.ByReason {
		st.Total += c.Count
	}
	st.ByDay = count(`SELECT substr(timestamp, 1, 10), count(*) FROM training_examples GROUP BY 1 ORDER BY 1`)
	st.TopPrompts = count(`SELECT line ->> 'input_prompt', count(*), min(seq) FROM training_examples GROUP BY 1 ORDER BY 2 DESC, 3 LIMIT ?`, top)
	return st
}

// The training statistics come from counters kept up to date as examples
// are committed; after many inserts, read at random moments from two
// replicas, they match a full recount. A poll with nothing new costs no
// write. Before the fix every poll scanned every example (no counters).
func TestStoreTrainingStatsMatchRecount(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		a, b := open(Options{}), open(Options{})
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		reasons := []string{"Timeout", "rate_limit", "content_filter", "OOM", "unknown"}
		seq := 0
		for round := range 40 {
			batch := make([]hogpipe.Event, 1+rng.IntN(150))
			for i := range batch {
				seq++
				id := fmt.Sprintf("ts-%d", seq)
				e := ev(id, hogpipe.EventGenerationFailed, map[string]any{
					// A skewed choice, so counts differ and ties are rare but present.
					"input_prompt":   fmt.Sprintf("prompt %d", rng.IntN(1+rng.IntN(60))),
					"failure_reason": reasons[rng.IntN(len(reasons))],
				})
				e.Timestamp = e.Timestamp.AddDate(0, 0, -rng.IntN(9))
				batch[i] = e
			}
			if _, err := a.Ingest(ctx, batch); err != nil {
				t.Fatal(err)
			}
			if round%3 == 0 {
				reader := a
				if round%2 == 1 {
					reader = b
				}
				if _, err := reader.TrainingStats(ctx, 10); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, s := range []*Store{a, b} {
			got, err := s.TrainingStats(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := recountTrainingStats(t, s, 10)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("counters disagree with a recount of %d examples:\ngot  %+v\nwant %+v", seq, got, want)
			}
			if got.Total != int64(seq) {
				t.Fatalf("total %d, stored %d", got.Total, seq)
			}
		}
		commits, _, _ := a.CommitStats()
		a.TrainingStats(ctx, 10)
		if again, _, _ := a.CommitStats(); again != commits {
			t.Errorf("a poll with no new examples wrote %d transactions", again-commits)
		}
	})
}
