package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/jsonl"
	"github.com/hogpipe/hogpipe/metrics"
	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/server"
	"github.com/hogpipe/hogpipe/sqlstore"
)

type serveConfig struct {
	addr          string
	dataDir       string
	trainingFile  string
	maxBodyBytes  int64
	logLevel      string
	shutdownGrace time.Duration
	captureTokens string
	database      string
	commitLinger  time.Duration
	commitTimeout time.Duration
	memoryLimit   string
	writeTimeout  time.Duration
	email         outbox.Options
	security      securityConfig
	training      trainingConfig
}

// defaultCaptureToken is the project token the built web app uses when it
// sends to hogpipe itself; PostHog project tokens are public by design.
const defaultCaptureToken = "phc_hogpipe_local"

func serveFlags(env *environment) (*cli.FlagSet, *serveConfig) {
	c := &serveConfig{}
	fs := env.flags("serve", "Receive PostHog events over HTTP and feed the destinations.")
	fs.StringVar(&c.addr, "addr", "PORT", "127.0.0.1:3000", "address to listen on; PORT may hold just a port number, which listens on every interface")
	addDataFlags(fs, &c.dataDir, &c.trainingFile)
	addDatabaseFlag(fs, &c.database)
	fs.DurationVar(&c.commitLinger, "commit-linger", "HOGPIPE_COMMIT_LINGER", time.Millisecond, "how long a group commit under load waits for more writes to share it (negative: none)")
	fs.DurationVar(&c.commitTimeout, "commit-timeout", "HOGPIPE_COMMIT_TIMEOUT", 10*time.Second, "longest a group commit on PostgreSQL may take before its requests are answered 503 (a database that stopped answering)")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", "HOGPIPE_MAX_BODY_BYTES", 1<<20, "largest request body accepted, in bytes")
	fs.StringVar(&c.memoryLimit, "memory-limit", "HOGPIPE_MEMORY_LIMIT", "auto",
		"Go soft memory limit: a size (e.g. 1GiB), off, or auto (GOMEMLIMIT if set, else 3/4 of the cgroup's or machine's memory)")
	fs.StringVar(&c.logLevel, "log-level", "HOGPIPE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.captureTokens, "capture-tokens", "HOGPIPE_CAPTURE_TOKENS", defaultCaptureToken, "comma-separated project tokens accepted by the capture endpoints")
	c.email.Flags(fs)
	addSecurityFlags(fs, &c.security)
	addTrainingFlags(fs, &c.training)
	fs.DurationVar(&c.writeTimeout, "write-timeout", "HOGPIPE_WRITE_TIMEOUT", 30*time.Second,
		"longest an answer may take to write; a training data download has it renewed per chunk, so only a client that stops reading is cut off")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", "HOGPIPE_SHUTDOWN_GRACE", 10*time.Second, "how long shutdown waits for in-flight requests")
	return fs, c
}

func addDataFlags(fs *cli.FlagSet, dataDir, trainingFile *string) {
	fs.StringVar(dataDir, "data-dir", "HOGPIPE_DATA_DIR", "./data", "directory for hogpipe's database")
	fs.StringVar(trainingFile, "training-file", "HOGPIPE_TRAINING_FILE", "training_data.jsonl", "training data file kept in step with the store")
}

func dbPath(dataDir string) string { return filepath.Join(dataDir, "hogpipe.db") }

func runServe(ctx context.Context, args []string, env *environment) error {
	fs, c := serveFlags(env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := c.prepare(env)
	if err != nil {
		return err
	}
	if p.setLimit {
		// Restored on return: tests run serve inside their own process.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(p.memLimit))
	}
	log := p.log

	// Bound first and answering at once: /healthz says the process lives
	// while the store opens (which may mean waiting for another replica's
	// migration), /readyz says it is not ready yet and why.
	gate := server.NewGate("starting")
	l, err := c.listen(gate, log)
	if err != nil {
		return err
	}
	started := false
	defer func() {
		if !started {
			l.hs.Close()
		}
	}()
	log.Info("starting; /readyz answers 503 until the store is open", "addr", l.ln.Addr().String())

	mets := metrics.New()
	store, closeStore, err := c.openStore(ctx, p, gate, mets)
	if errors.Is(err, errStoppedStarting) {
		log.Info("stopped while starting", "phase", gate.Phase())
		return nil
	} else if err != nil {
		return err
	}
	defer closeStore()
	if err := c.training.keyPolicy(ctx, p.training, c.dataDir, store, c.database != ""); err != nil {
		return err
	}

	gate.SetPhase("recovering the training file")
	bg, err := c.startBackground(ctx, p, store, mets)
	if errors.Is(err, errStoppedStarting) {
		log.Info("stopped while starting", "phase", gate.Phase())
		return nil
	} else if err != nil {
		return err
	}

	srv := c.newServer(p, store, mets, bg)
	self := "http://" + displayAddr(l.ln.Addr())
	p.email.SetLinkBase(self) // before any request can render a dry-run link
	gate.Open(srv.Handler())
	started = true
	c.announce(env, p, self, l.ln.Addr(), store.Postgres())

	select {
	case err := <-l.serveErr:
		bg.stop()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return c.drain(log, l.hs, srv, store, bg.stop)
}

// errStoppedStarting: SIGTERM arrived while the store or the training file
// was still being brought up. A clean stop: nothing was started.
var errStoppedStarting = errors.New("stopped while starting")

// servePrep is what serve checks and builds from its flags before it
// listens.
type servePrep struct {
	log          *slog.Logger
	tokens       []string
	notices      []string // warnings the security flags raised, printed once serving
	security     server.Security
	memLimit     int64
	memLimitFrom string
	setLimit     bool
	training     *hogpipe.TrainingPolicy
	email        *outbox.Setup
}

// prepare checks the flags that need no store and builds what they name.
func (c *serveConfig) prepare(env *environment) (*servePrep, error) {
	if c.writeTimeout < 0 {
		return nil, cli.Usagef("--write-timeout cannot be negative (0: none)")
	}
	if c.maxBodyBytes < 1024 {
		return nil, cli.Usagef("--max-body-bytes %d is too small; use at least 1024", c.maxBodyBytes)
	}
	p := &servePrep{}
	var err error
	if p.log, err = newLogger(env.stderr, c.logLevel); err != nil {
		return nil, err
	}

	p.tokens = cli.SplitList(c.captureTokens)
	if len(p.tokens) == 0 {
		return nil, cli.Usagef("--capture-tokens is empty; give at least one project token")
	}

	if p.security, err = c.security.build(c.addr, func(s string) { p.notices = append(p.notices, s) }); err != nil {
		return nil, err
	}
	if int64(c.maxBodyBytes)*2 > p.security.MaxRequestMemory && p.security.MaxRequestMemory > 0 {
		return nil, cli.Usagef("--max-request-memory %s must hold at least two bodies of --max-body-bytes %d", formatBytes(p.security.MaxRequestMemory), c.maxBodyBytes)
	}
	if p.memLimit, p.memLimitFrom, p.setLimit, err = memoryLimit(c.memoryLimit, env.getenv); err != nil {
		return nil, err
	}
	if p.training, err = c.training.policy(); err != nil {
		return nil, err
	}
	if p.email, err = c.email.Build(p.log); err != nil {
		return nil, err
	}
	return p, nil
}

// listener is serve's HTTP server, serving (first the start-up gate) from
// the moment listen returns.
type listener struct {
	hs       *http.Server
	ln       net.Listener
	serveErr chan error
}

func (c *serveConfig) listen(gate *server.Gate, log *slog.Logger) (*listener, error) {
	hs := &http.Server{
		Handler:           gate,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (is another hogpipe running? set --addr or PORT)", c.addr, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	return &listener{hs: hs, ln: ln, serveErr: serveErr}, nil
}

// openStore opens (and migrates) the store: PostgreSQL if --database is
// set, else SQLite in the data directory, which it locks. closeStore
// closes the store, then unlocks the directory.
func (c *serveConfig) openStore(ctx context.Context, p *servePrep, gate *server.Gate, mets *metrics.Metrics) (store *sqlstore.Store, closeStore func(), err error) {
	opts := sqlstore.Options{Logger: p.log, Email: p.email.Policy, Training: p.training, CommitObserver: mets.Commit, Linger: c.commitLinger, CommitTimeout: c.commitTimeout,
		Progress: gate.SetPhase}
	if c.database != "" {
		// Replicas share the database; the data directory is not used.
		if store, err = sqlstore.OpenPostgres(ctx, c.database, opts); err != nil {
			if ctx.Err() != nil {
				// SIGTERM while waiting for another replica's migration.
				return nil, nil, errStoppedStarting
			}
			return nil, nil, storeError(err)
		}
		return store, func() { store.Close() }, nil
	}
	unlock, err := sqlstore.LockDataDir(c.dataDir)
	if err != nil {
		return nil, nil, err
	}
	if store, err = sqlstore.OpenSQLite(ctx, dbPath(c.dataDir), opts); err != nil {
		unlock()
		return nil, nil, storeError(fmt.Errorf("open store in %s: %w", c.dataDir, err))
	}
	return store, func() { store.Close(); unlock() }, nil
}

// background is the work serve runs beside the HTTP server: the training
// file's writer and the email workers.
type background struct {
	mirror        *jsonl.Writer
	workerRunning *atomic.Bool
	fb            server.Feedback
	// stop stops the training file's writer and the email workers
	// together: the writer catches up and hands its role off at once,
	// while sends in flight finish and are recorded.
	stop func() error
}

func (c *serveConfig) startBackground(ctx context.Context, p *servePrep, store *sqlstore.Store, mets *metrics.Metrics) (*background, error) {
	log := p.log
	mirrorCtx, stopMirror := context.WithCancel(context.Background())
	mirror, mirrorDone, err := startTrainingWriter(ctx, mirrorCtx, store, c.trainingFile, log)
	if err != nil {
		stopMirror()
		if ctx.Err() != nil {
			// SIGTERM while recovering the training file: as while waiting
			// for a migration, a clean stop.
			return nil, errStoppedStarting
		}
		return nil, err
	}
	mets.Watch(store, func() int64 { return mirror.Position().Seq })
	store.OnCommit(mirror.Notify)
	var workerRunning atomic.Bool

	if !store.Postgres() {
		// This process owns the data directory: any email still marked
		// sending was in flight when a previous run died. (On PostgreSQL
		// other replicas may be sending: their leases decide.)
		if n, err := store.ReleaseSending(ctx, time.Now()); err != nil {
			stopMirror()
			<-mirrorDone
			return nil, fmt.Errorf("recover the email outbox: %w", err)
		} else if n > 0 {
			log.Warn("email outbox: requeued emails that were being sent when hogpipe last stopped", "count", n)
		}
	}
	fb, err := emailFeedback(ctx, p.email, store, c.dataDir, log)
	if err != nil {
		stopMirror()
		<-mirrorDone
		return nil, err
	}
	worker := outbox.New(p.email.Worker, store, p.email.Sender, log)
	fb.Preview = worker.Previewer(store)
	worker.OnOutcome = mets.EmailOutcome
	store.OnEmailQueued(worker.Notify)
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	workerRunning.Store(true)
	go func() { workerDone <- worker.Run(workerCtx); workerRunning.Store(false) }()
	return &background{mirror: mirror, workerRunning: &workerRunning, fb: fb, stop: func() error {
		stopMirror()
		stopWorker()
		return errors.Join(<-workerDone, <-mirrorDone)
	}}, nil
}

func (c *serveConfig) newServer(p *servePrep, store *sqlstore.Store, mets *metrics.Metrics, bg *background) *server.Server {
	return server.New(server.Config{MaxBodyBytes: c.maxBodyBytes, CaptureTokens: p.tokens, Security: p.security, Feedback: bg.fb, WriteTimeout: c.writeTimeout}, server.Deps{
		Store: store, Mirror: bg.mirror, Metrics: mets, Log: p.log,
		Ready: []func(context.Context) error{
			func(context.Context) error { return running(bg.mirror.Running(), "training file mirror") },
			func(context.Context) error { return running(bg.workerRunning.Load(), "email workers") },
		},
	})
}

// announce tells the operator where hogpipe listens and what it runs with.
func (c *serveConfig) announce(env *environment, p *servePrep, self string, addr net.Addr, postgres bool) {
	fmt.Fprintf(env.stdout, "hogpipe listening on %s\n", self)
	fmt.Fprintf(env.stdout, "capture token (posthog-js api key): %s\n", p.tokens[0])
	fmt.Fprintln(env.stdout, p.email.Describe)
	for _, n := range p.notices {
		fmt.Fprintln(env.stdout, n)
		p.log.Warn(n)
	}
	if !server.WebAppBuilt() {
		fmt.Fprintln(env.stdout, "web app not built into this binary: run 'make run' to build it")
	}
	p.log.Info("serving", "memory_limit", formatBytes(p.memLimit), "memory_limit_from", p.memLimitFrom, "addr", addr.String(), "data_dir", c.dataDir, "training_file", c.trainingFile, "postgres", postgres)
}

// drain shuts serve down after a signal. The whole shutdown fits in
// --shutdown-grace: an orchestrator's SIGKILL follows its own grace
// period, and a replica still busy then loses its work in flight less
// cleanly than one that gave up itself.
func (c *serveConfig) drain(log *slog.Logger, hs *http.Server, srv *server.Server, store *sqlstore.Store, stopBackground func() error) error {
	log.Info("shutting down", "grace", c.shutdownGrace)
	shutCtx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	srv.Drain()
	done := make(chan error, 1)
	go func() {
		// Shutdown returns once every in-flight request has its answer, and
		// each answer waited for its commit. Then the writer role is handed
		// off and the email workers record their sends, then the store
		// commits and closes.
		shutErr := hs.Shutdown(shutCtx)
		commits, ops, took := store.CommitStats()
		log.Info("store totals", "commits", commits, "ops", ops, "commit_time", took)
		bgErr := stopBackground()
		done <- errors.Join(shutErr, bgErr, store.Close())
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("shut down: %w", err)
		}
	case <-shutCtx.Done():
		// Whatever is left is safe to drop: nothing unacknowledged was
		// promised, the file is recovered by its next writer, and locks and
		// leases end with this process's connections.
		return fmt.Errorf("shut down: not finished within --shutdown-grace %s; exiting anyway", c.shutdownGrace)
	}
	log.Info("stopped")
	return nil
}

// storeError makes a store this build must not run against a usage error
// (exit code 2: retrying the same binary cannot help).
func storeError(err error) error {
	if errors.Is(err, sqlstore.ErrIncompatible) {
		return cli.Usage(err)
	}
	return err
}

// displayAddr turns ":3000" / "[::]:3000" into something a browser opens.
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

func running(ok bool, what string) error {
	if !ok {
		return fmt.Errorf("%s stopped", what)
	}
	return nil
}
