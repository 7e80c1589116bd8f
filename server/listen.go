package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Listener is serve's HTTP server, serving from the moment Listen returns
// (at first a Gate, until the store is open).
type Listener struct {
	hs       *http.Server
	ln       net.Listener
	serveErr chan error
}

// Listen binds cfg.Addr and serves h on it with the server's timeouts.
func Listen(cfg Config, h http.Handler, log *slog.Logger) (*Listener, error) {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another hogpipe running? set --addr or PORT)", cfg.Addr, err)
	}
	l := &Listener{hs: hs, ln: ln, serveErr: make(chan error, 1)}
	go func() { l.serveErr <- hs.Serve(ln) }()
	return l, nil
}

// Addr is the bound address (the port chosen, for ":0").
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// URL is the base URL a browser on this machine opens: ":3000" and
// "[::]:3000" become localhost.
func (l *Listener) URL() string { return "http://" + displayAddr(l.ln.Addr()) }

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// Failed delivers the error that ended serving early (the listener broke).
func (l *Listener) Failed() <-chan error { return l.serveErr }

// Close stops serving at once, dropping connections: for a start-up that
// failed before anything was promised.
func (l *Listener) Close() error { return l.hs.Close() }

// Shutdown stops serving gracefully, all within grace. srv is drained
// first (/readyz fails, so a load balancer stops sending); then every
// in-flight request gets its answer, each having waited for its commit;
// then after runs (stop the background work, close the store). Past grace
// it gives up: an orchestrator's SIGKILL follows its own grace period, and
// a replica still busy then loses its work in flight less cleanly than one
// that gave up itself.
func (l *Listener) Shutdown(grace time.Duration, srv *Server, after func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	srv.Drain()
	done := make(chan error, 1)
	go func() {
		shutErr := l.hs.Shutdown(ctx)
		done <- errors.Join(shutErr, after())
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shut down: %w", err)
		}
		return nil
	case <-ctx.Done():
		// Whatever is left is safe to drop: nothing unacknowledged was
		// promised, the training file is recovered by its next writer, and
		// locks and leases end with this process's connections.
		return fmt.Errorf("shut down: not finished within --shutdown-grace %s; exiting anyway", grace)
	}
}

// Running is a /readyz check (Deps.Ready) failing once running says what
// stopped.
func Running(what string, running func() bool) func(context.Context) error {
	return func(context.Context) error {
		if !running() {
			return fmt.Errorf("%s stopped", what)
		}
		return nil
	}
}
