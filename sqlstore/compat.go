package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"
)

// Protocol versions how replicas sharing one PostgreSQL schema coordinate:
// the advisory lock keys (group commits, the training file's writer, the
// frequency cap) and the training file's watermark. Replicas of one
// protocol cooperate whatever their schema version; replicas of two
// protocols would not see each other's locks, so they must never run side
// by side. The schema's hogpipe_meta row names the protocol of the
// replicas that run on it:
//
//   - a replica whose protocol is older than the row's refuses to start;
//   - a replica whose protocol is newer takes the row over only when no
//     replica of an older protocol is alive (each replica holds a shared
//     "presence" lock for its protocol while it runs), and refuses otherwise.
//
// Bump it only with a change that makes old and new replicas disagree; such
// a release needs all old replicas stopped first (docs/deploy.md).
//
// Protocol 1 is every release since 9cc29fb (lock keys derived from the
// schema); its keys keep their original derivation so that those releases,
// which know nothing of protocols, share locks with this one.
const Protocol = 1

// lockKey is the advisory lock key of name in schema for this build's
// protocol.
func lockKey(schema, name string) int64 { return protocolKey(Protocol, schema, name) }

func protocolKey(protocol int, schema, name string) int64 {
	h := fnv.New64a()
	if protocol == 1 {
		h.Write([]byte("hogpipe\x00" + schema + "\x00" + name))
	} else {
		h.Write([]byte("hogpipe\x00p" + strconv.Itoa(protocol) + "\x00" + schema + "\x00" + name))
	}
	return int64(h.Sum64())
}

// migrateLockKey is the one key that must never change across protocols:
// it serialises migrations and protocol checks between replicas of any
// release, so it cannot depend on what they disagree about.
func migrateLockKey(schema string) int64 { return protocolKey(1, schema, "migrate") }

// MigrateLockKey is the advisory lock key a replica holds while it
// migrates the hogpipe schema in schema (and that the others wait on).
func MigrateLockKey(schema string) int64 { return migrateLockKey(schema) }

// presenceKey is held (shared) by every running replica of protocol.
func presenceKey(schema string, protocol int) int64 {
	return protocolKey(protocol, schema, "replica")
}

// checkProtocol compares this build's protocol with the one the schema's
// replicas speak (see Protocol), under the migration lock so that replicas
// starting together decide one after another. On PostgreSQL it returns the
// connection holding this replica's presence lock.
func checkProtocol(ctx context.Context, w, r *sql.DB, d dialect, schema string, protocol int) (*sql.Conn, error) {
	if !d.shared() {
		// One process owns a SQLite file; only a newer protocol matters.
		var v string
		err := w.QueryRowContext(ctx, `SELECT value FROM hogpipe_meta WHERE key = 'protocol'`).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read hogpipe_meta: %w", err)
		}
		if n, _ := strconv.Atoi(v); n > protocol {
			return nil, tooNewProtocol(n, protocol)
		}
		return nil, nil
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("check the replica protocol: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLockKey(schema)); err != nil {
		return nil, fmt.Errorf("check the replica protocol: %w", err)
	}
	var v string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM hogpipe_meta WHERE key = 'protocol' FOR UPDATE`).Scan(&v); err != nil {
		return nil, fmt.Errorf("read hogpipe_meta: %w", err)
	}
	cluster, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Errorf("hogpipe_meta protocol %q: %w", v, err)
	}
	if cluster > protocol {
		return nil, tooNewProtocol(cluster, protocol)
	}
	if cluster < protocol {
		for p := 1; p < protocol; p++ {
			keys := []int64{presenceKey(schema, p)}
			if p == 1 {
				// Releases before protocols hold no presence lock; their
				// training file writer is the one sign of them.
				keys = append(keys, protocolKey(1, schema, "mirror"))
			}
			for _, k := range keys {
				var held bool
				if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
					WHERE locktype = 'advisory' AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
					AND ((classid::bigint << 32) | objid::bigint) = $1)`, k).Scan(&held); err != nil {
					return nil, fmt.Errorf("look for replicas of protocol %d: %w", p, err)
				}
				if held {
					return nil, fmt.Errorf("%w: replicas of protocol %d are still running on this schema and this build speaks protocol %d, "+
						"whose locks they would not see; stop every replica of the older release, then start this one (docs/deploy.md)",
						ErrIncompatible, p, protocol)
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hogpipe_meta SET value = $1 WHERE key = 'protocol'`, strconv.Itoa(protocol)); err != nil {
			return nil, fmt.Errorf("record the replica protocol: %w", err)
		}
	}
	// Taken before the transaction (and its lock) ends, so that a replica
	// of a newer protocol deciding next sees this one.
	conn, err := holdPresence(ctx, r, schema, protocol)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("record the replica protocol: %w", err)
	}
	return conn, nil
}

func tooNewProtocol(cluster, mine int) error {
	return fmt.Errorf("%w: the replicas on this database speak protocol %d and this hogpipe build speaks protocol %d: "+
		"a newer release runs here; run that release or a newer one", ErrIncompatible, cluster, mine)
}

func holdPresence(ctx context.Context, r *sql.DB, schema string, protocol int) (*sql.Conn, error) {
	conn, err := r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("register this replica: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock_shared($1)`, presenceKey(schema, protocol)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("register this replica: %w", err)
	}
	return conn, nil
}

// presence keeps this replica's presence lock while it runs. When the
// connection holding it goes (the database restarted, the session was
// killed), it checks the protocol again before taking it back: if a newer
// protocol took the schema over meanwhile, this replica is fenced and
// stops taking writes rather than diverge.
type presence struct {
	s      *Store
	conn   *sql.Conn
	fenced atomic.Bool
	stop   chan struct{}
	done   chan struct{}
}

func (p *presence) run(log *slog.Logger) {
	defer close(p.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			if p.conn != nil {
				p.conn.Close()
			}
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if p.conn != nil {
			if err := p.conn.PingContext(ctx); err != nil {
				p.conn.Close()
				p.conn = nil
			}
		}
		if p.conn == nil {
			// On the read pool, not the writer's one connection: the check
			// waits for the migration lock, which another replica may hold
			// for a long migration, and this replica's commits must not
			// queue behind it meanwhile.
			conn, err := checkProtocol(ctx, p.s.r.DB, p.s.r.DB, p.s.d, p.s.locks.schema, p.s.protocol)
			switch {
			case errors.Is(err, ErrIncompatible):
				if !p.fenced.Swap(true) {
					log.Error("this replica is outdated and stops taking writes", "err", err)
				}
			case err == nil:
				p.conn = conn
			}
		}
		cancel()
	}
}
