package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/posthog"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads at most limit bytes; more is an ETooLarge error. The
// returned release puts the buffer back once the caller is done with it.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, func(), error) {
	if p := preread(r); p != nil && p.buf != nil {
		// Read by protect, within the memory budget, but against the
		// server-wide limit: a route's own smaller limit still holds.
		if int64(len(p.body)) > limit {
			return nil, nil, hogpipe.Errorf(hogpipe.ETooLarge, "body larger than %d bytes", limit)
		}
		return p.body, p.free, nil
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	release := func() {
		if buf.Cap() <= 4<<20 { // don't keep a huge buffer forever
			bufPool.Put(buf)
		}
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		release()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, hogpipe.Errorf(hogpipe.ETooLarge, "body larger than %d bytes", limit)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, hogpipe.Errorf(hogpipe.EMalformed, "body ended early")
		}
		return nil, nil, hogpipe.Errorf(hogpipe.EMalformed, "cannot read body: %v", err)
	}
	return buf.Bytes(), release, nil
}

// webhookResponse is the answer to a webhook delivery.
type webhookResponse struct {
	Status    string                 `json:"status"`
	ID        string                 `json:"id,omitempty"`
	Duplicate *bool                  `json:"duplicate,omitempty"`
	Count     int                    `json:"count,omitempty"`
	Events    []hogpipe.IngestResult `json:"events,omitempty"`
}

// handleWebhook takes PostHog HTTP Webhook deliveries. expect is the event
// name the endpoint is for, "" for any.
func (s *Server) handleWebhook(expect string) http.Handler {
	return s.ingestHandler(hogpipe.SourceWebhook, func(r *http.Request, body []byte) ([]hogpipe.Event, func([]hogpipe.IngestResult) any, error) {
		if err := s.authorizeWebhook(r, body); err != nil {
			return nil, nil, err
		}
		delivery := r.Header.Get("webhook-id")
		if delivery == "" {
			delivery = r.Header.Get("Idempotency-Key")
		}
		events, err := posthog.ParseWebhook(body, posthog.WebhookOptions{
			ExpectName: expect,
			DeliveryID: delivery,
			Now:        s.now(),
			MaxEvents:  s.cfg.MaxEvents,
		})
		return events, func(results []hogpipe.IngestResult) any { return ingestResponse(results) }, err
	})
}

// ingestHandler is what every ingest route does: read the body within the
// limits, decode it into events (the body's memory is given back as soon as
// decode returns, before the commit wait), store them, and answer with
// what decode says once every event is stored.
func (s *Server) ingestHandler(source hogpipe.Source, decode func(r *http.Request, body []byte) ([]hogpipe.Event, func([]hogpipe.IngestResult) any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		body, release, err := readBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		events, answer, err := decode(r, body)
		release()
		if errors.Is(err, errMemoryBudget) {
			s.shedMemory(w, r)
			return
		}
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		results, err := s.ingest(r, start, source, events)
		if err != nil {
			writeError(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, answer(results))
	})
}

func ingestResponse(results []hogpipe.IngestResult) webhookResponse {
	if len(results) == 1 {
		return webhookResponse{Status: "ok", ID: results[0].UUID, Duplicate: &results[0].Duplicate}
	}
	return webhookResponse{Status: "ok", Count: len(results), Events: results}
}

// ingest stores events durably and records them in the metrics.
func (s *Server) ingest(r *http.Request, start time.Time, source hogpipe.Source, events []hogpipe.Event) ([]hogpipe.IngestResult, error) {
	trusted := s.trusted(r, source)
	for i := range events {
		events[i].Trusted = trusted
	}
	results, err := s.store.Ingest(r.Context(), events)
	if err != nil {
		return nil, err
	}
	if err := checkResults(events, results); err != nil {
		return nil, err
	}
	if s.metrics != nil {
		names := make([]string, len(events))
		dups := make([]bool, len(events))
		for i := range events {
			names[i], dups[i] = events[i].Name, results[i].Duplicate
		}
		s.metrics.Ingested(source, start, names, dups)
	}
	return results, nil
}

// checkResults makes sure a 2xx can only carry what was stored: one result
// per event, each with its id. The store promises as much; this is the last
// line before the acknowledgement, so a store bug turns into a 500 (which
// PostHog and posthog-js retry) instead of a 200 for lost events.
func checkResults(events []hogpipe.Event, results []hogpipe.IngestResult) error {
	if len(results) != len(events) {
		return &hogpipe.Error{Code: hogpipe.EInternal, Message: "store answered for the wrong number of events",
			Err: fmt.Errorf("%d results for %d events", len(results), len(events))}
	}
	for i, r := range results {
		if r.UUID == "" {
			return &hogpipe.Error{Code: hogpipe.EInternal, Message: "store answered without an event id",
				Err: fmt.Errorf("result %d of %d has no id", i, len(results))}
		}
	}
	return nil
}
