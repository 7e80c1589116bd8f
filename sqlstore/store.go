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
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

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
	// Progress, when set, hears what opening the store is busy with (the
	// Phase… constants), so that /readyz can say why it is not ready yet.
	Progress func(phase string)

	// protocol overrides Protocol in tests of protocol changes.
	protocol int
}

func (opt *Options) progress(phase string) {
	if opt.Progress != nil {
		opt.Progress(phase)
	}
}

// Store is the store. Writes go through the committer goroutine; reads
// use a separate pool (WAL lets SQLite readers run beside the writer).
type Store struct {
	w      *sql.DB
	r      reader
	d      dialect
	log    *slog.Logger
	ops    chan *op
	quit   chan struct{}
	exited chan struct{}
	max    int
	linger time.Duration
	// commitTimeout bounds each group transaction.
	commitTimeout time.Duration

	locks    pgLocks // PostgreSQL advisory lock keys
	protocol int
	presence *presence // PostgreSQL: this replica's presence lock (compat.go)
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
	// fault injects failures into the ingest path (tests only).
	fault faultHook
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
	if opt.protocol == 0 {
		opt.protocol = Protocol
	}
}

// DirMode and FileMode are the modes of the data directory and the
// database files hogpipe creates: its own user only, whatever the umask
// (a umask can only remove bits). Existing ones keep their modes.
const (
	DirMode  os.FileMode = 0o700
	FileMode os.FileMode = 0o600
)

// OpenSQLite opens (creating if needed) the SQLite database at path,
// migrates it and starts the committer.
func OpenSQLite(ctx context.Context, path string, opt Options) (*Store, error) {
	opt.defaults()
	if err := os.MkdirAll(filepath.Dir(path), DirMode); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// The database holds personal data (prompts, emails, user ids): create
	// it readable by hogpipe's user only. SQLite gives its -wal and -shm
	// files the database file's mode. An existing file is not touched, not
	// even opened: closing any descriptor of a file drops the process's
	// POSIX locks on it, which another Store on it (a replica in tests, a
	// backup) holds through SQLite.
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
		if err == nil {
			f.Close()
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
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
	return start(ctx, w, r, sqliteDialect{}, opt)
}

// OpenPostgres connects to PostgreSQL (a postgres:// URL), migrates the
// schema and starts the committer. Several hogpipe processes may share one
// database: dedupe, the email outbox and the training file stay exactly
// once across them.
func OpenPostgres(ctx context.Context, url string, opt Options) (*Store, error) {
	opt.defaults()
	opt.progress(PhaseConnecting)
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
	// Eight for reads, plus the sessions that hold locks for a replica's
	// life: its presence, and the training file's writer lock (held, or
	// waited on).
	r.SetMaxOpenConns(10)
	return start(ctx, w, r, newPostgresDialect(), opt)
}

func start(ctx context.Context, w, r *sql.DB, d dialect, opt Options) (*Store, error) {
	fail := func(err error) (*Store, error) {
		w.Close()
		r.Close()
		return nil, err
	}
	schema, err := d.currentSchema(ctx, w)
	if err != nil {
		return fail(err)
	}
	if err := migrate(ctx, w, d, schema, &opt); err != nil {
		return fail(err)
	}
	opt.progress(PhaseCompat)
	presenceConn, err := checkProtocol(ctx, w, r, d, schema, opt.protocol)
	if err != nil {
		return fail(err)
	}
	st, err := prepareStmts(ctx, w, d)
	if err != nil {
		if presenceConn != nil {
			presenceConn.Close()
		}
		return fail(err)
	}
	multi, err := prepareMulti(ctx, w, d)
	if err != nil {
		if presenceConn != nil {
			presenceConn.Close()
		}
		return fail(err)
	}
	var locks pgLocks
	if d.shared() {
		locks = newPGLocks(schema, opt.protocol)
	}
	s := &Store{
		w: w, r: reader{r, d}, d: d, log: opt.Logger, locks: locks, protocol: opt.protocol,
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
	if presenceConn != nil {
		s.presence = &presence{s: s, conn: presenceConn, stop: make(chan struct{}), done: make(chan struct{})}
		go s.presence.run(opt.Logger)
	}
	go s.commitLoop()
	return s, nil
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
	if s.presence != nil {
		close(s.presence.stop)
		<-s.presence.done
	}
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

func prepareStmts(ctx context.Context, db *sql.DB, d dialect) (stmts, error) {
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
