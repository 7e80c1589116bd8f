package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/jsonl"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// trainingMirror keeps training_data.jsonl while this process is its one
// writer. On SQLite that is always (the data directory is ours); on
// PostgreSQL, while it holds the database's mirror lock: when the holder
// dies, another replica takes the lock, recovers the file and goes on.
type trainingMirror struct {
	store *sqlstore.Store
	path  string
	log   *slog.Logger

	current atomic.Pointer[jsonl.Mirror]
	running atomic.Bool
	mu      sync.Mutex
}

// start tries to lead once, synchronously: a process that gets the file
// brings it up to date before serving, so after a crash the file is whole
// by the time /healthz answers. Then it keeps (or keeps trying for) the
// lead in the background until ctx ends. Ending starting abandons that
// first recovery (SIGTERM must not wait for it; the file is crash-safe and
// its next writer recovers it).
func (m *trainingMirror) start(starting, ctx context.Context) (<-chan error, error) {
	first, err := m.lead(starting, false)
	if err != nil {
		return nil, err
	}
	if first == nil {
		if first, err = m.awaitAdoption(ctx); err != nil {
			return nil, err
		}
	}
	done := make(chan error, 1)
	m.running.Store(true)
	go func() {
		defer m.running.Store(false)
		done <- m.loop(ctx, first)
	}()
	return done, nil
}

type leadership struct {
	leader *sqlstore.Leader
	mirror *jsonl.Mirror
}

// lead takes the lock if free (or, with wait, once it frees within a few
// seconds) and opens (recovers) the file.
func (m *trainingMirror) lead(parent context.Context, wait bool) (*leadership, error) {
	// Bounded: a database that stopped answering must not hold the loop
	// here, where no one watches the lock yet.
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
	defer cancel()
	var l *sqlstore.Leader
	var err error
	if wait {
		l, err = m.store.WaitLead(ctx, 5*time.Second)
	} else {
		l, err = m.store.TryLead(ctx)
	}
	if err != nil || l == nil {
		return nil, err
	}
	took := time.Now()
	if m.store.Postgres() {
		m.log.Info("training file: took the writer lock; bringing the file up to date", "file", m.path)
	}
	mirror, err := jsonl.Open(ctx, m.path, m.store, m.log)
	if err != nil {
		l.Release()
		var nj *jsonl.NotJSONLError
		if errors.As(err, &nj) {
			return nil, usageError{err}
		}
		return nil, fmt.Errorf("recover %s: %w", m.path, err)
	}
	if err := mirror.CatchUp(ctx); err != nil {
		mirror.Close()
		l.Release()
		return nil, fmt.Errorf("bring %s up to date: %w", m.path, err)
	}
	if m.store.Postgres() {
		m.log.Info("training file: this replica is its writer", "file", mirror.Path(), "recovery", time.Since(took).Round(time.Millisecond))
	}
	return &leadership{l, mirror}, nil
}

// awaitAdoptionFor bounds how long a replica waits for another to adopt
// an existing training file before it serves anyway.
const awaitAdoptionFor = time.Minute

// awaitAdoption holds a replica that is not the writer back while the
// training file holds lines the store does not know yet (another replica
// is adopting the original service's file): examples it stored meanwhile
// would come before the adopted lines in commit order, and the file could
// not keep its head. It returns once the writer has recorded a watermark,
// or with the lead if the writer went away.
func (m *trainingMirror) awaitAdoption(ctx context.Context) (*leadership, error) {
	abs, err := filepath.Abs(m.path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(awaitAdoptionFor)
	logged := false
	for {
		fi, err := os.Stat(abs)
		if err != nil || fi.Size() == 0 {
			return nil, nil
		}
		st, err := m.store.MirrorState(ctx, abs)
		if err != nil {
			return nil, err
		}
		if st.Bytes > 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			m.log.Warn("training file: the writer has not adopted it yet; serving anyway", "file", abs)
			return nil, nil
		}
		if !logged {
			m.log.Info("training file: waiting for the replica that writes it to adopt it", "file", abs)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if l, err := m.lead(ctx, false); err != nil || l != nil {
			return l, err
		}
	}
}

func (m *trainingMirror) loop(ctx context.Context, cur *leadership) error {
	for {
		if cur == nil {
			// On PostgreSQL a standby waits on the lock itself, so it takes
			// over the moment the writer releases it; on trouble (the
			// database away) it tries again a second later.
			var err error
			if cur, err = m.lead(ctx, m.store.Postgres()); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				m.log.Warn("training file: cannot take over", "err", err)
			}
			if cur == nil {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(m.retryAfter(err)):
				}
			}
			continue
		}
		m.current.Store(cur.mirror)
		runCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-cur.leader.Lost:
				m.log.Error("training file: lost the writer lock (database connection gone); stopping")
				cancel()
			case <-runCtx.Done():
			}
		}()
		err := cur.mirror.Run(runCtx)
		cancel()
		m.current.Store(nil)
		// Released explicitly, not left to the connection's end: a replica
		// draining on SIGTERM hands the role to a waiting one at once.
		cur.leader.Release()
		if ctx.Err() != nil {
			if m.store.Postgres() {
				m.log.Info("training file: writer role handed off (lock released)", "file", m.path)
			}
			return err
		}
		cur = nil
	}
}

// retryAfter is the pause before trying for the lead again: none after a
// bounded wait that simply ran out, a second after an error (or on
// SQLite, where nobody else can hold it and trying is all there is).
func (m *trainingMirror) retryAfter(err error) time.Duration {
	if err == nil && m.store.Postgres() {
		return 0
	}
	return time.Second
}

// Notify wakes the writer after a commit.
func (m *trainingMirror) Notify() {
	if mi := m.current.Load(); mi != nil {
		mi.Notify()
	}
}

// Position is how far the file has got: the writer's own view, or the
// watermark the writer (maybe another replica) last recorded.
func (m *trainingMirror) Position() hogpipe.MirrorState {
	if mi := m.current.Load(); mi != nil {
		return mi.Position()
	}
	abs, _ := filepath.Abs(m.path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, _ := m.store.MirrorState(ctx, abs)
	return st
}
