package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
)

// txn is the group transaction as ops see it, with the hot statements
// bound to it once per transaction rather than once per op.
type txn struct {
	*sql.Tx
	s *Store
	// ctx bounds the whole transaction (Options.CommitTimeout): every
	// statement takes it, so a database that stops answering turns into
	// 503s instead of a committer stuck on a dead connection.
	ctx context.Context
	// counts are the dashboard counters this transaction adds to, written
	// once at commit rather than once per event.
	counts map[countKey]int64
	// queued is set when the transaction queued an email, so only such
	// commits wake the email workers.
	queued bool
	// savepoints: this is the op-by-op run after a failed fast path.
	savepoints bool
}

type countKey struct{ name, source, minute string }

func (t *txn) count(e *hogpipe.Event) {
	if t.counts == nil {
		t.counts = map[countKey]int64{}
	}
	t.counts[countKey{e.Name, string(e.Source), hogpipe.FormatTime(e.ReceivedAt)[:16]}]++
}

// flushCounts adds the transaction's counts to the counter tables.
func (t *txn) flushCounts() error {
	byName := map[[2]string]int64{}
	byMinute := map[[2]string]int64{}
	for k, n := range t.counts {
		byName[[2]string{k.name, k.source}] += n
		byMinute[[2]string{k.minute, k.name}] += n
	}
	for k, n := range byName {
		if _, err := t.Exec(`INSERT INTO event_counts (name, source, n) VALUES (?, ?, ?)
			ON CONFLICT (name, source) DO UPDATE SET n = event_counts.n + excluded.n`, k[0], k[1], n); err != nil {
			return fmt.Errorf("count events: %w", err)
		}
	}
	for k, n := range byMinute {
		if _, err := t.Exec(`INSERT INTO event_minutes (minute, name, n) VALUES (?, ?, ?)
			ON CONFLICT (minute, name) DO UPDATE SET n = event_minutes.n + excluded.n`, k[0], k[1], n); err != nil {
			return fmt.Errorf("count events per minute: %w", err)
		}
	}
	return nil
}

// stmt2 binds a prepared statement to the transaction.
func (t *txn) stmt2(st *sql.Stmt) *sql.Stmt { return t.Tx.StmtContext(t.ctx, st) }

// multiStmt returns the prepared multi-row INSERT of n (a power of two up
// to 128) events ("ev", returning the uuids that were new) or examples ("ex").
func (s *Store) multiStmt(_ *txn, kind string, n int) *sql.Stmt {
	return s.multi[fmt.Sprintf("%s%d", kind, n)]
}

// prepareMulti prepares every multi-row INSERT chunkLen can ask for.
func prepareMulti(ctx context.Context, db *sql.DB, d dialect) (map[string]*sql.Stmt, error) {
	out := map[string]*sql.Stmt{}
	for n := 1; n <= 128; n *= 2 {
		for _, kind := range []string{"ev", "ex"} {
			var q string
			if kind == "ev" {
				q = `INSERT INTO events (uuid, name, distinct_id, source, timestamp, received_at, properties, person) VALUES ` +
					strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?), `, n), ", ") + ` ON CONFLICT (uuid) DO NOTHING RETURNING uuid`
			} else {
				q = `INSERT INTO training_examples (event_uuid, failure_reason, timestamp, line) VALUES ` +
					strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?), `, n), ", ")
			}
			st, err := db.PrepareContext(ctx, d.rebind(q))
			if err != nil {
				return nil, fmt.Errorf("prepare %d-row insert: %w", n, err)
			}
			out[fmt.Sprintf("%s%d", kind, n)] = st
		}
	}
	return out, nil
}

// op is one caller's share of a group commit.
type op struct {
	run func(*txn) error
	// ingest, for Ingest calls, lets the fast path store the events of
	// every Ingest in the batch together; run does the same for one call.
	ingest *ingestReq
	err    error
	// ok is set when the op's work succeeded in the transaction that
	// committed. An op that ends with neither ok nor err is a bug in the
	// committer, and commit turns it into an error rather than let its
	// caller read results that were never filled in.
	ok   bool
	done chan struct{}
}

// write runs fn inside the next group transaction and returns once that
// transaction is durable (or failed). fn runs in its own savepoint, so one
// failing caller does not take the others' writes down with it. fn must not
// use the caller's context: cancelling it would interrupt the shared
// transaction.
func (s *Store) write(ctx context.Context, fn func(*txn) error) error {
	return s.submit(ctx, &op{run: fn, done: make(chan struct{})})
}

func (s *Store) submit(ctx context.Context, o *op) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return hogpipe.Errorf(hogpipe.EUnavailable, "store is shutting down")
	}
	if s.presence != nil && s.presence.fenced.Load() {
		s.mu.RUnlock()
		return hogpipe.Errorf(hogpipe.EUnavailable, "this replica is outdated: replicas of a newer protocol run on the database")
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
	last := 0
	for {
		select {
		case o := <-s.ops:
			batch = append(batch[:0], o)
		case <-s.quit:
			// Commit everything that was accepted before Close.
			for {
				if batch = s.drain(batch[:0]); len(batch) == 0 {
					return
				}
				s.commit(batch)
			}
		}
		// Take whatever queued up while the last commit ran: this is the
		// group in group commit. Under concurrent load (the last batch was
		// shared) also linger briefly for more: every commit costs an fsync
		// and WAL writes, so on a busy CPU fewer, larger commits answer
		// more requests sooner. An idle server commits at once.
		var linger <-chan time.Time
		var timer *time.Timer
		if last > 1 && s.linger > 0 {
			timer = time.NewTimer(s.linger)
			linger = timer.C
		}
		batch = s.drain(batch)
		for linger != nil && len(batch) < s.max {
			select {
			case o := <-s.ops:
				batch = s.drain(append(batch, o))
			case <-linger:
				linger = nil
			}
		}
		if timer != nil {
			timer.Stop()
		}
		last = len(batch)
		s.commit(batch)
	}
}

// commitStats count group commits, for metrics and benchmarks.
type commitStats struct {
	commits, ops, nanos atomic.Int64
}

// CommitStats returns the number of commits, the ops they carried and the
// time spent in them since the store opened.
func (s *Store) CommitStats() (commits, ops int64, took time.Duration) {
	return s.stats.commits.Load(), s.stats.ops.Load(), time.Duration(s.stats.nanos.Load())
}

// drain adds the ops already queued to batch, without waiting, up to the
// batch limit.
func (s *Store) drain(batch []*op) []*op {
	for len(batch) < s.max {
		select {
		case o := <-s.ops:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

func (s *Store) commit(batch []*op) {
	start := time.Now()
	changed, queued, err := s.commitTx(batch)
	s.stats.commits.Add(1)
	s.stats.ops.Add(int64(len(batch)))
	took := time.Since(start)
	s.stats.nanos.Add(int64(took))
	if s.observe != nil {
		s.observe(len(batch), took)
	}
	for _, o := range batch {
		switch {
		case o.err != nil:
		case err != nil:
			o.err = unavailable("commit", err)
		case !o.ok:
			// Every op must end with its results or an error: never let a
			// caller acknowledge what this transaction did not store.
			s.log.Error("group commit left an op without result or error", "ops", len(batch))
			o.err = &hogpipe.Error{Code: hogpipe.EInternal, Message: "write was not carried out"}
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
		hooks, emailHooks := s.onCommit, s.onEmail
		s.hooksMu.Unlock()
		for _, f := range hooks {
			f()
		}
		if queued {
			for _, f := range emailHooks {
				f()
			}
		}
	}
}

// commitTx runs the batch in one transaction. The fast path runs every op
// bare; if one fails the transaction is rolled back and the batch run again
// with a savepoint around each op, so that op alone fails and gets the
// error. This happens for a lone op too: then the second run either stores
// it (the failure was passing) or hands it its own error, so no op can come
// out of a failed fast path with neither. Ops must therefore be safe to run
// twice (they only record their results).
func (s *Store) commitTx(batch []*op) (changed, queued bool, err error) {
	changed, queued, failed, err := s.runTx(batch, false)
	if err == nil && failed {
		for _, o := range batch {
			o.err = nil
		}
		changed, queued, _, err = s.runTx(batch, true)
	}
	return changed, queued, err
}

// faultHook, when set (tests only), runs for each event the ingest path
// stores; an error it returns fails that event's op as a database error
// would. savepoints tells which run this is.
type faultHook func(e *hogpipe.Event, savepoints bool) error

func (s *Store) runTx(batch []*op, savepoints bool) (changed, queued, failed bool, err error) {
	for _, o := range batch {
		o.ok = false
	}
	// Only PostgreSQL gets the timeout: its connection can stall. SQLite's
	// waits are bounded by busy_timeout, and a context that can be
	// cancelled makes its driver watch every statement, for nothing here.
	ctx := context.Background()
	if s.d.remote() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.commitTimeout)
		defer cancel()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, false, false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	t := &txn{Tx: tx, s: s, ctx: ctx, savepoints: savepoints}
	if err := t.lockWrites(); err != nil {
		return false, false, false, fmt.Errorf("lock: %w", err)
	}
	exec := func(st *sql.Stmt) error {
		_, err := tx.StmtContext(ctx, st).ExecContext(ctx)
		return err
	}
	// fastFailed decides what a failure on the fast path means: past the
	// commit timeout (a lock wait, a stalled server) the whole transaction
	// has failed and every op gets a 503 at once, rather than waiting a
	// second timeout in the savepoint run; otherwise one op is at fault and
	// the savepoint run finds it.
	fastFailed := func(opErr error) (bool, bool, bool, error) {
		if ctx.Err() != nil {
			return false, false, false, fmt.Errorf("commit timeout (%s): %w", s.commitTimeout, opErr)
		}
		return false, false, true, nil
	}
	if !savepoints {
		var reqs []*ingestReq
		for _, o := range batch {
			if o.ingest != nil {
				reqs = append(reqs, o.ingest)
			}
		}
		if len(reqs) > 0 {
			if err := s.ingestEvents(t, reqs); err != nil {
				return fastFailed(err)
			}
			changed = true
		}
	}
	for _, o := range batch {
		if !savepoints {
			if o.ingest != nil {
				o.ok = true
				continue
			}
			if err := o.run(t); err != nil {
				return fastFailed(err)
			}
			o.ok = true
			changed = true
			continue
		}
		if err := exec(s.stmts.savepoint); err != nil {
			return false, false, false, fmt.Errorf("savepoint: %w", err)
		}
		counts := maps.Clone(t.counts)
		if o.err = o.run(t); o.err != nil {
			t.counts = counts // the op's writes are undone; so are its counts
			if err := exec(s.stmts.rollbackTo); err != nil {
				return false, false, false, fmt.Errorf("rollback to savepoint: %w", err)
			}
		} else {
			o.ok = true
			changed = true
		}
		if err := exec(s.stmts.release); err != nil {
			return false, false, false, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := t.flushCounts(); err != nil {
		return false, false, false, err
	}
	if err := tx.Commit(); err != nil {
		return false, false, false, fmt.Errorf("commit: %w", err)
	}
	return changed, t.queued, false, nil
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}
