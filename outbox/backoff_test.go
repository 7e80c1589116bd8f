package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// These tests drive one attempt at a time with a fixed clock, a fake
// sender and a fake store, so the delays the outbox chooses can be read
// exactly: NextAttemptAt minus the clock is the delay.

var testNow = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// fakeSender answers every send with err (nil: accepted), after waiting
// for the context when block is set.
type fakeSender struct {
	mu    sync.Mutex
	sends int
	err   error
	block bool
}

func (s *fakeSender) Send(ctx context.Context, m hogpipe.Message) (string, error) {
	s.mu.Lock()
	s.sends++
	s.mu.Unlock()
	if s.block {
		<-ctx.Done()
		return "", ctx.Err()
	}
	if s.err != nil {
		return "", s.err
	}
	return "<msg-1@mg.example.com>", nil
}

// fakeOutboxStore records finished outcomes; suppressed, when set, is on
// the suppression list.
type fakeOutboxStore struct {
	mu         sync.Mutex
	suppressed string
	finished   []hogpipe.EmailOutcome
}

func (f *fakeOutboxStore) ClaimEmails(context.Context, time.Time, int, time.Duration) ([]hogpipe.OutboxItem, error) {
	return nil, nil
}

func (f *fakeOutboxStore) FinishEmail(_ context.Context, _ hogpipe.Email, out hogpipe.EmailOutcome) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finished = append(f.finished, out)
	return true, nil
}

func (f *fakeOutboxStore) SuppressionOf(_ context.Context, addr string) (*hogpipe.Suppression, error) {
	if addr == f.suppressed {
		return &hogpipe.Suppression{Address: addr, Reason: hogpipe.SuppressUnsubscribed, Source: "api"}, nil
	}
	return nil, nil
}

func newTestWorker(cfg Config, sender Sender) (*Worker, *fakeOutboxStore) {
	st := &fakeOutboxStore{}
	w := New(cfg, st, sender, slog.New(slog.DiscardHandler))
	w.now = func() time.Time { return testNow }
	return w, st
}

func item(attempts int) hogpipe.OutboxItem {
	return hogpipe.OutboxItem{
		Email: hogpipe.Email{ID: 7, EventID: "evt-7", Recipient: "someone@example.com", Template: hogpipe.EventFeatureUsed, Attempts: attempts},
		Event: hogpipe.Event{UUID: "evt-7", Name: hogpipe.EventFeatureUsed, DistinctID: "u1"},
	}
}

// delayOf is the wait an outcome asks for before the next attempt.
func delayOf(t *testing.T, out hogpipe.EmailOutcome) time.Duration {
	t.Helper()
	if out.State != hogpipe.EmailRetrying || out.NextAttemptAt == nil {
		t.Fatalf("outcome %s (%s), next attempt %v; want retrying with a next attempt", out.State, out.LastError, out.NextAttemptAt)
	}
	return out.NextAttemptAt.Sub(testNow)
}

var transient = &hogpipe.SendError{Err: errors.New("mailgun answered 503")}

// TestBackoffGrowsWithJitter: attempt n waits between half and all of
// base·2^(n-1), capped at BackoffMax, and the waits of one attempt are
// spread over that range (so failures together do not retry together).
func TestBackoffGrowsWithJitter(t *testing.T) {
	cfg := Config{BackoffBase: 2 * time.Second, BackoffMax: 10 * time.Minute, MaxAttempts: 1000}
	w, _ := newTestWorker(cfg, &fakeSender{err: transient})
	for _, c := range []struct {
		attempts int
		full     time.Duration // the delay before jitter
	}{
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{3, 8 * time.Second},
		{5, 32 * time.Second},
		{8, 256 * time.Second},
		{9, 512 * time.Second},
		{10, 10 * time.Minute}, // 1024 s: capped
		{30, 10 * time.Minute},
		{64, 10 * time.Minute}, // past the shift's width: still the cap, never 0 or negative
		{999, 10 * time.Minute},
	} {
		lo, hi := c.full, time.Duration(0)
		for range 200 {
			d := delayOf(t, w.attempt(item(c.attempts)))
			lo, hi = min(lo, d), max(hi, d)
		}
		if lo < c.full/2 || hi > c.full {
			t.Errorf("attempt %d: delays from %s to %s, want within [%s, %s]", c.attempts, lo, hi, c.full/2, c.full)
		}
		if hi-lo < c.full/8 {
			t.Errorf("attempt %d: 200 delays all within %s to %s: no jitter", c.attempts, lo, hi)
		}
	}
}

// TestRetryAfterIsAMinimum: a provider's Retry-After lengthens the wait,
// never shortens it, and is capped at an hour.
func TestRetryAfterIsAMinimum(t *testing.T) {
	cfg := Config{BackoffBase: 2 * time.Second, BackoffMax: 10 * time.Minute, MaxAttempts: 10}
	for _, c := range []struct {
		name           string
		attempts       int
		retryAfter     time.Duration
		minWait, maxWt time.Duration
	}{
		{"longer than the backoff", 1, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute},
		{"shorter than the backoff", 6, time.Second, 32 * time.Second, 64 * time.Second},
		{"longer than the cap", 1, 3 * time.Hour, time.Hour, time.Hour},
		{"none", 1, 0, time.Second, 2 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, _ := newTestWorker(cfg, &fakeSender{err: &hogpipe.SendError{RetryAfter: c.retryAfter, Err: errors.New("mailgun answered 429")}})
			for range 50 {
				if d := delayOf(t, w.attempt(item(c.attempts))); d < c.minWait || d > c.maxWt {
					t.Fatalf("waits %s, want within [%s, %s]", d, c.minWait, c.maxWt)
				}
			}
		})
	}
}

// TestAttemptOutcomes: what each kind of send result becomes.
func TestAttemptOutcomes(t *testing.T) {
	cfg := Config{MaxAttempts: 3, Timeout: 50 * time.Millisecond}
	for _, c := range []struct {
		name       string
		attempts   int
		sender     *fakeSender
		suppressed bool
		state      hogpipe.EmailState
		inError    string
		sends      int
	}{
		{"sent", 1, &fakeSender{}, false, hogpipe.EmailSent, "", 1},
		{"transient, attempts left", 2, &fakeSender{err: transient}, false, hogpipe.EmailRetrying, "503", 1},
		{"transient, last attempt", 3, &fakeSender{err: transient}, false, hogpipe.EmailFailed, "gave up after 3 attempts", 1},
		{"transient, past the last attempt", 4, &fakeSender{err: transient}, false, hogpipe.EmailFailed, "gave up after 4 attempts", 1},
		{"permanent, first attempt", 1, &fakeSender{err: &hogpipe.SendError{Permanent: true, Err: errors.New("mailgun answered 400: bad address")}},
			false, hogpipe.EmailFailed, "bad address", 1},
		{"permanent wrapped", 1, &fakeSender{err: fmt.Errorf("send: %w", &hogpipe.SendError{Permanent: true, Err: errors.New("401")})},
			false, hogpipe.EmailFailed, "401", 1},
		{"not a SendError: transient", 1, &fakeSender{err: errors.New("connection reset")}, false, hogpipe.EmailRetrying, "connection reset", 1},
		{"no answer within the timeout", 1, &fakeSender{block: true}, false, hogpipe.EmailRetrying, "no answer within 50ms", 1},
		{"suppressed since queued: not sent", 1, &fakeSender{}, true, hogpipe.EmailSuppressed, "suppression list", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, st := newTestWorker(cfg, c.sender)
			if c.suppressed {
				st.suppressed = "someone@example.com"
			}
			out := w.attempt(item(c.attempts))
			if out.State != c.state || !strings.Contains(out.LastError, c.inError) {
				t.Errorf("outcome %s %q, want %s with %q", out.State, out.LastError, c.state, c.inError)
			}
			if (out.State == hogpipe.EmailRetrying) != (out.NextAttemptAt != nil) {
				t.Errorf("state %s with next attempt %v", out.State, out.NextAttemptAt)
			}
			if c.sender.sends != c.sends {
				t.Errorf("%d sends, want %d", c.sender.sends, c.sends)
			}
		})
	}
}

// TestProcessRecordsOutcome: process records what the attempt came to,
// stamped with the clock.
func TestProcessRecordsOutcome(t *testing.T) {
	w, st := newTestWorker(Config{MaxAttempts: 2}, &fakeSender{err: transient})
	var told []hogpipe.EmailState
	w.OnOutcome = func(s hogpipe.EmailState) { told = append(told, s) }
	w.process(item(2), testNow)
	if len(st.finished) != 1 || st.finished[0].State != hogpipe.EmailFailed || !st.finished[0].At.Equal(testNow) {
		t.Fatalf("recorded %+v, want one failed outcome at %s", st.finished, testNow)
	}
	if len(told) != 1 || told[0] != hogpipe.EmailFailed {
		t.Errorf("OnOutcome told %v", told)
	}
}
