package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// buildBinary builds hogpipe once per test binary run.
// It goes in binDir, which TestMain removes.
var buildBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "hogpipe")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// child is hogpipe running as a separate process.
type child struct {
	cmd *exec.Cmd
	URL string
}

func startChild(t *testing.T, dataDir, trainingFile string, extraEnv ...string) *child {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, bin, "", extraEnv, "--data-dir", dataDir, "--training-file", trainingFile, "--log-level", "warn")
	return &child{cmd: p.Cmd, URL: p.URL}
}

// TestCrashKeepsEveryAcknowledgedEvent kills the server with SIGKILL under
// concurrent load, several times. After the last restart every id that got
// a 2xx must be in training_data.jsonl exactly once, every line must parse,
// and no line may be for an id that was never sent.
func TestCrashKeepsEveryAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills the binary")
	}
	dir := t.TempDir()
	dataDir, file := filepath.Join(dir, "data"), filepath.Join(dir, "training_data.jsonl")
	var mu sync.Mutex
	acked := map[string]bool{}
	sent := map[string]bool{}
	client := &http.Client{Timeout: 5 * time.Second}

	for round := range 5 {
		c := startChild(t, dataDir, file)
		stop := underLoad(16, func(ctx context.Context, w, i int) {
			id := fmt.Sprintf("r%d-w%d-%d", round, w, i)
			mu.Lock()
			sent[id] = true
			mu.Unlock()
			req, _ := http.NewRequestWithContext(ctx, "POST", c.URL+"/api/webhooks/generation-failed",
				strings.NewReader(gfBody(id, "crash prompt "+id+" "+strings.Repeat("x", i%300))))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		})
		time.Sleep(time.Duration(300+round*150) * time.Millisecond)
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.cmd.Wait()
		stop()
	}
	if len(acked) < 100 {
		t.Fatalf("only %d events acknowledged: the load did not run", len(acked))
	}

	c := startChild(t, dataDir, file)
	// The mirror is whole before the server listens; stats confirm it.
	resp, err := http.Get(c.URL + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	lines := readLines(t, file)
	seen := map[string]int{}
	for _, l := range lines {
		id, _ := l["id"].(string)
		seen[id]++
		if !sent[id] {
			t.Errorf("line for id %q that was never sent", id)
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("id %s is in the file %d times", id, n)
		}
	}
	missing := 0
	for id := range acked {
		if seen[id] != 1 {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged id %s is not in the file", id)
			}
		}
	}
	t.Logf("%d sent, %d acknowledged, %d lines after 5 SIGKILLs; %d acknowledged missing", len(sent), len(acked), len(lines), missing)
}
