package trainingfile

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hogpipe/hogpipe"
)

// memSource is an in-memory store of example lines.
type memSource struct {
	mu    sync.Mutex
	lines []hogpipe.ExampleLine
	state map[string]hogpipe.MirrorState
}

func newMem(n int) *memSource {
	m := &memSource{state: map[string]hogpipe.MirrorState{}}
	m.add(n)
	return m
}

func (m *memSource) add(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for range n {
		seq := int64(len(m.lines) + 1)
		id := fmt.Sprintf("id-%d", seq)
		m.lines = append(m.lines, hogpipe.ExampleLine{Seq: seq, ID: id,
			Line: []byte(fmt.Sprintf(`{"id":%q,"input_prompt":"prompt %d"}`+"\n", id, seq))})
	}
}

func (m *memSource) ExamplesAfter(_ context.Context, after int64, limit int) ([]hogpipe.ExampleLine, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []hogpipe.ExampleLine
	for _, l := range m.lines {
		if l.Seq > after && len(out) < limit {
			out = append(out, l)
		}
	}
	return out, nil
}

func (m *memSource) MirrorState(_ context.Context, name string) (hogpipe.MirrorState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state[name], nil
}

func (m *memSource) SetMirrorState(_ context.Context, name string, st hogpipe.MirrorState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state[name] = st
	return nil
}

func (m *memSource) want(n int) string {
	var b strings.Builder
	for _, l := range m.lines[:n] {
		b.Write(l.Line)
	}
	return b.String()
}

func openCaughtUp(t *testing.T, path string, src Source) *Mirror {
	t.Helper()
	m, err := Open(context.Background(), path, src, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CatchUp(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMirrorRecovery(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string, src *memSource)
	}{
		{"clean restart", func(*testing.T, string, *memSource) {}},
		{"torn last line", func(t *testing.T, path string, src *memSource) {
			appendTo(t, path, `{"id":"id-6","inp`) // crash mid-write of the next line
		}},
		{"lines written but watermark not recorded", func(t *testing.T, path string, src *memSource) {
			// The next two examples reached the file, then the process died.
			appendTo(t, path, string(src.lines[5].Line)+string(src.lines[6].Line))
		}},
		{"written lines then a torn one", func(t *testing.T, path string, src *memSource) {
			appendTo(t, path, string(src.lines[5].Line)+`{"id":"id-7"`)
		}},
		{"garbage after the watermark", func(t *testing.T, path string, src *memSource) {
			appendTo(t, path, "not json at all\n")
		}},
		{"file deleted", func(t *testing.T, path string, src *memSource) {
			os.Remove(path)
		}},
		{"file truncated by hand", func(t *testing.T, path string, src *memSource) {
			os.Truncate(path, 10)
		}},
		{"file replaced with other lines of the same length", func(t *testing.T, path string, src *memSource) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, []byte(strings.ReplaceAll(string(b), "prompt", "PROMPT")), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "training_data.jsonl")
			src := newMem(5)
			m := openCaughtUp(t, path, src)
			m.Close()
			src.add(5) // committed while the mirror was down
			tt.damage(t, path, src)

			openCaughtUp(t, path, src)
			got, _ := os.ReadFile(path)
			if string(got) != src.want(10) {
				t.Fatalf("file after recovery:\n%s\nwant:\n%s", got, src.want(10))
			}
		})
	}
}

func TestMirrorFollowsNewExamples(t *testing.T) {
	path := filepath.Join(t.TempDir(), "training_data.jsonl")
	src := newMem(0)
	m, err := Open(context.Background(), path, src, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	for i := range 5 {
		src.add(3)
		m.Notify()
		if err := m.WaitIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != src.want(3*(i+1)) {
			t.Fatalf("round %d: file is\n%s", i, got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := src.state[m.name]; st.Seq != 15 {
		t.Errorf("watermark %+v, want seq 15", st)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
