package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
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
	st.TopPrompts = count(`SELECT `+s.d.jsonText("line", "input_prompt")+`, count(*), min(seq) FROM training_examples GROUP BY 1 ORDER BY 2 DESC, 3 LIMIT ?`, top)
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
		// A dashboard on the other replica polls all along, folding
		// concurrently with the ingest and with the polls below.
		stop := make(chan struct{})
		polled := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stop:
					polled <- nil
					return
				default:
				}
				if _, err := b.TrainingStats(ctx, 10); err != nil {
					polled <- err
					return
				}
			}
		}()
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
		close(stop)
		if err := <-polled; err != nil {
			t.Fatal(err)
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

func emailStates(t *testing.T, s *Store, ids ...string) []hogpipe.EmailState {
	t.Helper()
	var out []hogpipe.EmailState
	for _, id := range ids {
		m, err := s.EmailForEvent(context.Background(), id)
		if err != nil || m == nil {
			t.Fatalf("email of %s: %v %v", id, m, err)
		}
		out = append(out, m.State)
	}
	return out
}

// The frequency cap keys on the normalized address: case variants of one
// address (and a trailing dot on its domain) get one email. Before the fix
// each variant got its own. Rows a previous release wrote (no key) still
// count, by their exact address.
func TestStoreCapKeysOnNormalizedAddress(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}, CapWindow: time.Hour}
		s := open(Options{Email: pol})
		ctx := context.Background()
		variants := []string{"Victim@Example.org", "VICTIM@example.org", "victim@EXAMPLE.org", " victim@example.org. ", "vIcTiM@eXaMpLe.OrG"}
		var ids []string
		for i, v := range variants {
			id := fmt.Sprintf("cv%d", i)
			ids = append(ids, id)
			// One event per request, as an attacker would send them.
			if _, err := s.Ingest(ctx, []hogpipe.Event{fuTo(id, v)}); err != nil {
				t.Fatal(err)
			}
		}
		got := emailStates(t, s, ids...)
		if got[0] != hogpipe.EmailQueued {
			t.Fatalf("first variant: %s", got[0])
		}
		for i, st := range got[1:] {
			if st != hogpipe.EmailSuppressed {
				t.Errorf("%q: %s, want suppressed", variants[i+1], st)
			}
		}
		// A different address is not held back.
		s.Ingest(ctx, []hogpipe.Event{fuTo("other", "victim2@example.org")})
		if st := emailStates(t, s, "other"); st[0] != hogpipe.EmailQueued {
			t.Errorf("another address: %s", st[0])
		}
		// A row from the previous release: no recipient_key.
		now := hogpipe.FormatTime(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
		if err := s.write(ctx, func(tx *txn) error {
			_, err := tx.Exec(`INSERT INTO emails (event_uuid, state, recipient, template, reason, created_at, updated_at)
				VALUES ('old-release', 'sent', 'legacy@example.org', 'feature_used', '', ?, ?)`, now, now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		s.Ingest(ctx, []hogpipe.Event{fuTo("after-old", "legacy@example.org")})
		if st := emailStates(t, s, "after-old"); st[0] != hogpipe.EmailSuppressed {
			t.Errorf("a previous release's email did not count for the cap: %s", st[0])
		}
	})
}

// Events from untrusted clients (capture from another machine) do not
// trigger a real email unless the policy allows it; the row says why.
func TestStoreUntrustedEventsSendNothing(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}, CapWindow: time.Hour}
		s := open(Options{Email: pol})
		ctx := context.Background()
		e := fuTo("remote", "someone@example.org")
		e.Trusted, e.Source = false, hogpipe.SourceCapture
		s.Ingest(ctx, []hogpipe.Event{e})
		m, _ := s.EmailForEvent(ctx, "remote")
		if m.State != hogpipe.EmailSkipped || m.Reason != hogpipe.UntrustedReason {
			t.Fatalf("untrusted event: %s %q", m.State, m.Reason)
		}
		// It holds nothing back: a trusted event to the same address is sent.
		s.Ingest(ctx, []hogpipe.Event{fuTo("trusted", "someone@example.org")})
		if st := emailStates(t, s, "trusted"); st[0] != hogpipe.EmailQueued {
			t.Errorf("trusted after untrusted: %s", st[0])
		}
		if items, _ := s.ClaimEmails(ctx, time.Now(), 10, time.Minute); len(items) != 1 || items[0].Email.EventID != "trusted" {
			t.Errorf("claimed %+v", items)
		}
		pol.FromUntrusted = true
		e.UUID = "remote-allowed"
		s.Ingest(ctx, []hogpipe.Event{e})
		if st := emailStates(t, s, "remote-allowed"); st[0] != hogpipe.EmailSuppressed {
			t.Errorf("with FromUntrusted: %s, want it to go through (to the cap)", st[0])
		}
	})
}

// The send budgets defer what is over them (state deferred, next attempt
// when the window frees a slot) and send it later: nothing is lost, and no
// hour sees more sends than the budgets allow.
func TestStoreSendBudgetsDeferAndLaterSend(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}, CapWindow: time.Hour,
			SendsPerHour: 5, DomainSendsPerHour: 2}
		s := open(Options{Email: pol})
		ctx := context.Background()
		var evs []hogpipe.Event
		want := map[string]bool{}
		for i := range 9 {
			domain := []string{"a.example", "B.example", "c.example"}[i%3]
			id := fmt.Sprintf("b%d", i)
			evs = append(evs, fuTo(id, fmt.Sprintf("u%d@%s", i, domain)))
			want[id] = true
		}
		if _, err := s.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		sent := map[string]time.Time{}
		perDomain := map[string][]time.Time{}
		for step := 0; step < 12 && len(sent) < len(want); step++ {
			now := start.Add(time.Duration(step) * 20 * time.Minute)
			items, err := s.ClaimEmails(ctx, now, 100, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if _, dup := sent[it.Email.EventID]; dup {
					t.Fatalf("%s sent twice", it.Email.EventID)
				}
				sent[it.Email.EventID] = now
				d := hogpipe.RecipientDomain(hogpipe.NormalizeAddress(it.Email.Recipient))
				perDomain[d] = append(perDomain[d], now)
				s.FinishEmail(ctx, it.Email, hogpipe.EmailOutcome{State: hogpipe.EmailSent, At: now})
			}
			if step == 0 {
				if len(items) != 5 {
					t.Fatalf("first claim took %d, want the global budget of 5", len(items))
				}
				deferred, _ := s.ListEmails(ctx, hogpipe.EmailDeferred, 100)
				if len(deferred) != 4 || deferred[0].NextAttemptAt == nil || !deferred[0].NextAttemptAt.After(now.Add(59*time.Minute)) ||
					!strings.Contains(deferred[0].Reason, "send budget") {
					t.Fatalf("deferred after the first claim: %+v", deferred)
				}
			}
		}
		if len(sent) != len(want) {
			t.Fatalf("sent %d of %d: %v", len(sent), len(want), sent)
		}
		// No hour-long window holds more than the budgets allow.
		within := func(ts []time.Time, at time.Time) int {
			n := 0
			for _, x := range ts {
				if !x.Before(at) && x.Before(at.Add(time.Hour)) {
					n++
				}
			}
			return n
		}
		var all []time.Time
		for _, at := range sent {
			all = append(all, at)
		}
		for _, at := range all {
			if n := within(all, at); n > pol.SendsPerHour {
				t.Errorf("%d sends in the hour from %v", n, at.Sub(start))
			}
			for d, ts := range perDomain {
				if n := within(ts, at); n > pol.DomainSendsPerHour {
					t.Errorf("%d sends to %s in the hour from %v", n, d, at.Sub(start))
				}
			}
		}
		counts, _ := s.EmailCounts(ctx)
		if counts["sent"] != 9 || counts["deferred"] != 0 {
			t.Errorf("counts %v", counts)
		}
	})
}

// hideAdaPolicy redacts ada@example.com from training prompts as
// "[EMAIL]".
func hideAdaPolicy() *hogpipe.TrainingPolicy {
	return &hogpipe.TrainingPolicy{Redact: []string{"email"}, Redactor: func(s string, _ []string) (string, []string) {
		return strings.ReplaceAll(s, "ada@example.com", "[EMAIL]"), []string{"email"}
	}}
}

// adaPromptEvents are n failed generations with ids prefix+i whose
// prompts name ada@example.com, four prompts in turn.
func adaPromptEvents(prefix string, n int) []hogpipe.Event {
	var evs []hogpipe.Event
	for i := range n {
		evs = append(evs, ev(fmt.Sprintf("%s%d", prefix, i), hogpipe.EventGenerationFailed,
			map[string]any{"input_prompt": fmt.Sprintf("mail ada@example.com %d", i%4), "failure_reason": "Timeout"}))
	}
	return evs
}

// After examples are rewritten (new redaction rules), the counters are
// recounted: the statistics show the new prompts and match a recount.
func TestStoreTrainingStatsAfterRewrite(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		ctx := context.Background()
		s := open(Options{Training: hideAdaPolicy()})
		evs := adaPromptEvents("rw", 30)
		if _, err := s.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		before, _ := s.TrainingStats(ctx, 2)
		if len(before.TopPrompts) == 0 || !strings.Contains(before.TopPrompts[0].Key, "[EMAIL]") {
			t.Fatalf("before: %+v", before)
		}
		if _, err := s.RewriteExamples(ctx, &hogpipe.TrainingPolicy{}); err != nil {
			t.Fatal(err)
		}
		after, err := s.TrainingStats(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if want := recountTrainingStats(t, s, 2); !reflect.DeepEqual(after, want) || !strings.Contains(after.TopPrompts[0].Key, "ada@example.com") {
			t.Fatalf("after the rewrite:\ngot  %+v\nwant %+v", after, want)
		}
	})
}

// A rewrite that stops part way (cancelled, the process killed) leaves
// the counters agreeing with a recount: each batch of rewritten lines
// resets them in its own transaction. Before, only the end of a complete
// rewrite did, so the counters kept the old prompts and reasons for good.
func TestStoreTrainingStatsAfterInterruptedRewrite(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		ctx := context.Background()
		s := open(Options{Training: hideAdaPolicy()})
		evs := adaPromptEvents("irw", 2100)
		for i := 0; i < len(evs); i += 500 {
			if _, err := s.Ingest(ctx, evs[i:min(i+500, len(evs))]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.TrainingStats(ctx, 2); err != nil {
			t.Fatal(err)
		}
		// The rewrite stops while it renders its second batch (2000 per batch).
		rctx, cancel := context.WithCancel(ctx)
		defer cancel()
		rendered := 0
		show := &hogpipe.TrainingPolicy{Redact: []string{"email"}, Redactor: func(s string, _ []string) (string, []string) {
			if rendered++; rendered > 2000 {
				cancel()
			}
			return s, nil
		}}
		if _, err := s.RewriteExamples(rctx, show); err == nil {
			t.Fatal("the cancelled rewrite reports no error")
		}
		got, err := s.TrainingStats(ctx, 4)
		if err != nil {
			t.Fatal(err)
		}
		if want := recountTrainingStats(t, s, 4); !reflect.DeepEqual(got, want) {
			t.Fatalf("after an interrupted rewrite:\ngot  %+v\nwant %+v", got, want)
		}
	})
}
