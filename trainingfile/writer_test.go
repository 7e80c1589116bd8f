package trainingfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// fakeLeases answers each Lead with the next answer the test sends, so
// the test decides, step by step, when the writer holds the lease.
type fakeLeases struct {
	answers chan leaseAnswer
	mu      sync.Mutex
	within  []time.Duration // what each Lead call asked for
}

type leaseAnswer struct {
	lease *fakeLease
	err   error
}

func (f *fakeLeases) Lead(ctx context.Context, within time.Duration) (Lease, error) {
	f.mu.Lock()
	f.within = append(f.within, within)
	f.mu.Unlock()
	select {
	case a := <-f.answers:
		if a.lease == nil {
			return nil, a.err
		}
		return a.lease, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// answer hands a to the writer's next Lead call.
func (f *fakeLeases) answer(t *testing.T, a leaseAnswer) {
	t.Helper()
	select {
	case f.answers <- a:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer stopped asking for the lease")
	}
}

type fakeLease struct {
	lost     chan struct{}
	released chan struct{}
	once     sync.Once
}

func newLease() *fakeLease {
	return &fakeLease{lost: make(chan struct{}), released: make(chan struct{})}
}

func (l *fakeLease) Lost() <-chan struct{} { return l.lost }
func (l *fakeLease) Release()              { l.once.Do(func() { close(l.released) }) }

func waitClosed(t *testing.T, what string, c <-chan struct{}) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never happened", what)
	}
}

func fileIs(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("file has %d bytes, want %d:\n%s", len(got), len(want), got)
	}
}

// TestWriterLeadership drives the writer through a replica's life with a
// fake lease: it takes the lead and writes, loses the lease and stops
// writing, retries after an error, leads again and catches up, and hands
// the lease back when its context ends.
func TestWriterLeadership(t *testing.T) {
	path := filepath.Join(t.TempDir(), "training_data.jsonl")
	src := newMem(3)
	leases := &fakeLeases{answers: make(chan leaseAnswer)}
	w := NewWriter(path, src, leases, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.retry = 10 * time.Millisecond

	first := newLease()
	go func() { leases.answers <- leaseAnswer{lease: first} }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done, err := w.Start(context.Background(), ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Led at start: the file is up to date before Start returns.
	fileIs(t, path, src.want(3))
	if !w.Running() {
		t.Fatal("writer not running after Start")
	}

	src.add(2)
	w.Notify()
	proctest.Eventually(t, "the writer follows new examples", 10*time.Second, func() error {
		if p := w.Position().Seq; p != 5 {
			return fmt.Errorf("position %d, want 5", p)
		}
		return nil
	})
	fileIs(t, path, src.want(5))

	// The lease is lost: the writer stops and lets go of it.
	close(first.lost)
	waitClosed(t, "release of the lost lease", first.released)
	// It tries for the lead again (waiting on the lease, as a standby
	// does) and is refused: it must not write meanwhile.
	leases.answer(t, leaseAnswer{})
	src.add(2)
	w.Notify()
	leases.answer(t, leaseAnswer{err: errors.New("database away")})
	fileIs(t, path, src.want(5))
	if !w.Running() {
		t.Fatal("standby loop ended after an error; it must retry")
	}

	// After the error it retries, leads again and catches up.
	second := newLease()
	leases.answer(t, leaseAnswer{lease: second})
	proctest.Eventually(t, "the new writer catches up", 10*time.Second, func() error {
		if p := w.Position().Seq; p != 7 {
			return fmt.Errorf("position %d, want 7", p)
		}
		return nil
	})
	fileIs(t, path, src.want(7))

	// Context ends: the lease is handed off and the loop reports no error.
	cancel()
	waitClosed(t, "hand-off on context end", second.released)
	if err := <-done; err != nil {
		t.Fatalf("writer ended with %v", err)
	}
	if w.Running() {
		t.Fatal("writer still running after its context ended")
	}
	select {
	case <-first.released:
	default:
		t.Fatal("first lease never released")
	}

	leases.mu.Lock()
	defer leases.mu.Unlock()
	if leases.within[0] != 0 {
		t.Errorf("start waited %v for the lease; it must only try once", leases.within[0])
	}
	for i, d := range leases.within[1:] {
		if d == 0 {
			t.Errorf("standby call %d tried once; a shared standby waits on the lease", i+1)
		}
	}
}

// TestWriterStandbyStops: a process that never gets the lease keeps
// trying until its context ends, then stops without having written.
func TestWriterStandbyStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "training_data.jsonl")
	src := newMem(2)
	leases := &fakeLeases{answers: make(chan leaseAnswer)}
	w := NewWriter(path, src, leases, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go func() { leases.answers <- leaseAnswer{} }()
	ctx, cancel := context.WithCancel(context.Background())
	done, err := w.Start(context.Background(), ctx)
	if err != nil {
		t.Fatal(err)
	}
	leases.answer(t, leaseAnswer{}) // the standby asked again and was refused
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("standby ended with %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a standby created the file (stat: %v)", err)
	}
}
