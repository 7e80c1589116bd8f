package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// TestDiskFullAnswers503 runs hogpipe with a cap on the size of the files
// it may write (RLIMIT_FSIZE, set with prlimit on the running process: to
// SQLite and the training file it looks like a full disk), fills it up, and
// then lifts the cap. While full, ingest answers 503 + Retry-After, never
// anything else, and the server keeps answering; afterwards every event is
// stored once and in the training file once, with no torn line.
func TestDiskFullAnswers503(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "training_data.jsonl")
	c := startChild(t, filepath.Join(dir, "data"), file)
	pid := strconv.Itoa(c.cmd.Process.Pid)
	// Room for a little more than what is there now.
	limit := dirSize(t, dir) + 3<<20
	if out, err := exec.Command(prlimit, "--pid", pid, "--fsize="+strconv.FormatInt(limit, 10)+":unlimited").CombinedOutput(); err != nil {
		t.Skipf("prlimit cannot set RLIMIT_FSIZE here: %v %s", err, out)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	prompt := strings.Repeat("a long prompt to fill the disk ", 300) // ~9 KB per event, twice over (event and example)
	send := func(i int) (int, string) {
		body := fmt.Sprintf(`{"event":{"uuid":"full-%d","event":"generation_failed","properties":{"input_prompt":"%s %d"}}}`, i, prompt, i)
		resp, err := client.Post(c.URL+"/api/webhooks/generation-failed", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("full-%d: %v", i, err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	var refused []int
	n := 0
	for ; n < 2000 && len(refused) < 20; n++ {
		status, retry := send(n)
		switch {
		case status == 200:
		case status == 503 && retry != "":
			refused = append(refused, n)
		default:
			t.Fatalf("full-%d while the disk fills: %d (Retry-After %q), want 200 or 503 + Retry-After", n, status, retry)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("%d events fitted under a %d-byte cap; the test did not fill the disk", n, limit)
	}
	if resp, err := client.Get(c.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("server unhealthy while the disk is full: %v", err)
	}

	if out, err := exec.Command(prlimit, "--pid", pid, "--fsize=unlimited:unlimited").CombinedOutput(); err != nil {
		t.Fatalf("lift the cap: %v %s", err, out)
	}
	// PostHog retries what was refused; now it goes in.
	proctest.Eventually(t, "refused events accepted once there is room", 15*time.Second, func() error {
		for len(refused) > 0 {
			if status, _ := send(refused[0]); status != 200 {
				return fmt.Errorf("full-%d: %d", refused[0], status)
			}
			refused = refused[1:]
		}
		return nil
	})
	proctest.Eventually(t, "one line per event in the training file", 15*time.Second, func() error {
		lines, err := readFileLines(file)
		if err != nil || lines != n {
			return fmt.Errorf("%d lines, want %d (%v)", lines, n, err)
		}
		return nil
	})
	eachOnce(t, idCounts(t, file), numbered("full", n, 1)) // fails on a torn or unparsable line
}

func dirSize(t *testing.T, dir string) int64 {
	var total int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return nil
	})
	return total
}
