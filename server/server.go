// Package server is hogpipe's HTTP side: PostHog webhook and capture
// endpoints, the read API behind the dashboard, and the embedded web app.
// Every route is listed in routes.go.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/metrics"
)

// Store is what the server needs from the event store.
type Store interface {
	Ingest(ctx context.Context, events []hogpipe.Event) ([]hogpipe.IngestResult, error)
	Ping(ctx context.Context) error
	Stats(ctx context.Context) (hogpipe.Stats, error)
	RecentEvents(ctx context.Context, limit int) ([]hogpipe.StoredEvent, error)
	Event(ctx context.Context, id string) (hogpipe.EventOutcome, error)
	EventsPerMinute(ctx context.Context, from time.Time) ([]hogpipe.MinuteCount, error)
	ExamplesAfter(ctx context.Context, after int64, limit int) ([]hogpipe.ExampleLine, error)
	ExamplesFiltered(ctx context.Context, after int64, limit int, f hogpipe.ExampleFilter) ([]hogpipe.ExampleLine, error)
	TrainingStats(ctx context.Context, top int) (hogpipe.TrainingStats, error)
	ListEmails(ctx context.Context, state hogpipe.EmailState, limit int) ([]hogpipe.Email, error)
	ReplayEmails(ctx context.Context, state hogpipe.EmailState, now time.Time, force bool) (int64, error)
	EmailForEvent(ctx context.Context, id string) (*hogpipe.Email, error)
	EmailCounts(ctx context.Context) (map[string]int64, error)

	// Suppression list, delivery events and one email (feedback.go).
	Email(ctx context.Context, id int64) (*hogpipe.Email, error)
	AddSuppressions(ctx context.Context, list []hogpipe.Suppression) (int, error)
	RemoveSuppression(ctx context.Context, addr string) (bool, error)
	ListSuppressions(ctx context.Context, reason hogpipe.SuppressionReason, limit int) ([]hogpipe.Suppression, error)
	SuppressionCounts(ctx context.Context) (map[string]int64, error)
	RecordDelivery(ctx context.Context, ev hogpipe.DeliveryEvent, now time.Time, tokenTTL time.Duration) (hogpipe.DeliveryResult, error)
}

// Mirror is the training file mirror, for its position.
type Mirror interface {
	Position() hogpipe.MirrorState
}

// Config is the server's share of hogpipe's configuration.
type Config struct {
	// Addr is the address Listen binds.
	Addr         string
	MaxBodyBytes int64
	// MaxEvents bounds the events in one request.
	MaxEvents int
	// MaxValues bounds the JSON values in one capture request (default
	// 256 per event allowed): decoding costs memory per value.
	MaxValues int
	// CaptureTokens are the project tokens capture requests may carry.
	CaptureTokens []string
	Security      Security
	// Feedback: unsubscribe links, Mailgun's event webhooks, previews.
	Feedback Feedback
	// WriteTimeout is the server's write timeout; a long download has it
	// renewed per chunk (0: none set, nothing to renew).
	WriteTimeout time.Duration
}

// Deps are what the server is built from.
type Deps struct {
	Store   Store
	Mirror  Mirror
	Metrics *metrics.Metrics // nil: no /metrics and nothing recorded
	Log     *slog.Logger
	// Ready lists the checks /readyz runs besides the store's (workers
	// running, …); each returns nil when fine.
	Ready []func(context.Context) error
}

// Server holds the dependencies handlers are made from.
type Server struct {
	cfg      Config
	store    Store
	mirror   Mirror
	metrics  *metrics.Metrics
	ready    []func(context.Context) error
	log      *slog.Logger
	now      func() time.Time
	draining atomic.Bool
	reqSeq   atomic.Uint64
	mux      *http.ServeMux // for the route of requests refused before routing
}

// New returns the server; Handler gives its http.Handler.
func New(cfg Config, d Deps) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.MaxEvents <= 0 {
		cfg.MaxEvents = 1000
	}
	if cfg.MaxValues <= 0 {
		cfg.MaxValues = 256 * cfg.MaxEvents
	}
	return &Server{cfg: cfg, store: d.Store, mirror: d.Mirror, metrics: d.Metrics, ready: d.Ready, log: d.Log, now: time.Now}
}

// Handler returns the root handler with middleware applied.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	s.routes(mux)
	s.mux = mux
	return s.logRequests(nosniff(s.protect(mux)))
}

// Drain marks the server as shutting down: /readyz fails from now on, so a
// load balancer stops sending before the listener closes.
func (s *Server) Drain() { s.draining.Store(true) }
