// Package metrics is hogpipe's Prometheus instrumentation
// (github.com/prometheus/client_golang): the counters and histograms the
// code updates, and gauges read from the store at scrape time.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hogpipe/hogpipe"
)

// Metrics holds every collector. A nil *Metrics is valid and records
// nothing, so packages need no "if metrics != nil".
type Metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	ingestSeconds *prometheus.HistogramVec
	stored        *prometheus.CounterVec
	deduplicated  *prometheus.CounterVec
	batchSize     prometheus.Histogram
	commitSeconds prometheus.Histogram
	sends         *prometheus.CounterVec
	eventsRefused prometheus.Counter
}

// Gauges are read from the store when Prometheus scrapes.
type Gauges interface {
	EmailCounts(ctx context.Context) (map[string]int64, error)
	OldestQueued(ctx context.Context) (time.Time, bool, error)
	LastExampleSeq(ctx context.Context) (int64, error)
}

// New registers the collectors the code updates; Watch adds the gauges
// read from the store once it is open.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hogpipe_http_requests_total", Help: "HTTP requests by route pattern and status code.",
	}, []string{"route", "status"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hogpipe_requests_rejected_total", Help: "Requests refused, by reason (malformed, invalid, too_large, unauthorized, rate_limited, overloaded, …).",
	}, []string{"reason"})
	m.ingestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "hogpipe_ingest_duration_seconds", Help: "Time from request start to durable commit of its events.",
		Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
	}, []string{"source"})
	m.stored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hogpipe_events_stored_total", Help: "Events stored, by event name and source (names outside a fixed set count as \"other\").",
	}, []string{"event", "source"})
	m.deduplicated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hogpipe_events_deduplicated_total", Help: "Events received again (same uuid) and not stored twice.",
	}, []string{"event", "source"})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hogpipe_commit_batch_size", Help: "Writes sharing one group commit.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
	})
	m.commitSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hogpipe_commit_duration_seconds", Help: "Duration of one group commit, fsync included.",
		Buckets: []float64{.0002, .0005, .001, .002, .005, .01, .02, .05, .1, .5, 1},
	})
	m.sends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hogpipe_email_sends_total", Help: "Email send attempts by outcome (sent, retrying, failed, dry_run).",
	}, []string{"outcome"})
	m.eventsRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hogpipe_capture_events_rejected_total", Help: "Events refused inside capture batches that were otherwise stored (the request counts once, as reason events_rejected).",
	})
	m.reg.MustRegister(m.eventsRefused, m.requests, m.rejected, m.ingestSeconds, m.stored, m.deduplicated, m.batchSize, m.commitSeconds, m.sends,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Known outcomes appear at zero, so rate() works from the first send.
	for _, s := range []hogpipe.EmailState{hogpipe.EmailSent, hogpipe.EmailRetrying, hogpipe.EmailFailed, hogpipe.EmailDryRun} {
		m.sends.WithLabelValues(string(s))
	}
	return m
}

// Watch adds the store's gauges; mirrorSeq reports how far the training
// file has got, for the lag gauge.
func (m *Metrics) Watch(g Gauges, mirrorSeq func() int64) {
	m.reg.MustRegister(&storeCollector{g: g, mirrorSeq: mirrorSeq})
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Request counts one answered request.
func (m *Metrics) Request(route string, status int, reason string) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, statusLabel(status)).Inc()
	if reason != "" {
		m.rejected.WithLabelValues(reason).Inc()
	}
}

// Ingested records a request's events once they are durable.
func (m *Metrics) Ingested(source hogpipe.Source, start time.Time, names []string, duplicate []bool) {
	if m == nil {
		return
	}
	m.ingestSeconds.WithLabelValues(string(source)).Observe(time.Since(start).Seconds())
	for i, n := range names {
		if duplicate[i] {
			m.deduplicated.WithLabelValues(eventLabel(n), string(source)).Inc()
		} else {
			m.stored.WithLabelValues(eventLabel(n), string(source)).Inc()
		}
	}
}

// CaptureEventsRejected counts events refused within an accepted batch.
func (m *Metrics) CaptureEventsRejected(n int) {
	if m == nil {
		return
	}
	m.eventsRefused.Add(float64(n))
}

// Commit records one group commit.
func (m *Metrics) Commit(ops int, took time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(ops))
	m.commitSeconds.Observe(took.Seconds())
}

// EmailOutcome counts one send attempt's outcome.
func (m *Metrics) EmailOutcome(s hogpipe.EmailState) {
	if m == nil {
		return
	}
	m.sends.WithLabelValues(string(s)).Inc()
}

// eventLabel keeps label values to a fixed set: event names come from
// clients, and a label per name would let anyone blow up the series count.
func eventLabel(name string) string {
	switch name {
	case hogpipe.EventGenerationFailed, hogpipe.EventFeatureUsed, "$pageview", "$pageleave", "$identify", "$autocapture", "$set":
		return name
	}
	return "other"
}

func statusLabel(code int) string {
	if code == 0 {
		code = 200
	}
	const digits = "0123456789"
	return string([]byte{digits[code/100%10], digits[code/10%10], digits[code%10]})
}

// storeCollector reads gauges from the store at scrape time.
type storeCollector struct {
	g         Gauges
	mirrorSeq func() int64
}

var (
	descOutbox = prometheus.NewDesc("hogpipe_email_outbox", "Emails in the outbox by state.", []string{"state"}, nil)
	descOldest = prometheus.NewDesc("hogpipe_email_oldest_queued_age_seconds", "Age of the oldest email not yet sent (queued, retrying or sending); 0 when none.", nil, nil)
	descLag    = prometheus.NewDesc("hogpipe_training_file_lag", "Training examples committed but not yet in training_data.jsonl.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOutbox
	ch <- descOldest
	ch <- descLag
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.g.EmailCounts(ctx); err == nil {
		for _, s := range hogpipe.EmailStates {
			ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(counts[string(s)]), string(s))
		}
	}
	if t, ok, err := c.g.OldestQueued(ctx); err == nil {
		age := 0.0
		if ok {
			age = max(0, time.Since(t).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, age)
	}
	if last, err := c.g.LastExampleSeq(ctx); err == nil && c.mirrorSeq != nil {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(max(0, last-c.mirrorSeq())))
	}
}
