package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// testServer is a hogpipe started through run, as main starts it.
type testServer struct {
	URL          string
	DataDir      string
	TrainingFile string
	stop         func()
	logs         *proctest.Buffer
}

// Logs is what the server has logged so far.
func (ts *testServer) Logs() string {
	return ts.logs.String()
}

// startServer runs "hogpipe serve" on a free port with a fresh data
// directory and waits until /healthz answers.
func startServer(t testing.TB, env map[string]string, args ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{DataDir: filepath.Join(dir, "data"), TrainingFile: filepath.Join(dir, "training_data.jsonl")}
	return restartServer(t, ts, env, args...)
}

// restartServer starts a server on an existing data directory.
func restartServer(t testing.TB, ts *testServer, env map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	ts.logs = newLog()
	argv := append([]string{"hogpipe", "serve", "--addr", "127.0.0.1:0", "--data-dir", ts.DataDir,
		"--training-file", ts.TrainingFile, "--log-level", "warn"}, args...)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, argv, getenv, pw, ts.logs)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	url := ""
	for lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "hogpipe listening on "); ok {
			url = a
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		cancel()
		t.Fatalf("server did not start: %v\n%s", <-done, ts.Logs())
	}
	ts.URL = url
	stopped := false
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve exited with %v", err)
		}
	}
	t.Cleanup(ts.stop)
	waitHealthy(t, ts.URL)
	return ts
}

func waitHealthy(t testing.TB, url string) { proctest.WaitHealthy(t, url) }

// underLoad calls send from workers goroutines, each with its worker
// number and its own counter, until stop, which cancels ctx and waits for
// them. The load tests differ only in what send does and records.
func underLoad(workers int, send func(ctx context.Context, w, i int)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				send(ctx, w, i)
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// newLog is a log buffer the goroutines of a server or a child process's
// output can share.
func newLog() *proctest.Buffer { return &proctest.Buffer{} }

// needBinary builds the hogpipe binary for a test that runs it as a
// separate process, and skips that test under -short.
func needBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

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

// processTest skips t under -short, saying what it runs, and gives it a
// fresh directory and the path of a training file in it: the set-up of
// every test that runs hogpipe as separate processes.
func processTest(t *testing.T, runs string) (dir, trainingFile string) {
	t.Helper()
	if testing.Short() {
		t.Skip(runs)
	}
	dir = t.TempDir()
	return dir, filepath.Join(dir, "training_data.jsonl")
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

// waitLogged waits until logs() contains want.
func waitLogged(t *testing.T, what string, logs func() string, want string) {
	t.Helper()
	proctest.Eventually(t, what, 60*time.Second, func() error {
		if !strings.Contains(logs(), want) {
			return fmt.Errorf("%q not logged yet", want)
		}
		return nil
	})
}

// response is a decoded JSON answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
}

func post(t testing.TB, url, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// Like any script of hogpipe's own page or curl with -H: local,
	// unauthenticated writes must be JSON (server/crosssite.go).
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

func get(t testing.TB, url string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(b, &r.Body); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object (%v): %q", req.Method, req.URL, err, b)
	}
	return r
}

// trainingLines waits until the mirror has caught up with the store and
// returns the file's lines, each parsed.
func (ts *testServer) trainingLines(t *testing.T) []map[string]any {
	t.Helper()
	proctest.Eventually(t, "training file caught up", 10*time.Second, func() error {
		st := get(t, ts.URL+"/api/stats")
		if st.Body["training_file_lag"] != float64(0) {
			return fmt.Errorf("still behind: %v", st.Body)
		}
		return nil
	})
	return readLines(t, ts.TrainingFile)
}

func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if len(b) == 0 {
		return out
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("%s does not end with a newline: torn last line", path)
	}
	for i, line := range bytes.Split(b[:len(b)-1], []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s line %d does not parse: %v: %q", path, i+1, err, line)
		}
		out = append(out, m)
	}
	return out
}

// idCounts reads the training file's lines (failing the test on a torn
// or unparsable one) and counts the lines of each id.
func idCounts(t *testing.T, file string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, l := range readLines(t, file) {
		id, _ := l["id"].(string)
		seen[id]++
	}
	return seen
}

// eachOnce fails the test for every id of ids that seen (from idCounts)
// does not count exactly once.
func eachOnce(t *testing.T, seen map[string]int, ids []string) {
	t.Helper()
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("%s is in the training file %d times", id, seen[id])
		}
	}
}

// numbered is the ids prefix-0, prefix-step, prefix-2*step, ... below n.
func numbered(prefix string, n, step int) []string {
	var ids []string
	for i := 0; i < n; i += step {
		ids = append(ids, fmt.Sprintf("%s-%d", prefix, i))
	}
	return ids
}

func (ts *testServer) stats(t testing.TB) map[string]any {
	t.Helper()
	return get(t, ts.URL+"/api/stats").Body
}
