package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// ErrIncompatible says this build cannot run against the database as it
// is: the schema is newer than any migration it embeds, or the replicas
// sharing it speak another protocol. Nothing has been written when it is
// returned; the command maps it to exit code 2.
var ErrIncompatible = errors.New("incompatible database")

// Phases of opening a store, reported through Options.Progress so that
// /readyz can say why this replica is not ready yet.
const (
	PhaseConnecting = "connecting to the database"
	PhaseMigrating  = "migrating the database schema"
	PhaseWaiting    = "waiting for another replica to finish migrating the schema"
	PhaseCompat     = "checking that this build can share the database"
)

// migrate brings the schema up to the newest embedded migration. On
// PostgreSQL, replicas that start together take turns: goose's session
// locker holds a session advisory lock around the whole run, so only one
// runs the migrations and the others find them applied. A schema newer
// than this build knows is refused before anything is written.
func migrate(ctx context.Context, db *sql.DB, d dialect, schema string, opt *Options) error {
	provOpts := []goose.ProviderOption{goose.WithGoMigrations(extraMigrations(d.name())...)}
	if d.shared() {
		// Polled once a second (goose's shortest period), for up to an hour:
		// a replica that waits is not ready, which is what an orchestrator
		// expects while another one migrates; SIGTERM ends the wait.
		inner, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrateLockKey(schema)), lock.WithLockTimeout(1, 3600))
		if err != nil {
			return fmt.Errorf("prepare the migration lock: %w", err)
		}
		provOpts = append(provOpts, goose.WithSessionLocker(&waitLogger{inner: inner, log: opt.Logger, progress: opt.progress}))
	}
	p, err := goose.NewProvider(d.gooseDialect(), db, mustSub(migrations, "migrations/"+d.name()), provOpts...)
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	var known int64
	for _, s := range p.ListSources() {
		known = max(known, s.Version)
	}
	// Checked before goose touches anything: an older build must not write
	// into a schema whose meaning it does not know.
	if err := checkSchemaVersion(ctx, db, d, known); err != nil {
		return err
	}
	opt.progress(PhaseMigrating)
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate database: %w", err)
	}
	for _, r := range res {
		opt.Logger.Info("schema migration applied", "version", r.Source.Version, "took", r.Duration)
	}
	// A newer build may have migrated past us while we waited for the lock;
	// then Up had nothing to do, and we refuse now, still having written
	// nothing.
	return checkSchemaVersion(ctx, db, d, known)
}

// checkSchemaVersion refuses a schema migrated past the newest migration
// this build embeds.
func checkSchemaVersion(ctx context.Context, db *sql.DB, d dialect, known int64) error {
	v, err := schemaVersion(ctx, db, d)
	if err != nil {
		return err
	}
	if v > known {
		return fmt.Errorf("%w: the database schema is at version %d, newer than this hogpipe build knows (its newest migration is %d): "+
			"a newer release has migrated it. Run that release or a newer one; this build refuses to write into a schema it does not understand",
			ErrIncompatible, v, known)
	}
	return nil
}

// schemaVersion is the highest migration applied to the database, 0 for a
// database goose has never seen. It only reads.
func schemaVersion(ctx context.Context, db *sql.DB, d dialect) (int64, error) {
	var exists bool
	if err := db.QueryRowContext(ctx, d.rebind(d.tableExists()), "goose_db_version").Scan(&exists); err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	return v, nil
}

// waitLogger is goose's session locker, saying in the log (and through
// Progress, on /readyz) when this replica waits for another's migration.
type waitLogger struct {
	inner    lock.SessionLocker
	log      *slog.Logger
	progress func(string)
}

func (w *waitLogger) SessionLock(ctx context.Context, conn *sql.Conn) error {
	start := time.Now()
	// goose tries at once, then once a second: still waiting after a short
	// while means another session holds the lock.
	waiting := time.AfterFunc(250*time.Millisecond, func() {
		w.progress(PhaseWaiting)
		w.log.Info("waiting for another replica to finish migrating the schema; not ready until it does")
	})
	err := w.inner.SessionLock(ctx, conn)
	if !waiting.Stop() && err == nil {
		w.log.Info("schema migration lock taken after waiting", "waited", time.Since(start).Round(time.Millisecond))
	}
	if err == nil {
		w.progress(PhaseMigrating)
	}
	return err
}

func (w *waitLogger) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	return w.inner.SessionUnlock(ctx, conn)
}
