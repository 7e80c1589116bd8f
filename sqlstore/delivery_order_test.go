package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// deliveryEvents are Mailgun's events that move an email's state, in
// rising precedence: whatever order they arrive in, an email ends in the
// state of the highest one it got.
var deliveryEvents = []struct {
	ev    hogpipe.DeliveryEvent
	state hogpipe.EmailState
}{
	{hogpipe.DeliveryEvent{Event: "delivered"}, hogpipe.EmailDelivered},
	{hogpipe.DeliveryEvent{Event: "failed", Severity: "permanent"}, hogpipe.EmailBounced},
	{hogpipe.DeliveryEvent{Event: "complained"}, hogpipe.EmailComplained},
}

// permutations of the non-empty subsets of {0, 1, 2}.
func eventOrders() [][]int {
	var out [][]int
	var grow func(prefix []int)
	grow = func(prefix []int) {
		if len(prefix) > 0 {
			out = append(out, append([]int(nil), prefix...))
		}
		for i := range deliveryEvents {
			seen := false
			for _, p := range prefix {
				seen = seen || p == i
			}
			if !seen {
				grow(append(prefix, i))
			}
		}
	}
	grow(nil)
	return out
}

// Mailgun's events can arrive before hogpipe has recorded the send (the
// webhook races the commit of "sent"), after a send that hogpipe took for
// failed (the answer timed out but Mailgun had the message), and in any
// order. For every order of delivered, bounced and complained, arriving
// while the email is still being sent, after it was recorded sent, or
// after a timed-out attempt left it retrying, the email ends in the state
// of the highest event; it never goes back, and a retried email is not
// sent again. On both databases.
func TestStoreDeliveryEventsInAnyOrderAndWhileSending(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(emailOptions())
		ctx := context.Background()
		now := time.Now()
		n := 0
		for _, when := range []string{"sending", "sent", "retrying"} {
			for _, order := range eventOrders() {
				n++
				id := fmt.Sprintf("o%d", n)
				ingestFeatureUsed(t, s, id, id+"@example.com")
				items, err := s.ClaimEmails(ctx, now, 1, time.Minute)
				if err != nil || len(items) != 1 || items[0].Email.EventID != id {
					t.Fatalf("claim %s: %v %v", id, items, err)
				}
				finish := hogpipe.EmailOutcome{State: hogpipe.EmailSent, MessageID: "<m>", At: now}
				if when == "retrying" {
					next := now.Add(time.Hour)
					finish = hogpipe.EmailOutcome{State: hogpipe.EmailRetrying, LastError: "timeout", NextAttemptAt: &next, At: now}
				}
				if when != "sending" {
					if ok, err := s.FinishEmail(ctx, items[0].Email, finish); !ok || err != nil {
						t.Fatal(ok, err)
					}
				}
				highest := -1
				for k, i := range order {
					d := deliveryEvents[i].ev
					d.ID, d.Token, d.EmailEventID, d.Recipient, d.At = fmt.Sprintf("%s-%d", id, k), fmt.Sprintf("tok-%s-%d", id, k), id, id+"@example.com", now
					if _, err := s.RecordDelivery(ctx, d, now, time.Hour); err != nil {
						t.Fatalf("%s %s: %v", id, d.Event, err)
					}
					highest = max(highest, i)
				}
				if when == "sending" {
					if ok, err := s.FinishEmail(ctx, items[0].Email, finish); !ok || err != nil {
						t.Fatal(ok, err)
					}
				}
				want := deliveryEvents[highest].state
				m, err := s.EmailForEvent(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if m.State != want {
					t.Errorf("events %v while %s: state %s, want %s", names(order), when, m.State, want)
				}
			}
		}
		// None of them is due for another attempt.
		if items, err := s.ClaimEmails(ctx, now.Add(2*time.Hour), 100, time.Minute); err != nil || len(items) != 0 {
			t.Errorf("emails Mailgun reported on were claimed again: %d %v", len(items), err)
		}
	})
}

// emailOptions are a store's options when feature_used events send email.
func emailOptions() Options {
	return Options{Email: &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}}}
}

// ingestFeatureUsed stores a feature_used event id whose person has
// address, which queues an email to it.
func ingestFeatureUsed(t *testing.T, s *Store, id, address string) {
	t.Helper()
	e := ev(id, hogpipe.EventFeatureUsed, nil)
	e.Person = map[string]any{"email": address}
	if _, err := s.Ingest(context.Background(), []hogpipe.Event{e}); err != nil {
		t.Fatal(err)
	}
}

func names(order []int) []string {
	var out []string
	for _, i := range order {
		out = append(out, deliveryEvents[i].ev.Event+deliveryEvents[i].ev.Severity)
	}
	return out
}

// An event whose hogpipe-event-id names an email to someone else than the
// event's recipient does not touch that email (its state, history or
// counters); the recipient it names is still suppressed. On both databases.
func TestStoreDeliveryEventForAnotherRecipient(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(emailOptions())
		ctx := context.Background()
		now := time.Now()
		ingestFeatureUsed(t, s, "x1", "Ann@Example.com")
		items, err := s.ClaimEmails(ctx, now, 1, time.Minute)
		if err != nil || len(items) != 1 {
			t.Fatal(items, err)
		}
		if ok, err := s.FinishEmail(ctx, items[0].Email, hogpipe.EmailOutcome{State: hogpipe.EmailSent, At: now}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		for i, d := range []hogpipe.DeliveryEvent{
			{Event: "complained", Recipient: "mallory@example.com"},
			{Event: "failed", Severity: "permanent", Recipient: "bob@example.com"},
			{Event: "opened", Recipient: "eve@example.com"},
		} {
			d.ID, d.Token, d.EmailEventID, d.At = fmt.Sprint("x-", i), fmt.Sprint("tok-x-", i), "x1", now
			r, err := s.RecordDelivery(ctx, d, now, time.Hour)
			if err != nil || r.EmailFound {
				t.Errorf("%s for %s: %+v %v", d.Event, d.Recipient, r, err)
			}
		}
		m, _ := s.EmailForEvent(ctx, "x1")
		full, _ := s.Email(ctx, m.ID)
		if full.State != hogpipe.EmailSent || len(full.History) != 0 || full.Opens != 0 {
			t.Errorf("another recipient's events changed the email: %+v", full)
		}
		if sp, _ := s.SuppressionOf(ctx, "mallory@example.com"); sp == nil || sp.Reason != hogpipe.SuppressComplained {
			t.Errorf("mallory's complaint: %+v", sp)
		}
		// The recipient's own events, under another spelling, do count.
		d := hogpipe.DeliveryEvent{ID: "x-own", Token: "tok-x-own", Event: "delivered", Recipient: "ANN@example.com.", EmailEventID: "x1", At: now}
		if r, err := s.RecordDelivery(ctx, d, now, time.Hour); err != nil || !r.EmailFound || r.State != "delivered" {
			t.Errorf("own event: %+v %v", r, err)
		}
	})
}

// The same race run for real: the send's record and Mailgun's delivered
// event commit at the same moment, on two replicas (PostgreSQL, READ
// COMMITTED: each could miss the other's uncommitted row), for many
// emails. Every one must end delivered.
func TestStoreDeliveredRacingTheSendRecord(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		a, b := open(emailOptions()), open(emailOptions())
		ctx := context.Background()
		now := time.Now()
		const n = 150
		var evs []hogpipe.Event
		for i := range n {
			e := ev(fmt.Sprintf("r%d", i), hogpipe.EventFeatureUsed, nil)
			e.Person = map[string]any{"email": fmt.Sprintf("r%d@example.com", i)}
			evs = append(evs, e)
		}
		if _, err := a.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		items, err := a.ClaimEmails(ctx, now, n, time.Minute)
		if err != nil || len(items) != n {
			t.Fatalf("claim: %d %v", len(items), err)
		}
		errs := make(chan error, 2*n)
		for _, it := range items {
			go func() {
				_, err := a.FinishEmail(ctx, it.Email, hogpipe.EmailOutcome{State: hogpipe.EmailSent, At: now})
				errs <- err
			}()
			go func() {
				d := hogpipe.DeliveryEvent{ID: "d-" + it.Email.EventID, Token: "t-" + it.Email.EventID, Event: "delivered",
					Recipient: it.Email.Recipient, EmailEventID: it.Email.EventID, At: now}
				_, err := b.RecordDelivery(ctx, d, now, time.Hour)
				errs <- err
			}()
		}
		for range 2 * n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		lost := 0
		for _, it := range items {
			m, err := a.EmailForEvent(ctx, it.Email.EventID)
			if err != nil {
				t.Fatal(err)
			}
			if m.State != hogpipe.EmailDelivered {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("%d of %d emails missed their delivered event (state stayed sent)", lost, n)
		}
	})
}

// A replayed email starts afresh: events of its earlier send (a bounce the
// operator has since overruled by taking the address off the list) do not
// decide the state of the new one, and the new send's events move it.
func TestStoreReplayedEmailIgnoresEarlierEvents(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		s := open(emailOptions())
		ctx := context.Background()
		now := time.Now()
		ingestFeatureUsed(t, s, "rp1", "rae@example.com")
		send := func(at time.Time) {
			t.Helper()
			items, err := s.ClaimEmails(ctx, at, 1, time.Minute)
			if err != nil || len(items) != 1 {
				t.Fatalf("claim: %v %v", items, err)
			}
			if ok, err := s.FinishEmail(ctx, items[0].Email, hogpipe.EmailOutcome{State: hogpipe.EmailSent, At: at}); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		state := func() hogpipe.EmailState {
			m, _ := s.EmailForEvent(ctx, "rp1")
			return m.State
		}
		send(now)
		bounce := hogpipe.DeliveryEvent{ID: "rp-b", Token: "tok-rp-b", Event: "failed", Severity: "permanent", Recipient: "rae@example.com", EmailEventID: "rp1", At: now}
		if _, err := s.RecordDelivery(ctx, bounce, now, time.Hour); err != nil || state() != hogpipe.EmailBounced {
			t.Fatalf("bounce: %v %s", err, state())
		}
		if ok, err := s.RemoveSuppression(ctx, "rae@example.com"); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if n, err := s.ReplayEmails(ctx, hogpipe.EmailBounced, now, true); n != 1 || err != nil {
			t.Fatal(n, err)
		}
		later := now.Add(time.Minute)
		send(later)
		if st := state(); st != hogpipe.EmailSent {
			t.Errorf("replayed and sent: %s, want sent", st)
		}
		del := hogpipe.DeliveryEvent{ID: "rp-d", Token: "tok-rp-d", Event: "delivered", Recipient: "rae@example.com", EmailEventID: "rp1", At: later}
		if _, err := s.RecordDelivery(ctx, del, later, time.Hour); err != nil || state() != hogpipe.EmailDelivered {
			t.Errorf("the new send's delivered event: %v %s", err, state())
		}
	})
}
