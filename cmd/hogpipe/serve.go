package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
	"github.com/hogpipe/hogpipe/internal/memlimit"
	"github.com/hogpipe/hogpipe/metrics"
	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/server"
	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

type serveConfig struct {
	server server.Settings // address, body size, tokens, secrets and limits
	storeFlags
	logLevel      string
	shutdownGrace time.Duration
	commitLinger  time.Duration
	commitTimeout time.Duration
	memoryLimit   string
	email         outbox.Options
	training      trainingfile.PolicyConfig
}

func serveFlags(env *environment) (*cli.FlagSet, *serveConfig) {
	c := &serveConfig{}
	fs := env.flags("serve", "Receive PostHog events over HTTP and feed the destinations.")
	c.server.Flags(fs)
	c.storeFlags.register(fs, true)
	fs.DurationVar(&c.commitLinger, "commit-linger", "HOGPIPE_COMMIT_LINGER", time.Millisecond, "how long a group commit under load waits for more writes to share it (negative: none)")
	fs.DurationVar(&c.commitTimeout, "commit-timeout", "HOGPIPE_COMMIT_TIMEOUT", 10*time.Second, "longest a group commit on PostgreSQL may take before its requests are answered 503 (a database that stopped answering)")
	fs.StringVar(&c.memoryLimit, "memory-limit", "HOGPIPE_MEMORY_LIMIT", "auto",
		"Go soft memory limit: a size (e.g. 1GiB), off, or auto (GOMEMLIMIT if set, else 3/4 of the cgroup's or machine's memory)")
	fs.StringVar(&c.logLevel, "log-level", "HOGPIPE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
	c.email.Flags(fs)
	c.training.Flags(fs)
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", "HOGPIPE_SHUTDOWN_GRACE", 10*time.Second, "how long shutdown waits for in-flight requests")
	return fs, c
}

func runServe(ctx context.Context, args []string, env *environment) error {
	fs, c := serveFlags(env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := c.prepare(env)
	if err != nil {
		return err
	}
	defer p.memLimit.Apply()() // restored on return: tests run serve inside their own process
	log := p.log

	// Bound first and answering at once: /healthz says the process lives
	// while the store opens (which may mean waiting for another replica's
	// migration), /readyz says it is not ready yet and why.
	gate := server.NewGate("starting")
	l, err := server.Listen(p.cfg, gate, log)
	if err != nil {
		return err
	}
	started := false
	defer func() {
		if !started {
			l.Close()
		}
	}()
	log.Info("starting; /readyz answers 503 until the store is open", "addr", l.Addr().String())

	mets := metrics.New()
	store, closeStore, err := c.openStore(ctx, p, gate, mets)
	if errors.Is(err, errStoppedStarting) {
		log.Info("stopped while starting", "phase", gate.Phase())
		return nil
	} else if err != nil {
		return err
	}
	defer closeStore()
	if err := c.training.KeyPolicy(ctx, p.training, c.dataDir, store, c.postgres()); err != nil {
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
	self := l.URL()
	p.email.SetLinkBase(self) // before any request can render a dry-run link
	gate.Open(srv.Handler())
	started = true
	c.announce(env, p, self, l.Addr(), store.Postgres())

	select {
	case err := <-l.Failed():
		bg.stop()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return c.shutdown(log, l, srv, store, bg)
}

// shutdown stops serve after a signal, all within --shutdown-grace. Once
// every in-flight request has its answer (each waited for its commit), the
// writer role is handed off and the email workers record their sends, then
// the store commits and closes.
func (c *serveConfig) shutdown(log *slog.Logger, l *server.Listener, srv *server.Server, store *sqlstore.Store, bg *background) error {
	log.Info("shutting down", "grace", c.shutdownGrace)
	if err := l.Shutdown(c.shutdownGrace, srv, func() error {
		commits, ops, took := store.CommitStats()
		log.Info("store totals", "commits", commits, "ops", ops, "commit_time", took)
		return errors.Join(bg.stop(), store.Close())
	}); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// errStoppedStarting: SIGTERM arrived while the store or the training file
// was still being brought up. A clean stop: nothing was started.
var errStoppedStarting = errors.New("stopped while starting")

// servePrep is what serve checks and builds from its flags before it
// listens.
type servePrep struct {
	log      *slog.Logger
	cfg      server.Config
	notices  []string // warnings the security flags raised, printed once serving
	memLimit memlimit.Limit
	training *hogpipe.TrainingPolicy
	email    *outbox.Setup
}

// prepare checks the flags that need no store and builds what they name.
func (c *serveConfig) prepare(env *environment) (*servePrep, error) {
	p := &servePrep{}
	var err error
	if p.log, err = cli.NewLogger(env.stderr, c.logLevel); err != nil {
		return nil, err
	}
	if p.cfg, err = c.server.Build(func(s string) { p.notices = append(p.notices, s) }); err != nil {
		return nil, err
	}
	if p.memLimit, err = memlimit.Decide(c.memoryLimit, memlimit.Machine{Getenv: env.getenv}); err != nil {
		return nil, err
	}
	if p.training, err = c.training.Policy(); err != nil {
		return nil, err
	}
	if p.email, err = c.email.Build(p.log); err != nil {
		return nil, err
	}
	return p, nil
}

// openStore opens (and migrates) the store: PostgreSQL if --database is
// set, else SQLite in the data directory, which it locks.
func (c *serveConfig) openStore(ctx context.Context, p *servePrep, gate *server.Gate, mets *metrics.Metrics) (*sqlstore.Store, func(), error) {
	opts := sqlstore.Options{Logger: p.log, Email: p.email.Policy, Training: p.training, CommitObserver: mets.Commit, Linger: c.commitLinger, CommitTimeout: c.commitTimeout,
		Progress: gate.SetPhase}
	store, closeStore, err := sqlstore.Open(ctx, c.dataDir, c.database, opts)
	if err != nil && c.postgres() && ctx.Err() != nil {
		// SIGTERM while waiting for another replica's migration.
		return nil, nil, errStoppedStarting
	}
	return store, closeStore, storeError(err)
}

// background is the work serve runs beside the HTTP server: the training
// file's writer and the email workers.
type background struct {
	mirror        *trainingfile.Writer
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
	mirror, mirrorDone, err := trainingfile.StartWriter(ctx, mirrorCtx, c.trainingFile, store, store.Postgres(), log)
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
	cfg := p.cfg
	cfg.Feedback = bg.fb
	return server.New(cfg, server.Deps{
		Store: store, Mirror: bg.mirror, Metrics: mets, Log: p.log,
		Ready: []func(context.Context) error{
			server.Running("training file mirror", bg.mirror.Running),
			server.Running("email workers", bg.workerRunning.Load),
		},
	})
}

// announce tells the operator where hogpipe listens and what it runs with.
func (c *serveConfig) announce(env *environment, p *servePrep, self string, addr net.Addr, postgres bool) {
	fmt.Fprintf(env.stdout, "hogpipe listening on %s\n", self)
	fmt.Fprintf(env.stdout, "capture token (posthog-js api key): %s\n", p.cfg.CaptureTokens[0])
	fmt.Fprintln(env.stdout, p.email.Describe)
	for _, n := range p.notices {
		fmt.Fprintln(env.stdout, n)
		p.log.Warn(n)
	}
	if !server.WebAppBuilt() {
		fmt.Fprintln(env.stdout, "web app not built into this binary: run 'make run' to build it")
	}
	p.log.Info("serving", "memory_limit", cli.FormatBytes(p.memLimit.Bytes), "memory_limit_from", p.memLimit.From, "addr", addr.String(),
		"data_dir", c.dataDir, "training_file", c.trainingFile, "postgres", postgres)
}

// storeError makes a store this build must not run against a usage error
// (exit code 2: retrying the same binary cannot help).
func storeError(err error) error {
	if errors.Is(err, sqlstore.ErrIncompatible) {
		return cli.Usage(err)
	}
	return err
}
