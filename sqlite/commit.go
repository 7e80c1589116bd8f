package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"time"

	"github.com/hogpipe/hogpipe"
)

// op is one caller's share of a group commit.
type op struct {
	run  func(*sql.Tx) error
	err  error
	done chan struct{}
}

// write runs fn inside the next group transaction and returns once that
// transaction is durable (or failed). fn runs in its own savepoint, so one
// failing caller does not take the others' writes down with it. fn must not
// use the caller's context: cancelling it would interrupt the shared
// transaction.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	o := &op{run: fn, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return hogpipe.Errorf(hogpipe.EUnavailable, "store is shutting down")
	}
	select {
	case s.ops <- o:
		s.mu.RUnlock()
	default:
		s.mu.RUnlock()
		return hogpipe.Errorf(hogpipe.EUnavailable, "store write queue is full")
	}
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		// The write may still commit; the caller just won't hear of it,
		// which is why callers must be idempotent (event uuids are).
		return unavailable("commit in time", ctx.Err())
	}
}

func (s *Store) commitLoop() {
	defer close(s.exited)
	batch := make([]*op, 0, s.max)
	for {
		select {
		case o := <-s.ops:
			batch = append(batch[:0], o)
		case <-s.quit:
			// Commit everything that was accepted before Close.
			for {
				batch = batch[:0]
				for len(batch) < s.max {
					select {
					case o := <-s.ops:
						batch = append(batch, o)
						continue
					default:
					}
					break
				}
				if len(batch) == 0 {
					return
				}
				s.commit(batch)
			}
		}
		// Take whatever queued up while the last commit ran: this is the
		// group in group commit. No timer: an idle server commits at once.
	fill:
		for len(batch) < s.max {
			select {
			case o := <-s.ops:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*op) {
	start := time.Now()
	changed, err := s.commitTx(batch)
	for _, o := range batch {
		if err != nil && o.err == nil {
			o.err = unavailable("commit", err)
		}
		close(o.done)
	}
	if err != nil {
		s.log.Error("group commit failed", "ops", len(batch), "err", err)
		return
	}
	s.log.Debug("group commit", "ops", len(batch), "took", time.Since(start))
	if changed {
		s.hooksMu.Lock()
		hooks := s.onCommit
		s.hooksMu.Unlock()
		for _, f := range hooks {
			f()
		}
	}
}

func (s *Store) commitTx(batch []*op) (changed bool, err error) {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	single := len(batch) == 1
	for _, o := range batch {
		if single {
			o.err = o.run(tx)
			if o.err != nil {
				return false, nil
			}
			changed = true
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
			return false, fmt.Errorf("savepoint: %w", err)
		}
		if o.err = o.run(tx); o.err != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
				return false, fmt.Errorf("rollback to savepoint: %w", err)
			}
		} else {
			changed = true
		}
		if _, err := tx.ExecContext(ctx, "RELEASE op"); err != nil {
			return false, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	return changed, nil
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
