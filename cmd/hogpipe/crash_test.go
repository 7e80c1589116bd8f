package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// The failure tests: hogpipe as a separate process (processTest,
// startChild) killed, signalled, starved of disk or cut off its database;
// nothing it acknowledged may be lost or written twice.

// TestCrashKeepsEveryAcknowledgedEvent kills the server with SIGKILL under
// concurrent load, several times. After the last restart every id that got
// a 2xx must be in training_data.jsonl exactly once, every line must parse,
// and no line may be for an id that was never sent.
func TestCrashKeepsEveryAcknowledgedEvent(t *testing.T) {
	dir, file := processTest(t, "crash test builds and kills the binary")
	dataDir := filepath.Join(dir, "data")
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

// TestGracefulShutdown sends SIGTERM to hogpipe under load: it must exit 0
// within the bound, every request that got a 2xx must be in the store and
// the file, and requests after the signal must be refused cleanly
// (connection refused, or 503 while draining), never half-answered.
func TestGracefulShutdown(t *testing.T) {
	dir, file := processTest(t, "builds and signals the binary")
	dataDir := filepath.Join(dir, "data")
	c := startChild(t, dataDir, file)
	client := &http.Client{Timeout: 5 * time.Second}
	var mu sync.Mutex
	acked := map[string]bool{}
	var badAfter []string
	var signalled time.Time
	stop := underLoad(16, func(_ context.Context, w, i int) {
		id := fmt.Sprintf("g-%d-%d", w, i)
		resp, err := client.Post(c.URL+"/api/webhooks/generation-failed", "application/json", strings.NewReader(gfBody(id, "p")))
		if err != nil {
			return // refused or reset: the client retries, nothing was acknowledged
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		mu.Lock()
		switch {
		case resp.StatusCode == 200:
			acked[id] = true
		case resp.StatusCode != 503:
			badAfter = append(badAfter, fmt.Sprintf("%s: %d", id, resp.StatusCode))
		}
		mu.Unlock()
	})
	time.Sleep(500 * time.Millisecond)
	signalled = time.Now()
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v (want status 0)", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not exit within 15 s of SIGTERM")
	}
	took := time.Since(signalled)
	time.Sleep(100 * time.Millisecond) // requests after exit: refused
	stop()
	if len(badAfter) > 0 {
		t.Errorf("requests answered with something other than 200/503: %v", badAfter[:min(5, len(badAfter))])
	}
	if len(acked) < 50 {
		t.Fatalf("only %d acknowledged before the signal", len(acked))
	}
	// Without restarting: the file must already hold everything.
	eachOnce(t, idCounts(t, file), slices.Collect(maps.Keys(acked)))
	t.Logf("%d acknowledged; exited %v after SIGTERM", len(acked), took.Round(time.Millisecond))
}

// TestDiskFullAnswers503 runs hogpipe with a cap on the size of the files
// it may write (RLIMIT_FSIZE, set with prlimit on the running process: to
// SQLite and the training file it looks like a full disk), fills it up, and
// then lifts the cap. While full, ingest answers 503 + Retry-After, never
// anything else, and the server keeps answering; afterwards every event is
// stored once and in the training file once, with no torn line.
func TestDiskFullAnswers503(t *testing.T) {
	dir, file := processTest(t, "runs a child process")
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
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

// TestEmailCrashLosesNothing kills hogpipe with SIGKILL during a burst of
// sends. After a restart every queued email must be sent; a duplicate is
// possible only for an email Mailgun accepted just before the kill, so at
// most one per worker (32 by default) per crash.
func TestEmailCrashLosesNothing(t *testing.T) {
	dir, file := processTest(t, "crash test builds and kills the binary")
	dataDir := filepath.Join(dir, "data")
	mg := newMailgun(t)
	mg.Always(&mailguntest.Response{Delay: 5 * time.Millisecond})
	// No send limits: a burst of 400 to one domain.
	env := mailProcEnv(mg.URL, "HOGPIPE_EMAIL_BACKOFF=20ms", "HOGPIPE_EMAIL_TIMEOUT=2s")

	const n = 400
	c := startChild(t, dataDir, file, env...)
	var batch []string
	for i := range n {
		batch = append(batch, fmt.Sprintf(`{"event":"feature_used","uuid":"crash-%d","person":{"properties":{"email":"u%d@example.com"}}}`, i, i))
	}
	resp, err := http.Post(c.URL+"/api/webhooks/posthog", "application/json", strings.NewReader("["+strings.Join(batch, ",")+"]"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("burst not acknowledged: %v %v", err, resp)
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(mg.Messages()) < n/4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
	before := len(mg.Messages())
	if before >= n {
		t.Fatalf("all %d sent before the kill: the crash tested nothing", before)
	}

	c = startChild(t, dataDir, file, env...)
	proctest.Eventually(t, "all sent after restart", 30*time.Second, func() error {
		var st struct {
			Emails map[string]int64 `json:"emails_by_state"`
		}
		r, err := http.Get(c.URL + "/api/stats")
		if err == nil {
			json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
		}
		if st.Emails["sent"] != n {
			return fmt.Errorf("by state: %v", st.Emails)
		}
		return nil
	})
	perEvent := map[string]int{}
	for _, m := range mg.Messages() {
		perEvent[m.Vars["hogpipe-event-id"]]++
	}
	dups := 0
	for i := range n {
		switch k := perEvent[fmt.Sprintf("crash-%d", i)]; {
		case k == 0:
			t.Errorf("crash-%d was never sent", i)
		case k > 1:
			dups += k - 1
		}
	}
	if dups > 32 {
		t.Errorf("%d duplicate sends after one crash; at most 32 (one per worker) can be explained", dups)
	}
	t.Logf("%d sent before the kill, %d messages in all, %d duplicates", before, len(mg.Messages()), dups)
}

// TestPostgresOutage cuts a replica off its database (every connection
// closed, new ones refused) under load, then lets it back. While cut, ingest
// answers 503 + Retry-After and /readyz fails; nothing acknowledged is lost,
// and once the database is back every event the client retried is stored
// once and the training file catches up, as docs/deploy.md says.
func TestPostgresOutage(t *testing.T) {
	// Refused: connections closed, new ones refused (the server is down).
	t.Run("refused", func(t *testing.T) { outage(t, (*tcpProxy).cut) })
	// Stalled: bytes stop flowing and nothing is closed (a network
	// partition); the commit timeout turns the wait into 503s.
	t.Run("stalled", func(t *testing.T) { outage(t, (*tcpProxy).stall) })
}

func outage(t *testing.T, breakIt func(*tcpProxy)) {
	dir, file := processTest(t, "runs a replica")
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	px := startTCPProxy(t, u.Host)
	u.Host = px.addr
	rep := startChild(t, filepath.Join(dir, "data"), file, "DATABASE_URL="+u.String(), "HOGPIPE_COMMIT_TIMEOUT=2s")
	client := &http.Client{Timeout: 10 * time.Second}
	postOnce := func(i int) (int, string) {
		body := fmt.Sprintf(`{"event":{"uuid":"out-%d","event":"generation_failed","properties":{"input_prompt":"outage %d"}}}`, i, i)
		resp, err := client.Post(rep.URL+"/api/webhooks/generation-failed", "application/json", strings.NewReader(body))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	const n = 300
	var acked, refused atomic.Int64
	var mu sync.Mutex
	var odd []string
	// Each client retries its event until it is acknowledged, as PostHog
	// does, and the outage comes and goes in the middle.
	jobs, wait := pool(8, func(i int) {
		for {
			status, retry := postOnce(i)
			if status == 200 {
				acked.Add(1)
				return
			}
			if status == 503 && retry != "" {
				refused.Add(1)
			} else {
				mu.Lock()
				odd = append(odd, fmt.Sprintf("out-%d: %d %q", i, status, retry))
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	for i := range n {
		if i == n/3 {
			breakIt(px)
			// While cut: not ready, and new events are refused with 503.
			proctest.Eventually(t, "readyz fails while the database is away", 15*time.Second, func() error {
				return statusIs(rep.URL+"/readyz", 503)
			})
			proctest.Eventually(t, "ingest refused with 503 + Retry-After", 15*time.Second, func() error {
				if refused.Load() == 0 {
					return fmt.Errorf("no 503 yet")
				}
				return nil
			})
			time.Sleep(time.Second)
			px.restore()
		}
		jobs <- i
	}
	close(jobs)
	wait()
	if len(odd) > 0 {
		t.Errorf("answers other than 200 or 503 + Retry-After: %v", odd[:min(5, len(odd))])
	}
	t.Logf("%d acknowledged, %d refused with 503 during the outage", acked.Load(), refused.Load())

	proctest.Eventually(t, "every event stored once and mirrored", 30*time.Second, func() error {
		lines, _ := readFileLines(file)
		var st struct {
			Events int64 `json:"events"`
		}
		if r, err := http.Get(rep.URL + "/api/stats"); err == nil {
			json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
		}
		if st.Events != n || lines != n {
			return fmt.Errorf("%d events stored, %d lines (want %d each)", st.Events, lines, n)
		}
		return nil
	})
	eachOnce(t, idCounts(t, file), numbered("out", n, 1))
}

// TestMirrorWriterLosesItsLock kills the database session that holds the
// training file's writer lock (as idle_session_timeout or an operator's
// pg_terminate_backend would) while the replica itself lives on and two
// replicas take load. Another replica takes over; the old writer must stop
// appending before it does, so the file still holds each example once.
func TestMirrorWriterLosesItsLock(t *testing.T) {
	dir, file := processTest(t, "runs two replicas")
	dbURL := pgtest.URL(t)
	db := openPG(t, dbURL)
	reps := []*child{
		startChild(t, filepath.Join(dir, "data0"), file, "DATABASE_URL="+dbURL),
		startChild(t, filepath.Join(dir, "data1"), file, "DATABASE_URL="+dbURL),
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var next, acked atomic.Int64
	// Each event is retried until acknowledged, even after stop.
	stop := underLoad(8, func(_ context.Context, w, _ int) {
		i := next.Add(1)
		body := fmt.Sprintf(`{"event":{"uuid":"lock-%d","event":"generation_failed","properties":{"input_prompt":"lock %d"}}}`, i, i)
		for {
			resp, err := client.Post(reps[w%2].URL+"/api/webhooks/generation-failed", "application/json", strings.NewReader(body))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.Add(1)
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	killed := 0
	for range 4 {
		time.Sleep(1500 * time.Millisecond)
		res, err := db.Exec(`SELECT pg_terminate_backend(pid) FROM pg_locks
			WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND ((classid::bigint << 32) | objid::bigint) = $1`, sqlstore.MirrorLockKey(schemaOf(t, dbURL)))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := res.RowsAffected()
		killed += int(n)
	}
	if killed == 0 {
		t.Fatal("never found the session holding the training file's writer lock")
	}
	time.Sleep(time.Second)
	stop()
	proctest.Eventually(t, "the file catches up", 30*time.Second, func() error {
		lines, _ := readFileLines(file)
		if int64(lines) < acked.Load() {
			return fmt.Errorf("%d lines, %d acknowledged", lines, acked.Load())
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // a late duplicate would land now
	seen := idCounts(t, file)
	dups := 0
	for id, k := range seen {
		if k != 1 {
			dups++
			if dups <= 5 {
				t.Errorf("%s is in the training file %d times", id, k)
			}
		}
	}
	if int64(len(seen)) != acked.Load() {
		t.Errorf("%d distinct examples in the file, %d events acknowledged", len(seen), acked.Load())
	}
	t.Logf("%d events acknowledged, %d writer sessions terminated, %d duplicated lines", acked.Load(), killed, dups)
}

// tcpProxy forwards connections to a target until cut, which closes every
// connection and refuses new ones until restore.
type tcpProxy struct {
	addr    string
	target  string
	mu      sync.Mutex
	down    bool
	stalled atomic.Bool
	conns   map[net.Conn]bool
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{addr: l.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			if !down {
				p.conns[c] = true
			}
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *tcpProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { p.copy(up, c); up.Close() }()
	p.copy(c, up)
	c.Close()
}

// copy forwards bytes, dropping them while the proxy is stalled.
func (p *tcpProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// stall stops forwarding without closing anything.
func (p *tcpProxy) stall() { p.stalled.Store(true) }

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// restore lets connections through again. Those open during a stall
// lost bytes, so they are closed: the client reconnects.
func (p *tcpProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled.Swap(false) {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
	p.down = false
}

// schemaOf is the schema a pgtest URL puts the store in.
func schemaOf(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	s := u.Query().Get("search_path")
	if s == "" {
		t.Fatalf("no search_path in %s", dbURL)
	}
	return s
}
