package trainingfile

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

// leasedMem is an in-memory Store whose lease the test decides: held
// elsewhere (lease nil) or granted; it counts rewrites.
type leasedMem struct {
	*memSource
	lease    *fakeLease
	rewrites int
}

func (m *leasedMem) Lead(context.Context, time.Duration) (Lease, error) {
	if m.lease == nil {
		return nil, nil
	}
	return m.lease, nil
}

func (m *leasedMem) RewriteExamples(context.Context, *hogpipe.TrainingPolicy) (int64, error) {
	m.rewrites++
	return int64(len(m.lines)), nil
}

// Rerender never rewrites while another process holds the writer's lease
// (a serve writing the file); with the lease it rewrites the stored lines
// and the file, and gives the lease back.
func TestRerenderNeedsTheLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "training_data.jsonl")
	held := &leasedMem{memSource: newMem(3)}
	err := Rerender(context.Background(), path, held, &hogpipe.TrainingPolicy{}, io.Discard, io.Discard)
	if err == nil || held.rewrites != 0 {
		t.Fatalf("lease held elsewhere: err %v, %d rewrites", err, held.rewrites)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the file was touched: %v", err)
	}

	free := &leasedMem{memSource: newMem(3), lease: newLease()}
	var out bytes.Buffer
	if err := Rerender(context.Background(), path, free, &hogpipe.TrainingPolicy{}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	fileIs(t, path, free.want(3))
	waitClosed(t, "lease release", free.lease.released)
	if free.rewrites != 1 || !strings.Contains(out.String(), "rewrote 3 examples") {
		t.Errorf("%d rewrites, said %q", free.rewrites, out.String())
	}
}

// Importing the training file a running serve keeps adds nothing and
// never opens the file for writing: the serve adopted it at start (or, if
// it has not, the user is told to stop it first).
func TestImportLiveWhileServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "training_data.jsonl")
	if err := os.WriteFile(path, []byte(`{"a":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for _, running := range []bool{true, false} {
		st := &leasedMem{memSource: newMem(1)} // lease held elsewhere
		err := ImportLive(context.Background(), path, st, running, io.Discard, log)
		if err == nil || !strings.Contains(err.Error(), "has not adopted it") {
			t.Errorf("running %v, not adopted: %v", running, err)
		}
		st.state[path] = hogpipe.MirrorState{Seq: 1, Bytes: 8}
		var out bytes.Buffer
		if err := ImportLive(context.Background(), path, st, running, &out, log); err != nil || !strings.Contains(out.String(), "nothing imported") {
			t.Errorf("running %v, adopted: %v, said %q", running, err, out.String())
		}
	}
	fileIs(t, path, `{"a":1}`+"\n")
}
