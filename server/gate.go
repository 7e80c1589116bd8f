package server

import (
	"net/http"
	"sync/atomic"

	"github.com/hogpipe/hogpipe"
)

// Gate is the listener's handler from the moment hogpipe binds its address:
// while the store opens (connecting, migrating, waiting for another
// replica's migration, recovering the training file) it answers /healthz
// 200 (the process is alive: an orchestrator must not kill a replica that
// waits its turn to migrate), /readyz 503 naming the phase, and every other
// request 503 + Retry-After. Open hands every request to the real server.
// Binding early also keeps the port from being taken meanwhile.
type Gate struct {
	phase atomic.Pointer[string]
	h     atomic.Pointer[http.Handler]
}

// NewGate returns a gate in phase.
func NewGate(phase string) *Gate {
	g := &Gate{}
	g.SetPhase(phase)
	return g
}

// SetPhase says what start-up is busy with.
func (g *Gate) SetPhase(phase string) { g.phase.Store(&phase) }

// Phase is what start-up is busy with ("ready" once open).
func (g *Gate) Phase() string { return *g.phase.Load() }

// Open sends every request from now on to h.
func (g *Gate) Open(h http.Handler) {
	g.SetPhase("ready")
	g.h.Store(&h)
}

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := g.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	phase := g.Phase()
	if r.URL.Path == "/healthz" {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "phase": phase})
		return
	}
	w.Header().Set("Retry-After", retryAfterSeconds)
	writeCode(w, hogpipe.ENotReady, "starting: "+phase)
}
