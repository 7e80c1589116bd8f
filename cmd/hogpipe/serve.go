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
	"runtime/debug"
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
	memoryLimit   string
	writeTimeout  time.Duration
	email         emailConfig
	feedback      feedbackConfig
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
	fs.StringVar(&c.memoryLimit, "memory-limit", "HOGPIPE_MEMORY_LIMIT", "auto",
		"Go soft memory limit: a size (e.g. 1GiB), off, or auto (GOMEMLIMIT if set, else 3/4 of the cgroup's or machine's memory)")
	fs.StringVar(&c.logLevel, "log-level", "HOGPIPE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.captureTokens, "capture-tokens", "HOGPIPE_CAPTURE_TOKENS", defaultCaptureToken, "comma-separated project tokens accepted by the capture endpoints")
	addEmailFlags(fs, &c.email)
	addFeedbackFlags(fs, &c.feedback)
	addSecurityFlags(fs, &c.security)
	addTrainingFlags(fs, &c.training)
	fs.DurationVar(&c.writeTimeout, "write-timeout", "HOGPIPE_WRITE_TIMEOUT", 30*time.Second,
		"longest an answer may take to write; a training data download has it renewed per chunk, so only a client that stops reading is cut off")
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
	if c.writeTimeout < 0 {
		return usagef("--write-timeout cannot be negative (0: none)")
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
	if int64(c.maxBodyBytes)*2 > security.MaxRequestMemory && security.MaxRequestMemory > 0 {
		return usagef("--max-request-memory %s must hold at least two bodies of --max-body-bytes %d", formatBytes(security.MaxRequestMemory), c.maxBodyBytes)
	}
	memLimit, memLimitFrom, setLimit, err := memoryLimit(c.memoryLimit, env.getenv)
	if err != nil {
		return err
	}
	if setLimit {
		// Restored on return: tests run serve inside their own process.
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(memLimit))
	}
	training, err := c.training.policy()
	if err != nil {
		return err
	}
	emailSetup, err := c.email.build(log)
	if err != nil {
		return err
	}
	if err := c.feedback.check(emailSetup); err != nil {
		return err
	}

	// Bound first and answering at once: /healthz says the process lives
	// while the store opens (which may mean waiting for another replica's
	// migration), /readyz says it is not ready yet and why.
	gate := server.NewGate("starting")
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
		return fmt.Errorf("listen on %s: %w (is another hogpipe running? set --addr or PORT)", c.addr, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	started := false
	defer func() {
		if !started {
			hs.Close()
		}
	}()
	log.Info("starting; /readyz answers 503 until the store is open", "addr", ln.Addr().String())

	mets := metrics.New()
	opts := sqlstore.Options{Logger: log, Email: emailSetup.policy, Training: training, CommitObserver: mets.Commit, Linger: c.commitLinger, CommitTimeout: c.commitTimeout,
		Progress: gate.SetPhase}
	var store *sqlstore.Store
	if c.database != "" {
		// Replicas share the database; the data directory is not used.
		if store, err = sqlstore.OpenPostgres(ctx, c.database, opts); err != nil {
			if ctx.Err() != nil {
				// SIGTERM while waiting for another replica's migration: a
				// clean stop, nothing was started.
				log.Info("stopped while starting", "phase", gate.Phase())
				return nil
			}
			return storeError(err)
		}
	} else {
		unlock, err := lockDataDir(c.dataDir)
		if err != nil {
			return err
		}
		defer unlock()
		if store, err = sqlstore.OpenSQLite(ctx, dbPath(c.dataDir), opts); err != nil {
			return storeError(fmt.Errorf("open store in %s: %w", c.dataDir, err))
		}
	}
	defer store.Close()
	if err := c.training.keyPolicy(ctx, training, c.dataDir, store, c.database != ""); err != nil {
		return err
	}

	gate.SetPhase("recovering the training file")
	mirrorCtx, stopMirror := context.WithCancel(context.Background())
	mirror, mirrorDone, err := startTrainingWriter(ctx, mirrorCtx, store, c.trainingFile, log)
	if err != nil {
		stopMirror()
		if ctx.Err() != nil {
			// SIGTERM while recovering the training file: as while waiting
			// for a migration, a clean stop.
			log.Info("stopped while starting", "phase", gate.Phase())
			return nil
		}
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
	fb, err := c.feedback.build(ctx, store, c.dataDir, emailSetup, log)
	if err != nil {
		stopMirror()
		<-mirrorDone
		return err
	}
	worker := outbox.New(emailSetup.worker, store, emailSetup.sender, log)
	fb.server.Preview = previewer(store, worker)
	worker.OnOutcome = mets.EmailOutcome
	store.OnEmailQueued(worker.Notify)
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan error, 1)
	workerRunning.Store(true)
	go func() { workerDone <- worker.Run(workerCtx); workerRunning.Store(false) }()
	// stopBackground stops the training file's writer and the email
	// workers together: the writer catches up and hands its role off at
	// once, while sends in flight finish and are recorded.
	stopBackground := func() error {
		stopMirror()
		stopWorker()
		return errors.Join(<-workerDone, <-mirrorDone)
	}

	srv := server.New(server.Config{MaxBodyBytes: c.maxBodyBytes, CaptureTokens: tokens, Security: security, Feedback: fb.server, WriteTimeout: c.writeTimeout}, server.Deps{
		Store: store, Mirror: mirror, Metrics: mets, Log: log,
		Ready: []func(context.Context) error{
			func(context.Context) error { return running(mirror.Running(), "training file mirror") },
			func(context.Context) error { return running(workerRunning.Load(), "email workers") },
		},
	})
	self := "http://" + displayAddr(ln.Addr())
	fb.base.Store(&self) // before any request can render a dry-run link
	gate.Open(srv.Handler())
	started = true
	fmt.Fprintf(env.stdout, "hogpipe listening on %s\n", self)
	fmt.Fprintf(env.stdout, "capture token (posthog-js api key): %s\n", tokens[0])
	fmt.Fprintln(env.stdout, emailSetup.describe)
	for _, n := range notices {
		fmt.Fprintln(env.stdout, n)
		log.Warn(n)
	}
	if !server.WebAppBuilt() {
		fmt.Fprintln(env.stdout, "web app not built into this binary: run 'make run' to build it")
	}
	log.Info("serving", "memory_limit", formatBytes(memLimit), "memory_limit_from", memLimitFrom, "addr", ln.Addr().String(), "data_dir", c.dataDir, "training_file", c.trainingFile, "postgres", store.Postgres())

	select {
	case err := <-serveErr:
		stopBackground()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// The whole shutdown fits in --shutdown-grace: an orchestrator's
	// SIGKILL follows its own grace period, and a replica still busy then
	// loses its work in flight less cleanly than one that gave up itself.
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
		return usageError{err}
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

// lockDataDir makes sure one hogpipe serve owns a data directory: two
// would both append to the same training file.
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, sqlstore.DirMode); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "hogpipe.lock"), os.O_RDWR|os.O_CREATE, sqlstore.FileMode)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another hogpipe serve; stop it or use another --data-dir", dir)
	}
	return func() { f.Close() }, nil
}

func running(ok bool, what string) error {
	if !ok {
		return fmt.Errorf("%s stopped", what)
	}
	return nil
}
