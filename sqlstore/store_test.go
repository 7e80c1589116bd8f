package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// backends runs a test against SQLite and against PostgreSQL. open
// returns a new Store on the same database each time it is called (two
// calls are two replicas). PostgreSQL needs HOGPIPE_TEST_DATABASE_URL;
// under CI its absence is a failure, elsewhere a skip.
func backends(t *testing.T, test func(t *testing.T, open func(opt Options) *Store)) {
	// opener is open for one database: each call a new Store on it, closed
	// when the test ends.
	opener := func(t *testing.T, openDB func(context.Context, string, Options) (*Store, error), dsn string) func(Options) *Store {
		return func(opt Options) *Store {
			s, err := openDB(context.Background(), dsn, opt)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		test(t, opener(t, OpenSQLite, filepath.Join(t.TempDir(), "hogpipe.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, opener(t, OpenPostgres, pgtest.URL(t)))
	})
}

func ev(id, name string, props map[string]any) hogpipe.Event {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	if props == nil {
		props = map[string]any{}
	}
	// Trusted: as if through an authenticated webhook.
	return hogpipe.Event{UUID: id, Name: name, DistinctID: "d-" + id, Timestamp: now, ReceivedAt: now, Source: hogpipe.SourceWebhook, Properties: props, Trusted: true}
}

func gf(id string) hogpipe.Event {
	return ev(id, hogpipe.EventGenerationFailed, map[string]any{"input_prompt": "prompt " + id, "failure_reason": "Timeout"})
}

func TestStoreIngestAndDedupe(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		res, err := s.Ingest(ctx, []hogpipe.Event{gf("a"), gf("b"), gf("a"), ev("c", "other", nil)})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Duplicate || res[1].Duplicate || !res[2].Duplicate || res[3].Duplicate {
			t.Errorf("results %+v", res)
		}
		res, _ = s.Ingest(ctx, []hogpipe.Event{gf("b")})
		if !res[0].Duplicate {
			t.Error("b stored twice")
		}
		lines, err := s.ExamplesAfter(ctx, 0, 10)
		if err != nil || len(lines) != 2 || lines[0].ID != "a" || lines[1].ID != "b" {
			t.Fatalf("examples %v %v", lines, err)
		}
		st, _ := s.Stats(ctx)
		if st.Events != 3 || st.TrainingExamples != 2 || st.EventsByName["other"] != 1 {
			t.Errorf("stats %+v", st)
		}
		if last, _ := s.LastExampleSeq(ctx); last != lines[1].Seq {
			t.Errorf("last seq %d", last)
		}
		out, err := s.Event(ctx, "a")
		if err != nil || out.TrainingExample == nil {
			t.Errorf("event a: %+v %v", out, err)
		}
		if _, err := s.Event(ctx, "zz"); hogpipe.ErrorCode(err) != hogpipe.ENotFound {
			t.Errorf("missing event: %v", err)
		}
		if err := s.SetMirrorState(ctx, "/f", hogpipe.MirrorState{Seq: 2, Bytes: 99}); err != nil {
			t.Fatal(err)
		}
		if ms, _ := s.MirrorState(ctx, "/f"); ms.Seq != 2 || ms.Bytes != 99 {
			t.Errorf("mirror state %+v", ms)
		}
		ts, err := s.TrainingStats(ctx, 5)
		if err != nil || ts.Total != 2 || ts.ByReason[0].Key != "timeout" || len(ts.TopPrompts) != 2 {
			t.Errorf("training stats %+v %v", ts, err)
		}
		mins, err := s.EventsPerMinute(ctx, time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))
		if err != nil || len(mins) == 0 {
			t.Errorf("per minute %v %v", mins, err)
		}
	})
}

// TestStoreSameUUIDOnTwoReplicas: two stores (replicas) get the same
// event at the same instant; it is stored once and exactly one says new.
func TestStoreSameUUIDOnTwoReplicas(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		a, b := open(Options{}), open(Options{})
		ctx := context.Background()
		for i := range 50 {
			id := fmt.Sprintf("twin-%d", i)
			var ra, rb []hogpipe.IngestResult
			var ea, eb error
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); ra, ea = a.Ingest(ctx, []hogpipe.Event{gf(id)}) }()
			go func() { defer wg.Done(); rb, eb = b.Ingest(ctx, []hogpipe.Event{gf(id)}) }()
			wg.Wait()
			if ea != nil || eb != nil {
				t.Fatal(ea, eb)
			}
			if ra[0].Duplicate == rb[0].Duplicate {
				t.Fatalf("%s: duplicate flags %v and %v; want exactly one new", id, ra[0].Duplicate, rb[0].Duplicate)
			}
		}
		if st, _ := a.Stats(ctx); st.Events != 50 || st.TrainingExamples != 50 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestStoreExamplesVisibleInSeqOrder: with writers on two replicas, a
// reader that follows seq (as the mirror does) never skips an example that
// committed late.
func TestStoreExamplesVisibleInSeqOrder(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		a, b := open(Options{}), open(Options{})
		ctx := context.Background()
		const per = 300
		done := make(chan struct{})
		var wg sync.WaitGroup
		for w, s := range []*Store{a, b, a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					if _, err := s.Ingest(ctx, []hogpipe.Event{gf(fmt.Sprintf("w%d-%d", w, i))}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		go func() { wg.Wait(); close(done) }()
		seen := map[string]bool{}
		var last int64
		finished := false
		for !finished {
			select {
			case <-done:
				finished = true
			default:
			}
			for {
				batch, err := a.ExamplesAfter(ctx, last, 100)
				if err != nil {
					t.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
				for _, l := range batch {
					seen[l.ID] = true
				}
				last = batch[len(batch)-1].Seq
			}
		}
		if len(seen) != 4*per {
			t.Errorf("a reader following seq saw %d of %d examples: some committed behind its back", len(seen), 4*per)
		}
	})
}

func TestStoreEmailOutbox(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}, CapWindow: time.Hour}
		a, b := open(Options{Email: pol}), open(Options{Email: pol})
		ctx := context.Background()
		fu := func(id, email string) hogpipe.Event {
			e := ev(id, hogpipe.EventFeatureUsed, nil)
			if email != "" {
				e.Person = map[string]any{"email": email}
			}
			return e
		}
		if _, err := a.Ingest(ctx, []hogpipe.Event{fu("e1", "x@example.com"), fu("e2", "x@example.com"), fu("e3", ""), fu("e4", "y@example.com")}); err != nil {
			t.Fatal(err)
		}
		states := map[string]hogpipe.EmailState{}
		for _, id := range []string{"e1", "e2", "e3", "e4"} {
			m, _ := a.EmailForEvent(ctx, id)
			states[id] = m.State
		}
		if states["e1"] != hogpipe.EmailQueued || states["e2"] != hogpipe.EmailSuppressed || states["e3"] != hogpipe.EmailSkipped || states["e4"] != hogpipe.EmailQueued {
			t.Fatalf("states %v", states)
		}
		now := time.Now()
		// Two replicas claim at once: no email goes to both.
		var ca, cb []hogpipe.OutboxItem
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); ca, _ = a.ClaimEmails(ctx, now, 10, time.Minute) }()
		go func() { defer wg.Done(); cb, _ = b.ClaimEmails(ctx, now, 10, time.Minute) }()
		wg.Wait()
		if len(ca)+len(cb) != 2 {
			t.Fatalf("claimed %d + %d, want 2 in all", len(ca), len(cb))
		}
		claimed := append(ca, cb...)
		if claimed[0].Email.ID == claimed[1].Email.ID {
			t.Fatal("one email claimed twice")
		}
		if claimed[0].Event.Person["email"] == nil || claimed[0].Email.Attempts != 1 {
			t.Errorf("claimed item %+v", claimed[0])
		}
		// Nothing more is due while leased...
		if more, _ := a.ClaimEmails(ctx, now, 10, time.Minute); len(more) != 0 {
			t.Errorf("claimed again while leased: %d", len(more))
		}
		// ...until the lease expires: another replica takes it over, and
		// the first worker's late outcome is refused.
		later := now.Add(2 * time.Minute)
		taken, _ := b.ClaimEmails(ctx, later, 10, time.Minute)
		if len(taken) != 2 || taken[0].Email.Attempts != 2 {
			t.Fatalf("takeover: %+v", taken)
		}
		if ok, _ := a.FinishEmail(ctx, claimed[0].Email, hogpipe.EmailOutcome{State: hogpipe.EmailSent, At: later}); ok {
			t.Error("a lost claim was allowed to record its outcome")
		}
		for _, it := range taken {
			ok, err := b.FinishEmail(ctx, it.Email, hogpipe.EmailOutcome{State: hogpipe.EmailFailed, LastError: "boom", At: later})
			if !ok || err != nil {
				t.Fatalf("finish: %v %v", ok, err)
			}
		}
		if n, _ := a.ReplayEmails(ctx, hogpipe.EmailFailed, later, false); n != 2 {
			t.Errorf("replayed %d", n)
		}
		counts, _ := a.EmailCounts(ctx)
		if counts["queued"] != 2 || counts["suppressed"] != 1 || counts["skipped"] != 1 {
			t.Errorf("counts %v", counts)
		}
		list, _ := a.ListEmails(ctx, hogpipe.EmailQueued, 10)
		if len(list) != 2 || list[0].Attempts != 0 || list[0].NextAttemptAt == nil {
			t.Errorf("list %+v", list)
		}
	})
}

func TestStorePersons(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		id := ev("p1", "$identify", nil)
		id.Source, id.DistinctID, id.Set = hogpipe.SourceCapture, "ada", map[string]any{"email": "ada@example.com"}
		fu := ev("p2", hogpipe.EventFeatureUsed, nil)
		fu.Source, fu.DistinctID = hogpipe.SourceCapture, "ada"
		if _, err := s.Ingest(ctx, []hogpipe.Event{id}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Ingest(ctx, []hogpipe.Event{fu}); err != nil {
			t.Fatal(err)
		}
		out, _ := s.Event(ctx, "p2")
		if !strings.Contains(string(out.Event.Person), "ada@example.com") {
			t.Errorf("person %s", out.Event.Person)
		}
	})
}

// TestStoreExports: every export format and option gives the same lines on
// both databases (SQLite renders them in SQL, PostgreSQL in Go).
func TestStoreExports(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(Options{})
		ctx := context.Background()
		var evs []hogpipe.Event
		for i := range 30 {
			e := gf(fmt.Sprintf("x%02d", i))
			e.Properties["input_prompt"] = fmt.Sprintf("prompt %d", i%4)
			e.Properties["failure_reason"] = []string{"timeout", "oom", "policy"}[i%3]
			e.Timestamp = time.Date(2026, 11, 20+i%3, 12, 0, 0, 0, time.UTC)
			evs = append(evs, e)
		}
		if _, err := s.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		count := func(opt trainingfile.Options) (int, string) {
			var b strings.Builder
			n, err := trainingfile.ExportWith(ctx, s, opt, &b, nil)
			if err != nil {
				t.Fatalf("%+v: %v", opt, err)
			}
			return int(n), b.String()
		}
		for _, f := range trainingfile.Formats {
			if n, out := count(trainingfile.Options{Format: f}); n != 30 || strings.Count(out, "\n") != 30 {
				t.Errorf("%s: %d lines", f, n)
			}
		}
		if n, out := count(trainingfile.Options{Format: trainingfile.FormatClassification, Filter: hogpipe.ExampleFilter{Reasons: []string{"oom"}}}); n != 10 || strings.Contains(out, "timeout") {
			t.Errorf("reason filter: %d lines", n)
		}
		day := hogpipe.ExampleFilter{Since: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
		if n, _ := count(trainingfile.Options{Format: trainingfile.FormatOriginal, Filter: day}); n != 10 {
			t.Errorf("one day: %d lines", n)
		}
		// prompt i%4 × reason i%3 → 12 distinct pairs over 30 examples.
		n, out := count(trainingfile.Options{Format: trainingfile.FormatClassification, DedupeContent: true})
		if n != 12 || !strings.Contains(out, `"count":3`) {
			t.Errorf("dedupe: %d lines\n%s", n, out)
		}
	})
}

// TestStoreWriterLockPerSchema: two hogpipe deployments sharing a
// PostgreSQL database in different schemas each get their own training file
// writer, while two replicas of one deployment get one between them.
func TestStoreWriterLockPerSchema(t *testing.T) {
	ctx := context.Background()
	open := func(url string) *Store {
		s, err := OpenPostgres(ctx, url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	urlA, urlB := pgtest.URL(t), pgtest.URL(t)
	a1, a2, b := open(urlA), open(urlA), open(urlB)
	la, err := a1.TryLead(ctx)
	if err != nil || la == nil {
		t.Fatalf("first replica of A: leader %v, %v", la, err)
	}
	defer la.Release()
	if l, err := a2.TryLead(ctx); err != nil || l != nil {
		t.Fatalf("second replica of A also leads (%v, %v)", l, err)
	}
	lb, err := b.TryLead(ctx)
	if err != nil || lb == nil {
		t.Fatalf("deployment B in another schema cannot lead while A does: %v, %v", lb, err)
	}
	lb.Release()
	// The group-commit lock is per schema too: B commits while A holds its.
	tx, err := a1.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT pg_advisory_xact_lock($1)`, a1.locks.writes); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.Ingest(wctx, []hogpipe.Event{gf("b-while-a-commits")}); err != nil {
		t.Fatalf("B waits on A's group commit: %v", err)
	}
}
