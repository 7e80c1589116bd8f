package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Every spelling of one address shares one suppression; other mailboxes
// (tags, dots in the local part) are not caught by it. On both databases.
func TestStoreSuppressionKeyedByNormalizedAddress(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}, CapWindow: 0}
		s := open(Options{Email: pol})
		ctx := context.Background()
		same := []string{"Åsa.Lind@Example.COM", "åsa.lind@example.com", " ÅSA.LIND@EXAMPLE.COM. ", "åsa.lind@example.com."}
		other := []string{"asa.lind@example.com", "åsa.lind+news@example.com", "åsalind@example.com", "åsa.lind@example.co"}
		if n, err := s.AddSuppressions(ctx, []hogpipe.Suppression{{Address: same[0], Reason: hogpipe.SuppressManual, Source: "test"}}); err != nil || n != 1 {
			t.Fatalf("add: %d %v", n, err)
		}
		for i, a := range same[1:] {
			if n, err := s.AddSuppressions(ctx, []hogpipe.Suppression{{Address: a, Reason: hogpipe.SuppressBounced, Source: "test"}}); err != nil || n != 0 {
				t.Errorf("variant %d %q added again: %d %v", i, a, n, err)
			}
		}
		var evs []hogpipe.Event
		for i, a := range append(append([]string{}, same...), other...) {
			e := ev(fmt.Sprintf("s%d", i), hogpipe.EventFeatureUsed, nil)
			e.Person = map[string]any{"email": a}
			evs = append(evs, e)
		}
		if _, err := s.Ingest(ctx, evs); err != nil {
			t.Fatal(err)
		}
		for i, e := range evs {
			m, err := s.EmailForEvent(ctx, e.UUID)
			if err != nil || m == nil {
				t.Fatalf("%s: %v", e.UUID, err)
			}
			want := hogpipe.EmailQueued
			if i < len(same) {
				want = hogpipe.EmailSuppressed
			}
			if m.State != want {
				t.Errorf("%q: %s (%s), want %s", e.Person["email"], m.State, m.Reason, want)
			}
			if want == hogpipe.EmailSuppressed && !strings.Contains(m.Reason, "manual") {
				t.Errorf("%q: reason %q", e.Person["email"], m.Reason)
			}
		}
		if sp, _ := s.SuppressionOf(ctx, " åsa.LIND@example.com "); sp == nil || sp.Address != "åsa.lind@example.com" {
			t.Errorf("SuppressionOf: %+v", sp)
		}
		for _, bad := range []string{"", "nobody", "a@b", "<a@b.co>", "a b@c.co"} {
			if _, err := s.AddSuppressions(ctx, []hogpipe.Suppression{{Address: bad, Reason: hogpipe.SuppressManual, Source: "test"}}); hogpipe.ErrorCode(err) != hogpipe.EInvalid {
				t.Errorf("%q: %v, want invalid", bad, err)
			}
		}
		if counts, _ := s.SuppressionCounts(ctx); len(counts) != 1 || counts["manual"] != 1 {
			t.Errorf("a refused address was stored: %v", counts)
		}
	})
}

// A signature token is remembered across replicas: the same event again is
// a duplicate, another event with it is refused and changes nothing.
func TestStoreDeliveryTokensAcrossReplicas(t *testing.T) {
	backends(t, func(t *testing.T, open func(Options) *Store) {
		pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}}
		a, b := open(Options{Email: pol}), open(Options{Email: pol})
		ctx := context.Background()
		e := ev("d1", hogpipe.EventFeatureUsed, nil)
		e.Person = map[string]any{"email": "ann@example.com"}
		if _, err := a.Ingest(ctx, []hogpipe.Event{e}); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		items, err := a.ClaimEmails(ctx, now, 1, time.Minute)
		if err != nil || len(items) != 1 {
			t.Fatalf("claim: %v %v", items, err)
		}
		if ok, err := a.FinishEmail(ctx, items[0].Email, hogpipe.EmailOutcome{State: hogpipe.EmailSent, MessageID: "<m>", At: now}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		del := hogpipe.DeliveryEvent{ID: "ev1", Event: "delivered", Recipient: "ann@example.com", EmailEventID: "d1", At: now, Token: "tok1"}
		r, err := a.RecordDelivery(ctx, del, now, time.Hour)
		if err != nil || r.State != "delivered" || r.Duplicate {
			t.Fatalf("delivered: %+v %v", r, err)
		}
		if r, err := b.RecordDelivery(ctx, del, now, time.Hour); err != nil || !r.Duplicate {
			t.Errorf("same event on the other replica: %+v %v", r, err)
		}
		evil := hogpipe.DeliveryEvent{ID: "ev2", Event: "complained", Recipient: "ann@example.com", EmailEventID: "d1", At: now, Token: "tok1"}
		if _, err := b.RecordDelivery(ctx, evil, now, time.Hour); hogpipe.ErrorCode(err) != hogpipe.ERejected {
			t.Errorf("reused token: %v", err)
		}
		m, _ := a.EmailForEvent(ctx, "d1")
		full, _ := a.Email(ctx, m.ID)
		if sp, _ := a.SuppressionOf(ctx, "ann@example.com"); sp != nil || full.State != hogpipe.EmailDelivered || len(full.History) != 1 {
			t.Errorf("after the refused replay: %+v, suppression %+v", full, sp)
		}
		// Once a token is older than the TTL it is forgotten (the webhook
		// layer refuses such timestamps as stale before they get here).
		later := now.Add(2 * time.Hour)
		evil.Token, evil.ID = "tok2", "ev3"
		if r, err := b.RecordDelivery(ctx, evil, later, time.Hour); err != nil || r.State != "complained" || !r.Suppressed {
			t.Errorf("complaint: %+v %v", r, err)
		}
	})
}
