package metrics

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// sample is one series as the registry gathers it: a counter's or gauge's
// value, a histogram's count and sum.
type sample struct {
	value, count, sum float64
}

// gather reads every series of m's registry, keyed name{label="value",…}
// with labels sorted, the way dashboards and alerts name them.
func gather(t *testing.T, m *Metrics) map[string]sample {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sample{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(labels)
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			var s sample
			switch {
			case mt.Counter != nil:
				s.value = mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				s.value = mt.GetGauge().GetValue()
			case mt.Histogram != nil:
				s.count, s.sum = float64(mt.GetHistogram().GetSampleCount()), mt.GetHistogram().GetSampleSum()
			}
			out[key] = s
		}
	}
	return out
}

func want(t *testing.T, got map[string]sample, key string, s sample) {
	t.Helper()
	g, ok := got[key]
	if !ok {
		var names []string
		for k := range got {
			if strings.HasPrefix(k, "hogpipe_") {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		t.Errorf("no series %s; have:\n%s", key, strings.Join(names, "\n"))
		return
	}
	if g != s {
		t.Errorf("%s = %+v, want %+v", key, g, s)
	}
}

// TestMetricsMove: each recording call moves the series dashboards and
// alerts use, under the names and labels the README documents.
func TestMetricsMove(t *testing.T) {
	m := New()
	got := gather(t, m)
	// Send outcomes exist at zero before any send, so rate() works.
	for _, o := range []string{"sent", "retrying", "failed", "dry_run"} {
		want(t, got, `hogpipe_email_sends_total{outcome="`+o+`"}`, sample{})
	}

	m.Request("POST /e/", 200, "")
	m.Request("POST /e/", 401, "unauthorized")
	m.Request("", 0, "not_found")
	m.Ingested(hogpipe.SourceCapture, time.Now(), []string{hogpipe.EventFeatureUsed, "my custom event", "$pageview"}, []bool{false, false, true})
	m.Ingested(hogpipe.SourceWebhook, time.Now(), []string{hogpipe.EventGenerationFailed}, []bool{false})
	m.CaptureEventsRejected(3)
	m.CaptureEventsRejected(2)
	m.Commit(5, 2*time.Millisecond)
	m.Commit(1, 4*time.Millisecond)
	m.EmailOutcome(hogpipe.EmailSent)
	m.EmailOutcome(hogpipe.EmailRetrying)
	m.EmailOutcome(hogpipe.EmailRetrying)

	got = gather(t, m)
	want(t, got, `hogpipe_http_requests_total{route="POST /e/",status="200"}`, sample{value: 1})
	want(t, got, `hogpipe_http_requests_total{route="POST /e/",status="401"}`, sample{value: 1})
	want(t, got, `hogpipe_http_requests_total{route="unmatched",status="200"}`, sample{value: 1})
	want(t, got, `hogpipe_requests_rejected_total{reason="unauthorized"}`, sample{value: 1})
	want(t, got, `hogpipe_requests_rejected_total{reason="not_found"}`, sample{value: 1})
	want(t, got, `hogpipe_events_stored_total{event="feature_used",source="capture"}`, sample{value: 1})
	want(t, got, `hogpipe_events_stored_total{event="other",source="capture"}`, sample{value: 1}) // client names do not become labels
	want(t, got, `hogpipe_events_stored_total{event="generation_failed",source="webhook"}`, sample{value: 1})
	want(t, got, `hogpipe_events_deduplicated_total{event="$pageview",source="capture"}`, sample{value: 1})
	if s := got[`hogpipe_ingest_duration_seconds{source="capture"}`]; s.count != 1 {
		t.Errorf("ingest duration (capture) observed %v times, want 1", s.count)
	}
	want(t, got, `hogpipe_capture_events_rejected_total`, sample{value: 5})
	want(t, got, `hogpipe_commit_batch_size`, sample{count: 2, sum: 6})
	if s := got[`hogpipe_commit_duration_seconds`]; s.count != 2 || s.sum < 0.0059 || s.sum > 0.0061 {
		t.Errorf("commit duration %+v, want 2 observations summing to 6ms", s)
	}
	want(t, got, `hogpipe_email_sends_total{outcome="sent"}`, sample{value: 1})
	want(t, got, `hogpipe_email_sends_total{outcome="retrying"}`, sample{value: 2})
	want(t, got, `hogpipe_email_sends_total{outcome="failed"}`, sample{})
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s: the runtime collectors are not registered", name)
		}
	}
}

type fakeGauges struct{}

func (fakeGauges) EmailCounts(context.Context) (map[string]int64, error) {
	return map[string]int64{"queued": 4, "failed": 1}, nil
}

func (fakeGauges) OldestQueued(context.Context) (time.Time, bool, error) {
	return time.Now().Add(-time.Minute), true, nil
}

func (fakeGauges) LastExampleSeq(context.Context) (int64, error) { return 120, nil }

// TestStoreGauges: the gauges are read from the store at scrape time.
func TestStoreGauges(t *testing.T) {
	m := New()
	seq := int64(100)
	m.Watch(fakeGauges{}, func() int64 { return seq })
	got := gather(t, m)
	want(t, got, `hogpipe_email_outbox{state="queued"}`, sample{value: 4})
	want(t, got, `hogpipe_email_outbox{state="failed"}`, sample{value: 1})
	want(t, got, `hogpipe_email_outbox{state="sent"}`, sample{})
	want(t, got, `hogpipe_training_file_lag`, sample{value: 20})
	if age := got[`hogpipe_email_oldest_queued_age_seconds`].value; age < 59 || age > 3600 {
		t.Errorf("oldest queued age %v s, want about 60", age)
	}
	seq = 120
	want(t, gather(t, m), `hogpipe_training_file_lag`, sample{})
}

// TestNilMetrics: a nil *Metrics records nothing and does not panic.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.Request("x", 200, "r")
	m.Ingested(hogpipe.SourceCapture, time.Now(), []string{"a"}, []bool{false})
	m.CaptureEventsRejected(1)
	m.Commit(1, time.Millisecond)
	m.EmailOutcome(hogpipe.EmailSent)
}
