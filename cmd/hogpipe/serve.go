package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

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
	email         emailConfig
	security      securityConfig
	training      trainingConfig
}

// defaultCaptureToken is the project token the built web app uses when it
// sends to hogpipe itself; PostHog project tokens are public by design.
const defaultCaptureToken = "phc_hogpipe_local"

func serveFlags(env *environment) (*flagSet, *serveConfig) {
	c := &serveConfig{}
	fs := newFlagSet("serve", "Receive PostHog events over HTTP and feed the destinations.", env)
	fs.StringVar(&c.addr, "addr", "PORT", "127.0.0.1:3000", "address to listen on; PORT may hold just a port number, which listens on every interface")
	addDataFlags(fs, &c.dataDir, &c.trainingFile)
	addDatabaseFlag(fs, &c.database)
	fs.DurationVar(&c.commitLinger, "commit-linger", "HOGPIPE_COMMIT_LINGER", time.Millisecond, "how long a group commit under load waits for more writes to share it (negative: none)")
	fs.DurationVar(&c.commitTimeout, "commit-timeout", "HOGPIPE_COMMIT_TIMEOUT", 10*time.Second, "longest a group commit on PostgreSQL may take before its requests are answered 503 (a database that stopped answering)")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", "HOGPIPE_MAX_BODY_BYTES", 1<<20, "largest request body accepted, in bytes")
	fs.StringVar(&c.logLevel, "log-level", "HOGPIPE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.captureTokens, "capture-tokens", "HOGPIPE_CAPTURE_TOKENS", defaultCaptureToken, "comma-separated project tokens accepted by the capture endpoints")
	addEmailFlags(fs, &c.email)
	addSecurityFlags(fs, &c.security)
	addTrainingFlags(fs, &c.training)
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", "HOGPIPE_SHUTDOWN_GRACE", 10*time.Second, "how long shutdown waits for in-flight requests")
	return fs, c
}

func addDataFlags(fs *flagSet, dataDir, trainingFile *string) {
	fs.fs.StringVar(dataDir, "data-dir", "./data", "directory for hogpipe's database")
	fs.bind("data-dir", "HOGPIPE_DATA_DIR")
	fs.fs.StringVar(trainingFile, "training-file", "training_data.jsonl", "training data file kept in step with the store")
	fs.bind("training-file", "HOGPIPE_TRAINING_FILE")
}

func dbPath(dataDir string) string { return filepath.Join(dataDir, "hogpipe.db") }

func runServe(ctx context.Context, args []string, env *environment) error {
	fs, c := serveFlags(env)
	if err := fs.parse(args); err != nil {
		return usageError{err}
	}
	if c.maxBodyBytes < 1024 {
		return usagef("--max-body-bytes %d is too small; use at least 1024", c.maxBodyBytes)
	}
	log, err := newLogger(env.stderr, c.logLevel)
	if err != nil {
		return err
	}

	tokens := splitList(c.captureTokens)
	if len(tokens) == 0 {
		return usagef("--capture-tokens is empty; give at least one project token")
	}

	var notices []string
	security, err := c.security.build(c.addr, func(s string) { notices = append(notices, s) })
	if err != nil {
		return err
	}
	training, err := c.training.policy()
	if err != nil {
		return err
	}
	emailSetup, err := c.email.build(log)
	if err != nil {
		return err
	}

	mets := metrics.New()
	opts := sqlstore.Options{Logger: log, Email: emailSetup.policy, Training: training, CommitObserver: mets.Commit, Linger: c.commitLinger, CommitTimeout: c.commitTimeout}
	var store *sqlstore.Store
	if c.database != "" {
		// Replicas share the database; the data directory is not used.
		if store, err = sqlstore.OpenPostgres(ctx, c.database, opts); err != nil {
			return err
		}
	} else {
		unlock, err := lockDataDir(c.dataDir)
		if err != nil {
			return err
		}
		defer unlock()
		if store, err = sqlstore.OpenSQLite(ctx, dbPath(c.dataDir), opts); err != nil {
			return fmt.Errorf("open store in %s: %w", c.dataDir, err)
		}
	}
	defer store.Close()
	if err := c.training.keyPolicy(ctx, training, c.dataDir, store, c.database != ""); err != nil {
		return err
	}

	mirror := &trainingMirror{store: store, path: c.trainingFile, log: log}
	mirrorCtx, stopMirror := context.WithCancel(context.Background())
	mirrorDone, err := mirror.start(mirrorCtx)
	if err != nil {
		stopMirror()
		return err
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
			return fmt.Errorf("recover the email outbox: %w", err)
		} else if n > 0 {
			log.Warn("email outbox: requeued emails that were being sent when hogpipe last stopped", "count", n)
		}
	}
	worker := outbox.New(emailSetup.worker, store, emailSetup.sender, log)
	worker.OnOutcome = mets.EmailOutcome
	store.OnEmailQueued(worker.Notify)
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	workerRunning.Store(true)
	go func() { workerDone <- worker.Run(workerCtx); workerRunning.Store(false) }()
	stopBackground := func() error {
		stopWorker()
		werr := <-workerDone
		stopMirror()
		return errors.Join(werr, <-mirrorDone)
	}

	srv := server.New(server.Config{MaxBodyBytes: c.maxBodyBytes, CaptureTokens: tokens, Security: security}, server.Deps{
		Store: store, Mirror: mirror, Metrics: mets, Log: log,
		Ready: []func(context.Context) error{
			func(context.Context) error { return running(&mirror.running, "training file mirror") },
			func(context.Context) error { return running(&workerRunning, "email workers") },
		},
	})
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		stopBackground()
		return fmt.Errorf("listen on %s: %w (is another hogpipe running? set --addr or PORT)", c.addr, err)
	}
	fmt.Fprintf(env.stdout, "hogpipe listening on http://%s\n", displayAddr(ln.Addr()))
	fmt.Fprintf(env.stdout, "capture token (posthog-js api key): %s\n", tokens[0])
	fmt.Fprintln(env.stdout, emailSetup.describe)
	for _, n := range notices {
		fmt.Fprintln(env.stdout, n)
		log.Warn(n)
	}
	if !server.WebAppBuilt() {
		fmt.Fprintln(env.stdout, "web app not built into this binary: run 'make run' to build it")
	}
	log.Info("serving", "addr", ln.Addr().String(), "data_dir", c.dataDir, "training_file", c.trainingFile, "postgres", store.Postgres())

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()

	select {
	case err := <-serveErr:
		stopBackground()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", c.shutdownGrace)
	srv.Drain()
	shutCtx, cancel := context.WithTimeout(context.Background(), c.shutdownGrace)
	defer cancel()
	// Shutdown returns once every in-flight request has its answer, and
	// each answer waited for its commit.
	shutErr := hs.Shutdown(shutCtx)
	commits, ops, took := store.CommitStats()
	log.Info("store totals", "commits", commits, "ops", ops, "commit_time", took)
	// Email workers finish (or time out) their sends and record them, then
	// the mirror appends what is left, then the store commits and closes.
	bgErr := stopBackground()
	closeErr := store.Close()
	if err := errors.Join(shutErr, bgErr, closeErr); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	log.Info("stopped")
	return nil
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

// lockDataDir makes sure one hogpipe serve owns a data directory: two
// would both append to the same training file.
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "hogpipe.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another hogpipe serve; stop it or use another --data-dir", dir)
	}
	return func() { f.Close() }, nil
}

func running(b *atomic.Bool, what string) error {
	if !b.Load() {
		return fmt.Errorf("%s stopped", what)
	}
	return nil
}
