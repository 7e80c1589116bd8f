package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
	"github.com/hogpipe/hogpipe/mailgun"
	"github.com/hogpipe/hogpipe/outbox"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// finishHook wraps the store's FinishEmail: tests use it to make recording
// an outcome fail for a moment, the way a locked database does.
type finishHook struct {
	*sqlstore.Store
	calls  atomic.Int32
	around func(call int, email hogpipe.Email, finish func() (bool, error)) (bool, error)
}

func (h *finishHook) FinishEmail(ctx context.Context, claimed hogpipe.Email, out hogpipe.EmailOutcome) (bool, error) {
	n := int(h.calls.Add(1))
	return h.around(n, claimed, func() (bool, error) { return h.Store.FinishEmail(ctx, claimed, out) })
}

// lockedBackend is a store and a way to hold a real lock on it from
// another connection, so the store's next write fails.
type lockedBackend struct {
	name string
	open func(t *testing.T) (*sqlstore.Store, func(t *testing.T, emailID int64) (release func()))
}

func lockedBackends() []lockedBackend {
	pol := &hogpipe.EmailPolicy{Events: []string{hogpipe.EventFeatureUsed}}
	return []lockedBackend{
		{"sqlite", func(t *testing.T) (*sqlstore.Store, func(*testing.T, int64) func()) {
			path := filepath.Join(t.TempDir(), "hogpipe.db")
			// A short busy timeout: the locked write fails quickly.
			s, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.Options{Email: pol, BusyTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, func(t *testing.T, _ int64) func() {
				db, err := sql.Open("sqlite", "file:"+path)
				if err != nil {
					t.Error(err)
					return func() {}
				}
				conn, err := db.Conn(context.Background())
				if err == nil {
					_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
				}
				if err != nil {
					t.Errorf("lock the database: %v", err)
				}
				return func() {
					conn.ExecContext(context.Background(), "ROLLBACK")
					conn.Close()
					db.Close()
				}
			}
		}},
		{"postgres", func(t *testing.T) (*sqlstore.Store, func(*testing.T, int64) func()) {
			url := pgtest.URL(t)
			// A short commit timeout: the write that waits on the row lock
			// is given up quickly.
			s, err := sqlstore.OpenPostgres(context.Background(), url, sqlstore.Options{Email: pol, CommitTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s, func(t *testing.T, id int64) func() {
				db, err := sql.Open("pgx", url)
				if err != nil {
					t.Error(err)
					return func() {}
				}
				tx, err := db.Begin()
				if err == nil {
					_, err = tx.Exec(`SELECT id FROM emails WHERE id = $1 FOR UPDATE`, id)
				}
				if err != nil {
					t.Errorf("lock the email's row: %v", err)
				}
				return func() {
					tx.Rollback()
					db.Close()
				}
			}
		}},
	}
}

// TestOutcomeRecordedDespiteAMomentOfStoreTrouble: an email Mailgun
// accepted must be recorded sent even when the store cannot take the
// outcome at the first try; otherwise the row stays sending, its lease
// expires and the email goes out again. Real stores, real locks, the real
// mailgun-go client against a local Mailgun.
func TestOutcomeRecordedDespiteAMomentOfStoreTrouble(t *testing.T) {
	for _, b := range lockedBackends() {
		t.Run(b.name, func(t *testing.T) {
			cases := []struct {
				name   string
				around func(lock func(*testing.T, int64) func()) func(int, hogpipe.Email, func() (bool, error)) (bool, error)
			}{
				{"database locked during the first write", func(lock func(*testing.T, int64) func()) func(int, hogpipe.Email, func() (bool, error)) (bool, error) {
					return func(call int, e hogpipe.Email, finish func() (bool, error)) (bool, error) {
						if call == 1 {
							release := lock(t, e.ID)
							defer release()
							ok, err := finish()
							if err == nil {
								t.Errorf("the write under a held lock succeeded (ok=%v): the test locks nothing", ok)
							}
							return ok, err
						}
						return finish()
					}
				}},
				{"first write committed but its caller gave up", func(func(*testing.T, int64) func()) func(int, hogpipe.Email, func() (bool, error)) (bool, error) {
					return func(call int, e hogpipe.Email, finish func() (bool, error)) (bool, error) {
						ok, err := finish()
						if call == 1 && err == nil && ok {
							return false, &hogpipe.Error{Code: hogpipe.EUnavailable, Message: "store cannot commit in time", Err: context.DeadlineExceeded}
						}
						return ok, err
					}
				}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					store, lock := b.open(t)
					testOutcomeRecorded(t, store, c.around(lock))
				})
			}
		})
	}
}

func testOutcomeRecorded(t *testing.T, store *sqlstore.Store, around func(int, hogpipe.Email, func() (bool, error)) (bool, error)) {
	ctx := context.Background()
	mg := mailguntest.New("key-123", "mg.example.com")
	defer mg.Close()
	sender, err := mailgun.New(mailgun.Config{APIKey: "key-123", Domain: "mg.example.com", APIBase: mg.URL})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, err = store.Ingest(ctx, []hogpipe.Event{{
		UUID: "0190b0e6-0000-7000-8000-00000000e001", Name: hogpipe.EventFeatureUsed, DistinctID: "u1",
		Timestamp: now, ReceivedAt: now, Source: hogpipe.SourceWebhook, Trusted: true, // through an authenticated webhook
		Properties: map[string]any{"feature": "export"}, Person: map[string]any{"email": "u1@example.com"},
	}})
	if err != nil {
		t.Fatal(err)
	}

	var logs proctest.Buffer
	hooked := &finishHook{Store: store, around: around}
	// A short send timeout makes the lease short (2×timeout + 5 s): on
	// code that gives up recording, the duplicate shows within seconds.
	w := outbox.New(outbox.Config{Workers: 1, Timeout: 500 * time.Millisecond, Poll: 50 * time.Millisecond, From: "hogpipe <noreply@mg.example.com>"},
		hooked, sender, slog.New(slog.NewTextHandler(&logs, nil)))
	var outcomes sync.Map
	w.OnOutcome = func(s hogpipe.EmailState) {
		n, _ := outcomes.LoadOrStore(s, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	defer stop()

	proctest.Eventually(t, "the email recorded sent", 30*time.Second, func() error {
		m, err := store.EmailForEvent(ctx, "0190b0e6-0000-7000-8000-00000000e001")
		if err != nil {
			return err
		}
		if m == nil || m.State != hogpipe.EmailSent {
			return errors.New("not sent yet")
		}
		return nil
	})
	stop()

	if n := mg.Requests(); n != 1 {
		t.Errorf("Mailgun got %d requests for one email; want 1", n)
	}
	msgs := mg.Messages()
	m, _ := store.EmailForEvent(ctx, "0190b0e6-0000-7000-8000-00000000e001")
	if len(msgs) != 1 || m.MessageID != msgs[0].ID || m.Attempts != 1 {
		t.Errorf("recorded %+v; Mailgun accepted %d messages (%+v)", m, len(msgs), msgs)
	}
	if n, _ := outcomes.Load(hogpipe.EmailSent); n == nil || n.(*atomic.Int32).Load() != 1 {
		t.Errorf("outcome sent reported %v times; want once", n)
	}
	if hooked.calls.Load() < 2 {
		t.Errorf("FinishEmail called %d times; the first try should have failed and been retried", hooked.calls.Load())
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("the retry was not logged:\n%s", logs.String())
	}
}
