// Package proctest runs the hogpipe binary as a child process for tests
// that need a real process: to kill it, signal it or drive it from a
// browser.
package proctest

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Proc is a running "hogpipe serve".
type Proc struct {
	Cmd *exec.Cmd
	URL string
}

// Start runs bin with args (serve's flags, after "serve --addr
// 127.0.0.1:0"), in dir when it is not empty, with env added to this
// process's environment. It returns once /healthz answers; the process is
// killed when the test ends.
func Start(t testing.TB, bin, dir string, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "hogpipe listening on "); ok {
			go io.Copy(io.Discard, stdout)
			p := &Proc{Cmd: cmd, URL: addr}
			WaitHealthy(t, p.URL)
			return p
		}
	}
	t.Fatal("hogpipe did not start")
	return nil
}

// WaitHealthy waits (up to 10 s) for url's /healthz to answer 200.
func WaitHealthy(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s/healthz never answered 200", url)
}

// Eventually retries check until it returns nil or the time is up, for
// tests that wait on another process (a server, a browser, a database).
func Eventually(t testing.TB, what string, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Need fails the test under CI, where .ci/run installs every dependency,
// and skips it elsewhere, when ok is false.
func Need(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: required under CI (.ci/run installs it)", what)
	}
	t.Skipf("%s; skipping (set CI to make this a failure)", what)
}
