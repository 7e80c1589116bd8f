// Package sqlstore is hogpipe's store, on database/sql: an embedded SQLite
// file in WAL mode by default, or PostgreSQL when several replicas share
// the work. Either way it is written through one connection by a group
// committer, so that many concurrent requests share one transaction and one
// fsync. The SQL is written once, in SQLite's spelling; dialect.go adapts
// it for PostgreSQL.
package sqlstore

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

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/hogpipe/hogpipe"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
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
	// CommitTimeout bounds one group transaction on PostgreSQL; past it the
	// writes in it fail with EUnavailable (503) and the connection is
	// dropped. (On SQLite, BusyTimeout bounds the waits.)
	CommitTimeout time.Duration
	Logger        *slog.Logger
	// Email says which events queue an email; nil queues none.
	Email *hogpipe.EmailPolicy
	// Training says how events become training examples; nil keeps prompts
	// as they arrived.
	Training *hogpipe.TrainingPolicy
	// CommitObserver, when set, hears of every group commit (metrics).
	CommitObserver func(ops int, took time.Duration)
}

// Store is the store. Writes go through the committer goroutine; reads
// use a separate pool (WAL lets SQLite readers run beside the writer).
type Store struct {
	w      *sql.DB
	r      reader
	d      *dialect
	log    *slog.Logger
	ops    chan *op
	quit   chan struct{}
	exited chan struct{}
	max    int
	linger time.Duration
	// commitTimeout bounds each group transaction.
	commitTimeout time.Duration

	locks    pgLocks // PostgreSQL advisory lock keys
	stmts    stmts
	multi    map[string]*sql.Stmt // multi-row inserts by kind and row count
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

func (opt *Options) defaults() {
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
	if opt.CommitTimeout <= 0 {
		opt.CommitTimeout = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
}

// OpenSQLite opens (creating if needed) the SQLite database at path,
// migrates it and starts the committer.
func OpenSQLite(ctx context.Context, path string, opt Options) (*Store, error) {
	opt.defaults()
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
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	return start(ctx, w, r, sqliteDialect, opt)
}

// OpenPostgres connects to PostgreSQL (a postgres:// URL), migrates the
// schema and starts the committer. Several hogpipe processes may share one
// database: dedupe, the email outbox and the training file stay exactly
// once across them.
func OpenPostgres(ctx context.Context, url string, opt Options) (*Store, error) {
	opt.defaults()
	w, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	r, err := sql.Open("pgx", url)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	r.SetMaxOpenConns(8)
	return start(ctx, w, r, postgresDialect, opt)
}

func start(ctx context.Context, w, r *sql.DB, d *dialect, opt Options) (*Store, error) {
	if err := migrate(ctx, w, d); err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	st, err := prepareStmts(ctx, w, d)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	multi, err := prepareMulti(ctx, w, d)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	var locks pgLocks
	if d.pg {
		var schema string
		if err := w.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			w.Close()
			r.Close()
			return nil, fmt.Errorf("read the current schema: %w", err)
		}
		locks = newPGLocks(schema)
	}
	s := &Store{
		w: w, r: reader{r, d}, d: d, log: opt.Logger, locks: locks,
		ops:           make(chan *op, opt.QueueSize),
		quit:          make(chan struct{}),
		exited:        make(chan struct{}),
		max:           opt.MaxBatch,
		linger:        opt.Linger,
		commitTimeout: opt.CommitTimeout,
		stmts:         st,
		multi:         multi,
		email:         opt.Email,
		observe:       opt.CommitObserver,
		training:      opt.Training,
	}
	go s.commitLoop()
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB, d *dialect) error {
	var opts []goose.ProviderOption
	if d.pg {
		// Replicas started together on a fresh database would otherwise
		// run the same migration at once, and all but one fail.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("prepare migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d.goose, db, mustSub(migrations, "migrations/"+d.name), opts...)
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
	return errors.Join(s.r.DB.Close(), s.w.Close())
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
}

func prepareStmts(ctx context.Context, db *sql.DB, d *dialect) (stmts, error) {
	var s stmts
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.savepoint, "SAVEPOINT op"},
		{&s.rollbackTo, "ROLLBACK TO op"},
		{&s.release, "RELEASE op"},
	} {
		st, err := db.PrepareContext(ctx, d.rebind(p.sql))
		if err != nil {
			return s, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return s, nil
}
