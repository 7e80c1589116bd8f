// Package sqlite is hogpipe's embedded store: an SQLite file in WAL mode,
// written through one connection by a group committer so that many
// concurrent requests share one transaction and one fsync.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/hogpipe/hogpipe"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the store; zero values take the defaults.
type Options struct {
	// BusyTimeout is how long a write waits for a lock held by another
	// process before the request is answered 503.
	BusyTimeout time.Duration
	// QueueSize bounds writes waiting for the committer; past it, writes
	// fail at once with EUnavailable instead of piling up.
	QueueSize int
	// MaxBatch bounds the writes one transaction takes.
	MaxBatch int
	// Linger is how long a commit under load waits for more writes to
	// share it; negative disables lingering.
	Linger time.Duration
	Logger *slog.Logger
	// Email says which events queue an email; nil queues none.
	Email *hogpipe.EmailPolicy
	// Training says how events become training examples; nil keeps prompts
	// as they arrived.
	Training *hogpipe.TrainingPolicy
	// CommitObserver, when set, hears of every group commit (metrics).
	CommitObserver func(ops int, took time.Duration)
}

// Store is the SQLite store. Writes go through the committer goroutine;
// reads use a separate pool, which WAL lets run beside the writer.
type Store struct {
	w, r   *sql.DB
	log    *slog.Logger
	ops    chan *op
	quit   chan struct{}
	exited chan struct{}
	max    int
	linger time.Duration

	stmts    stmts
	email    *hogpipe.EmailPolicy
	observe  func(ops int, took time.Duration)
	training *hogpipe.TrainingPolicy
	stats    commitStats
	mu       sync.RWMutex // guards closed against sends on ops
	closed   bool
	hooksMu  sync.Mutex
	onCommit []func()
	onEmail  []func()
}

// Open opens (creating if needed) the database at path, migrates it and
// starts the committer.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if opt.BusyTimeout == 0 {
		opt.BusyTimeout = 2 * time.Second
	}
	if opt.QueueSize == 0 {
		opt.QueueSize = 8192
	}
	if opt.MaxBatch == 0 {
		opt.MaxBatch = 1024
	}
	if opt.Linger == 0 {
		opt.Linger = time.Millisecond
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// synchronous(FULL) makes every commit fsync the WAL: without it WAL
	// mode acknowledges commits that a power cut can still take back.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opt.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "cache_size(-65536)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()

	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	st, err := prepareStmts(ctx, w)
	if err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)

	s := &Store{
		w: w, r: r, log: opt.Logger,
		ops:      make(chan *op, opt.QueueSize),
		quit:     make(chan struct{}),
		exited:   make(chan struct{}),
		max:      opt.MaxBatch,
		linger:   opt.Linger,
		stmts:    st,
		email:    opt.Email,
		observe:  opt.CommitObserver,
		training: opt.Training,
	}
	go s.commitLoop()
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	return nil
}

// Close stops taking writes, commits what is queued and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.exited
	return errors.Join(s.r.Close(), s.w.Close())
}

// OnCommit registers f to run after every commit that changed something.
// f must not block: it runs on the committer.
func (s *Store) OnCommit(f func()) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.onCommit = append(s.onCommit, f)
}

// OnEmailQueued registers f to run after every commit that queued an
// email. f must not block.
func (s *Store) OnEmailQueued(f func()) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.onEmail = append(s.onEmail, f)
}

// Ping checks that the store answers reads and that the committer runs.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return unavailable("read the store", err)
	}
	return s.write(ctx, func(*txn) error { return nil })
}

func unavailable(what string, err error) error {
	return &hogpipe.Error{Code: hogpipe.EUnavailable, Message: "store cannot " + what, Err: err}
}

// stmts are the writer's hot statements, prepared once: parsing SQL for
// every event would cost more than executing it.
type stmts struct {
	savepoint, rollbackTo, release *sql.Stmt
	insertEvent, insertExample     *sql.Stmt
}

func prepareStmts(ctx context.Context, db *sql.DB) (stmts, error) {
	var s stmts
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.savepoint, "SAVEPOINT op"},
		{&s.rollbackTo, "ROLLBACK TO op"},
		{&s.release, "RELEASE op"},
		{&s.insertEvent, `INSERT INTO events (uuid, name, distinct_id, source, timestamp, received_at, properties, person)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO NOTHING`},
		{&s.insertExample, `INSERT INTO training_examples (event_uuid, failure_reason, timestamp, line) VALUES (?, ?, ?, ?)`},
	} {
		st, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return s, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return s, nil
}
