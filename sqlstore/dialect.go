package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/hogpipe/hogpipe/trainingfile"
)

// dialect adapts the store's SQL, written in SQLite's spelling, to the
// database at hand. The differences are few: placeholders, a JSON
// operator's operand type, and the locks PostgreSQL needs because several
// processes write at once where SQLite has one writer.
type dialect struct {
	name  string
	goose goose.Dialect
	pg    bool
	cache sync.Map // SQLite spelling → this dialect's
}

var (
	sqliteDialect   = &dialect{name: "sqlite", goose: goose.DialectSQLite3}
	postgresDialect = &dialect{name: "postgres", goose: goose.DialectPostgres, pg: true}
)

// rebind turns a query into this dialect: for PostgreSQL, ? becomes $n
// and "line ->> 'k'" reads line as JSON (pgLineJSON).
func (d *dialect) rebind(q string) string {
	if !d.pg {
		return q
	}
	if v, ok := d.cache.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	n, inStr := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inStr = !inStr
			b.WriteByte(c)
		case c == '?' && !inStr:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	out := strings.ReplaceAll(b.String(), "line ->> ", pgLineJSON+" ->> ")
	d.cache.Store(q, out)
	return out
}

// pgLineJSON reads a stored line as JSON on PostgreSQL. Not jsonb: a
// jsonb cast refuses the whole line for a \u0000 escape anywhere in it or a
// number beyond numeric's range, and one such line (stored before those
// were refused at the door, or imported) would fail every query over the
// table — the dashboard's training stats forever. json only checks the
// syntax, and de-escapes just the field read; the replace keeps that field
// readable too (U+0000 shows as U+FFFD; a prompt holding the literal text
// \\u0000 would show \\ufffd in stats, never in exports).
const pgLineJSON = `replace(line, '\u0000', '\ufffd')::json`

// reader is the read pool, speaking the dialect.
type reader struct {
	*sql.DB
	d *dialect
}

func (r reader) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.DB.QueryContext(ctx, r.d.rebind(q), args...)
}

func (r reader) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return r.DB.QueryRowContext(ctx, r.d.rebind(q), args...)
}

// The transaction's own statements speak the dialect too.
func (t *txn) Exec(q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(t.ctx, t.s.d.rebind(q), args...)
}

func (t *txn) Query(q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(t.ctx, t.s.d.rebind(q), args...)
}

func (t *txn) QueryRow(q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(t.ctx, t.s.d.rebind(q), args...)
}

// pgLocks are the advisory lock keys of one hogpipe deployment. Advisory
// locks are per database, not per schema, so the keys are derived from the
// schema the store lives in: two deployments sharing a database in
// different schemas must not queue behind each other's commits, nor wait
// forever for each other's training file. The keys are also versioned by
// Protocol (compat.go): replicas that derive them differently never run
// side by side.
type pgLocks struct {
	schema   string
	protocol int
	writes   int64 // one group transaction at a time across replicas
	mirror   int64 // the one writer of the training file
}

func newPGLocks(schema string, protocol int) pgLocks {
	return pgLocks{schema: schema, protocol: protocol, writes: protocolKey(protocol, schema, "writes"), mirror: protocolKey(protocol, schema, "mirror")}
}

// MirrorLockKey is the advisory lock key (pg_locks: classid<<32 | objid)
// held by the replica that writes the training file of the hogpipe whose
// tables are in schema.
func MirrorLockKey(schema string) int64 { return lockKey(schema, "mirror") }

// lockWrites makes group transactions commit one after another across
// every replica, as SQLite's single writer does on one machine. Two
// things need it: training example seqs must become visible in seq order
// (else the mirror, which follows seq, could skip an example that
// committed late), and two replicas inserting the same uuids in different
// orders would otherwise deadlock. Group commit keeps the cost to one lock
// per batch, not per event.
func (t *txn) lockWrites() error {
	if !t.s.d.pg {
		return nil
	}
	_, err := t.Tx.ExecContext(t.ctx, `SELECT pg_advisory_xact_lock($1)`, t.s.locks.writes)
	return err
}

// lockRecipient serialises the frequency-cap check for one address across
// replicas, so two events for one person cannot both pass it.
func (t *txn) lockRecipient(addr string) error {
	if !t.s.d.pg {
		return nil
	}
	_, err := t.Tx.ExecContext(t.ctx, `SELECT pg_advisory_xact_lock($1)`, protocolKey(t.s.locks.protocol, t.s.locks.schema, "recipient\x00"+addr))
	return err
}

// ErrNoFastPath tells an export to take the portable path: the SQL
// rendering of export lines is written for SQLite only.
var ErrNoFastPath = trainingfile.ErrNoFastPath

// Leader holds the right to write the training file. On SQLite the data
// directory's lock already makes this process the only one; on PostgreSQL
// it is a session advisory lock on a connection of its own, lost (and
// taken over by another replica) when this process dies.
type Leader struct {
	conn *sql.Conn
	key  int64
	lost chan struct{}
	once sync.Once
	stop chan struct{}
}

// TryLead tries once to become the training file's writer. It returns nil
// (and no error) when another process holds it.
func (s *Store) TryLead(ctx context.Context) (*Leader, error) {
	l := &Leader{lost: make(chan struct{}), stop: make(chan struct{}), key: s.locks.mirror}
	if !s.d.pg {
		return l, nil
	}
	conn, err := s.r.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, l.key).Scan(&got); err != nil {
		conn.Close()
		return nil, err
	}
	if !got {
		conn.Close()
		return nil, nil
	}
	l.conn = conn
	go l.watch()
	return l, nil
}

// WaitLead waits up to within to become the training file's writer,
// waking the moment the holder releases the lock (a replica draining on
// SIGTERM hands the role over at once) or dies. It returns nil (and no
// error) when within passes first. On SQLite it leads at once.
func (s *Store) WaitLead(ctx context.Context, within time.Duration) (*Leader, error) {
	if !s.d.pg {
		return s.TryLead(ctx)
	}
	l := &Leader{lost: make(chan struct{}), stop: make(chan struct{}), key: s.locks.mirror}
	conn, err := s.r.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	// Bounded, so that a connection a stalled network left hanging is
	// replaced instead of waited on forever.
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if _, err := conn.ExecContext(wctx, `SELECT pg_advisory_lock($1)`, l.key); err != nil {
		// Not taken (a cancelled lock wait takes nothing); closing the
		// connection also releases it should the server have granted it as
		// the cancel arrived.
		conn.Raw(func(any) error { return driver.ErrBadConn })
		conn.Close()
		if wctx.Err() != nil && ctx.Err() == nil {
			return nil, nil
		}
		return nil, err
	}
	l.conn = conn
	go l.watch()
	return l, nil
}

// watch notices a lost connection (and with it the lock).
func (l *Leader) watch() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err := l.conn.PingContext(ctx)
			cancel()
			if err != nil {
				l.once.Do(func() { close(l.lost) })
				return
			}
		}
	}
}

// Release gives up leadership.
func (l *Leader) Release() {
	if l == nil {
		return
	}
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	if l.conn != nil {
		// Bounded: after a lost connection this must not hang the caller,
		// which wants to go back to trying for the lead.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		l.conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, l.key)
		cancel()
		l.conn.Close()
	}
}

// Postgres tells whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.d.pg }
