package sqlstore

import (
	"context"
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
