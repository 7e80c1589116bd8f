package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/hogpipe/hogpipe/trainingfile"
)

// dialect is everything that differs between the two databases, each
// difference under one name: the store's SQL is written once, in SQLite's
// spelling, and asks the dialect for the few pieces that differ (River
// does the same with its drivers, behind a much larger interface). Two
// implementations: sqliteDialect and postgresDialect.
type dialect interface {
	// name names the dialect, and its migrations directory.
	name() string
	gooseDialect() goose.Dialect
	// rebind turns the ? placeholders of a query into the dialect's own.
	rebind(q string) string
	// jsonText is the SQL expression reading member key of the JSON text
	// in column col as text: NULL when the member is missing or null, and
	// U+0000 read as U+FFFD on both (PostgreSQL's text cannot hold it).
	// Defined for members holding strings; numbers and nested values come
	// back in each database's own rendering (TestDialectJSONText). key is
	// a constant of the code: letters, digits and underscores only.
	jsonText(col, key string) string
	// lockRows is the clause that ends a SELECT whose rows the
	// transaction will update, so that replicas sharing the database
	// serialise on them; skipLocked passes over rows another transaction
	// holds (a queue claim) instead of waiting. Empty on SQLite, whose one
	// writer already serialises.
	lockRows(skipLocked bool) string
	// xactLock takes an advisory lock on key until the transaction ends:
	// where several processes write at once, the store serialises what
	// SQLite's one writer serialises for free. A no-op on SQLite.
	xactLock(ctx context.Context, tx *sql.Tx, key int64) error
	// tableExists is a query (one ? argument: the table's name) telling
	// whether the table exists, without touching it.
	tableExists() string
	// currentSchema is the schema the store's tables live in, which
	// derives the advisory lock keys; empty on SQLite.
	currentSchema(ctx context.Context, db *sql.DB) (string, error)
	// shared says whether several hogpipe processes may use the database
	// at once: then writes take advisory locks (xactLock), the training
	// file's writer holds a session lock (Leader), replicas agree on a
	// protocol (compat.go), migrations take turns and secrets live in the
	// database. On SQLite the data directory's lock makes one process the
	// only one.
	shared() bool
	// remote says whether the database is a server across a connection,
	// which can stall: group commits get a deadline (Options.CommitTimeout).
	// SQLite's waits are bounded by its busy timeout instead.
	remote() bool
	// rendersExports says whether export lines are rendered in SQL
	// (examples.go's fast paths, written for SQLite's json_object).
	rendersExports() bool
}

// sqliteDialect is SQLite's: the spelling the store's SQL is written in.
type sqliteDialect struct{}

func (sqliteDialect) name() string                { return "sqlite" }
func (sqliteDialect) gooseDialect() goose.Dialect { return goose.DialectSQLite3 }
func (sqliteDialect) rebind(q string) string      { return q }

// jsonText reads the member with ->> (SQLite 3.38), which takes a bare
// label as an object key. SQLite's replace() cannot replace U+0000 once
// decoded (it takes a pattern starting with a zero byte for an empty one),
// so the escape is replaced in the JSON text, as on PostgreSQL.
func (sqliteDialect) jsonText(col, key string) string {
	return `(` + nulEscapeAsFFFD(col, "char") + ` ->> '` + checkJSONKey(key) + `')`
}

func (sqliteDialect) lockRows(bool) string                                   { return "" }
func (sqliteDialect) xactLock(context.Context, *sql.Tx, int64) error         { return nil }
func (sqliteDialect) currentSchema(context.Context, *sql.DB) (string, error) { return "", nil }
func (sqliteDialect) shared() bool                                           { return false }
func (sqliteDialect) remote() bool                                           { return false }
func (sqliteDialect) rendersExports() bool                                   { return true }

func (sqliteDialect) tableExists() string {
	return `SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?`
}

// postgresDialect is PostgreSQL's. Its rebind results are cached: the
// same few queries are rebound again and again.
type postgresDialect struct {
	cache *sync.Map // SQLite spelling → PostgreSQL's
}

func newPostgresDialect() postgresDialect { return postgresDialect{cache: new(sync.Map)} }

func (postgresDialect) name() string                { return "postgres" }
func (postgresDialect) gooseDialect() goose.Dialect { return goose.DialectPostgres }

// rebind turns each ? outside a string literal into $1, $2, ….
func (d postgresDialect) rebind(q string) string {
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
	out := b.String()
	d.cache.Store(q, out)
	return out
}

// jsonText reads the column as json, not jsonb: a jsonb cast refuses the
// whole value for a \u0000 escape anywhere in it or a number beyond
// numeric's range, and one such line (stored before those were refused
// at the door, or imported) would fail every query over the table. json
// only checks the syntax, and de-escapes just the member read — which
// still fails on \u0000, hence nulEscapeAsFFFD.
func (postgresDialect) jsonText(col, key string) string {
	return `(` + nulEscapeAsFFFD(col, "chr") + `::json ->> '` + checkJSONKey(key) + `')`
}

func (postgresDialect) lockRows(skipLocked bool) string {
	if skipLocked {
		return " FOR UPDATE SKIP LOCKED"
	}
	return " FOR UPDATE"
}

func (postgresDialect) xactLock(ctx context.Context, tx *sql.Tx, key int64) error {
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, key)
	return err
}

func (postgresDialect) tableExists() string { return `SELECT to_regclass(?) IS NOT NULL` }

func (postgresDialect) currentSchema(ctx context.Context, db *sql.DB) (string, error) {
	var schema string
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return "", fmt.Errorf("read the current schema: %w", err)
	}
	return schema, nil
}

func (postgresDialect) shared() bool         { return true }
func (postgresDialect) remote() bool         { return true }
func (postgresDialect) rendersExports() bool { return false }

// nulEscapeAsFFFD is the SQL expression turning every \u0000 escape in
// the JSON text in col into \ufffd, so that a member read from it holds
// U+FFFD where the JSON holds U+0000 (PostgreSQL's text cannot hold it;
// SQLite's can, but the dialects must agree). Escaped backslashes are set
// aside around the replace, as U+0001 (chr names the database's function
// making it), which valid JSON never holds raw: so the text \\u0000, an
// escaped backslash and "u0000", is left alone. replace() goes from left
// to right, pairing a run of backslashes as a JSON reader does.
func nulEscapeAsFFFD(col, chr string) string {
	return `replace(replace(replace(` + col + `, '\\', ` + chr + `(1)), '\u0000', '\ufffd'), ` + chr + `(1), '\\')`
}

// checkJSONKey returns key, which jsonText puts into SQL as it is: a key
// that would need quoting is a bug in the caller.
func checkJSONKey(key string) string {
	for _, c := range key {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			panic("sqlstore: JSON key " + strconv.Quote(key) + " needs quoting")
		}
	}
	if key == "" {
		panic("sqlstore: empty JSON key")
	}
	return key
}

// reader is the read pool, speaking the dialect.
type reader struct {
	*sql.DB
	d dialect
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
	return t.s.d.xactLock(t.ctx, t.Tx, t.s.locks.writes)
}

// lockRecipient serialises the frequency-cap check for one address across
// replicas, so two events for one person cannot both pass it.
func (t *txn) lockRecipient(addr string) error {
	return t.s.d.xactLock(t.ctx, t.Tx, protocolKey(t.s.locks.protocol, t.s.locks.schema, "recipient\x00"+addr))
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
	if !s.d.shared() {
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
	if !s.d.shared() {
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

// Postgres tells whether the store is on PostgreSQL, the database several
// replicas share.
func (s *Store) Postgres() bool { return s.d.shared() }
