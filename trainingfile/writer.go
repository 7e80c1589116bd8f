package trainingfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Lease is the right to be the training file's one writer.
type Lease interface {
	// Lost is closed when the lease is gone without Release (on
	// PostgreSQL: the lock's connection died, so another replica may hold
	// it now).
	Lost() <-chan struct{}
	// Release gives the lease up, at once, to whoever waits for it.
	Release()
}

// Leases hands out the writer's lease (the store's leader implements it).
type Leases interface {
	// Lead takes the lease: once if within is 0, otherwise waiting up to
	// within for its holder to let go. It returns nil (and no error) when
	// another process holds it.
	Lead(ctx context.Context, within time.Duration) (Lease, error)
}

// Writer keeps the training file while this process is its one writer. On
// SQLite that is always (the data directory is ours); on PostgreSQL, while
// it holds the database's mirror lock: when the holder dies, another
// replica takes the lock, recovers the file and goes on.
type Writer struct {
	path   string
	src    Source
	leases Leases
	// shared: other processes compete for the lease (PostgreSQL). A
	// standby then waits on the lease itself, and the role changes are
	// worth a log line.
	shared bool
	log    *slog.Logger

	current atomic.Pointer[Mirror]
	running atomic.Bool
	// retry is the pause before trying for the lead again after an error.
	retry time.Duration
}

// NewWriter returns the writer of the file at path; Start runs it.
func NewWriter(path string, src Source, leases Leases, shared bool, log *slog.Logger) *Writer {
	return &Writer{path: path, src: src, leases: leases, shared: shared, log: log, retry: time.Second}
}

// Start tries to lead once, synchronously: a process that gets the file
// brings it up to date before serving, so after a crash the file is whole
// by the time /healthz answers. Then it keeps (or keeps trying for) the
// lead in the background until ctx ends; the channel reports the end.
// Ending starting abandons that first recovery (SIGTERM must not wait for
// it; the file is crash-safe and its next writer recovers it). An error
// that is a *NotJSONLError means the file is not one this program wrote.
func (w *Writer) Start(starting, ctx context.Context) (<-chan error, error) {
	first, err := w.lead(starting, false)
	if err != nil {
		return nil, err
	}
	if first == nil {
		if first, err = w.awaitAdoption(ctx); err != nil {
			return nil, err
		}
	}
	done := make(chan error, 1)
	w.running.Store(true)
	go func() {
		defer w.running.Store(false)
		done <- w.loop(ctx, first)
	}()
	return done, nil
}

// Running tells whether the writer (or standby) loop is still going.
func (w *Writer) Running() bool { return w.running.Load() }

type leadership struct {
	lease  Lease
	mirror *Mirror
}

// lead takes the lease if free (or, with wait, once it frees within a few
// seconds) and opens (recovers) the file.
func (w *Writer) lead(parent context.Context, wait bool) (*leadership, error) {
	// Bounded: a database that stopped answering must not hold the loop
	// here, where no one watches the lock yet.
	ctx, cancel := context.WithTimeout(parent, 30*time.Second)
	defer cancel()
	var within time.Duration
	if wait {
		within = 5 * time.Second
	}
	l, err := w.leases.Lead(ctx, within)
	if err != nil || l == nil {
		return nil, err
	}
	took := time.Now()
	if w.shared {
		w.log.Info("training file: took the writer lock; bringing the file up to date", "file", w.path)
	}
	mirror, err := Open(ctx, w.path, w.src, w.log)
	if err != nil {
		l.Release()
		var nj *NotJSONLError
		if errors.As(err, &nj) {
			return nil, err
		}
		return nil, fmt.Errorf("recover %s: %w", w.path, err)
	}
	if err := mirror.CatchUp(ctx); err != nil {
		mirror.Close()
		l.Release()
		return nil, fmt.Errorf("bring %s up to date: %w", w.path, err)
	}
	if w.shared {
		w.log.Info("training file: this replica is its writer", "file", mirror.Path(), "recovery", time.Since(took).Round(time.Millisecond))
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
func (w *Writer) awaitAdoption(ctx context.Context) (*leadership, error) {
	abs, err := filepath.Abs(w.path)
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
		st, err := w.src.MirrorState(ctx, abs)
		if err != nil {
			return nil, err
		}
		if st.Bytes > 0 {
			return nil, nil
		}
		if time.Now().After(deadline) {
			w.log.Warn("training file: the writer has not adopted it yet; serving anyway", "file", abs)
			return nil, nil
		}
		if !logged {
			w.log.Info("training file: waiting for the replica that writes it to adopt it", "file", abs)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if l, err := w.lead(ctx, false); err != nil || l != nil {
			return l, err
		}
	}
}

func (w *Writer) loop(ctx context.Context, cur *leadership) error {
	for {
		if cur == nil {
			// A shared standby waits on the lease itself, so it takes over
			// the moment the writer releases it; on trouble (the database
			// away) it tries again a second later.
			var err error
			if cur, err = w.lead(ctx, w.shared); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				w.log.Warn("training file: cannot take over", "err", err)
			}
			if cur == nil {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(w.retryAfter(err)):
				}
			}
			continue
		}
		w.current.Store(cur.mirror)
		runCtx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-cur.lease.Lost():
				w.log.Error("training file: lost the writer lock (database connection gone); stopping")
				cancel()
			case <-runCtx.Done():
			}
		}()
		err := cur.mirror.Run(runCtx)
		cancel()
		w.current.Store(nil)
		// Released explicitly, not left to the connection's end: a replica
		// draining on SIGTERM hands the role to a waiting one at once.
		cur.lease.Release()
		if ctx.Err() != nil {
			if w.shared {
				w.log.Info("training file: writer role handed off (lock released)", "file", w.path)
			}
			return err
		}
		cur = nil
	}
}

// retryAfter is the pause before trying for the lead again: none after a
// bounded wait that simply ran out, a second after an error (or when not
// shared, where nobody else can hold it and trying is all there is).
func (w *Writer) retryAfter(err error) time.Duration {
	if err == nil && w.shared {
		return 0
	}
	return w.retry
}

// Notify wakes the writer after a commit.
func (w *Writer) Notify() {
	if mi := w.current.Load(); mi != nil {
		mi.Notify()
	}
}

// Position is how far the file has got: the writer's own view, or the
// watermark the writer (maybe another replica) last recorded.
func (w *Writer) Position() hogpipe.MirrorState {
	if mi := w.current.Load(); mi != nil {
		return mi.Position()
	}
	abs, _ := filepath.Abs(w.path)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, _ := w.src.MirrorState(ctx, abs)
	return st
}
