package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hogpipe/hogpipe"
)

// fakeStore is a Store that records every call, so a handler test can say
// what a request did to the store, and above all that a refused request
// stored nothing. It answers like the real stores for the few ids and
// addresses the tests use; err, when set, is every call's answer (a store
// in trouble), and pingErr is Ping's.
type fakeStore struct {
	mu    sync.Mutex
	calls []string

	err     error
	pingErr error

	ingested     []hogpipe.Event
	suppressions []hogpipe.Suppression
	deliveries   []hogpipe.DeliveryEvent
}

// writes are the calls that change what the store holds.
var storeWrites = []string{"Ingest", "ReplayEmails", "AddSuppressions", "RemoveSuppression", "RecordDelivery"}

func (f *fakeStore) called(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.err
}

// writes returns the write calls made so far, in order.
func (f *fakeStore) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var w []string
	for _, c := range f.calls {
		if slices.Contains(storeWrites, c) {
			w = append(w, c)
		}
	}
	return w
}

func (f *fakeStore) Ingest(_ context.Context, events []hogpipe.Event) ([]hogpipe.IngestResult, error) {
	if err := f.called("Ingest"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res := make([]hogpipe.IngestResult, len(events))
	for i, e := range events {
		id := e.UUID
		if id == "" {
			id = fmt.Sprintf("fake-%d", len(f.ingested))
		}
		f.ingested = append(f.ingested, e)
		res[i] = hogpipe.IngestResult{UUID: id}
	}
	return res, nil
}

func (f *fakeStore) Ping(context.Context) error {
	f.called("Ping")
	return f.pingErr
}

func (f *fakeStore) Stats(context.Context) (hogpipe.Stats, error) {
	return hogpipe.Stats{}, f.called("Stats")
}

func (f *fakeStore) RecentEvents(context.Context, int) ([]hogpipe.StoredEvent, error) {
	return nil, f.called("RecentEvents")
}

// Event knows one event, "known-event".
func (f *fakeStore) Event(_ context.Context, id string) (hogpipe.EventOutcome, error) {
	if err := f.called("Event"); err != nil {
		return hogpipe.EventOutcome{}, err
	}
	if id != "known-event" {
		return hogpipe.EventOutcome{}, hogpipe.Errorf(hogpipe.ENotFound, "no event %q", id)
	}
	return hogpipe.EventOutcome{Event: hogpipe.StoredEvent{UUID: id, Name: "feature_used"}}, nil
}

func (f *fakeStore) EventsPerMinute(context.Context, time.Time) ([]hogpipe.MinuteCount, error) {
	return nil, f.called("EventsPerMinute")
}

func (f *fakeStore) ExamplesAfter(context.Context, int64, int) ([]hogpipe.ExampleLine, error) {
	return nil, f.called("ExamplesAfter")
}

func (f *fakeStore) ExamplesFiltered(context.Context, int64, int, hogpipe.ExampleFilter) ([]hogpipe.ExampleLine, error) {
	return nil, f.called("ExamplesFiltered")
}

func (f *fakeStore) TrainingStats(context.Context, int) (hogpipe.TrainingStats, error) {
	return hogpipe.TrainingStats{}, f.called("TrainingStats")
}

func (f *fakeStore) ListEmails(context.Context, hogpipe.EmailState, int) ([]hogpipe.Email, error) {
	return nil, f.called("ListEmails")
}

func (f *fakeStore) ReplayEmails(context.Context, hogpipe.EmailState, time.Time, bool) (int64, error) {
	return 2, f.called("ReplayEmails")
}

func (f *fakeStore) EmailForEvent(context.Context, string) (*hogpipe.Email, error) {
	return nil, f.called("EmailForEvent")
}

func (f *fakeStore) EmailCounts(context.Context) (map[string]int64, error) {
	return map[string]int64{}, f.called("EmailCounts")
}

// Email knows one email, id 1.
func (f *fakeStore) Email(_ context.Context, id int64) (*hogpipe.Email, error) {
	if err := f.called("Email"); err != nil {
		return nil, err
	}
	if id != 1 {
		return nil, hogpipe.Errorf(hogpipe.ENotFound, "no email %d", id)
	}
	return &hogpipe.Email{ID: 1}, nil
}

func (f *fakeStore) AddSuppressions(_ context.Context, list []hogpipe.Suppression) (int, error) {
	if err := f.called("AddSuppressions"); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.suppressions = append(f.suppressions, list...)
	return len(list), nil
}

// RemoveSuppression knows one address, listed@example.com.
func (f *fakeStore) RemoveSuppression(_ context.Context, addr string) (bool, error) {
	if err := f.called("RemoveSuppression"); err != nil {
		return false, err
	}
	return hogpipe.NormalizeAddress(addr) == "listed@example.com", nil
}

func (f *fakeStore) ListSuppressions(context.Context, hogpipe.SuppressionReason, int) ([]hogpipe.Suppression, error) {
	return nil, f.called("ListSuppressions")
}

func (f *fakeStore) SuppressionCounts(context.Context) (map[string]int64, error) {
	return map[string]int64{}, f.called("SuppressionCounts")
}

func (f *fakeStore) RecordDelivery(_ context.Context, ev hogpipe.DeliveryEvent, _ time.Time, _ time.Duration) (hogpipe.DeliveryResult, error) {
	if err := f.called("RecordDelivery"); err != nil {
		return hogpipe.DeliveryResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliveries = append(f.deliveries, ev)
	return hogpipe.DeliveryResult{EmailFound: true}, nil
}
