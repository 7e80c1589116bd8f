package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// replica is a hogpipe binary run with its log kept, for the tests of how
// replicas start, stop and upgrade.
type replica struct {
	name   string
	cmd    *exec.Cmd
	log    *proctest.Buffer
	url    chan string // the "listening" line's address, once ready
	exited chan struct{}
	err    error // how it exited, after exited is closed
	URL    string
}

// launch starts bin serve without waiting for it to be ready.
func launch(t *testing.T, name, bin string, env []string, args ...string) *replica {
	t.Helper()
	r := &replica{name: name, log: newLog(), url: make(chan string, 1), exited: make(chan struct{})}
	r.cmd = exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "info"}, args...)...)
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stderr = r.log
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "hogpipe listening on "); ok {
				r.url <- a
			}
		}
		r.err = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Kill()
		<-r.exited
		if t.Failed() {
			t.Logf("log of %s:\n%s", r.name, r.Logs())
		}
	})
	return r
}

// ready waits for the replica to say it listens and for /readyz.
func (r *replica) ready(t *testing.T) *replica {
	t.Helper()
	select {
	case r.URL = <-r.url:
	case <-r.exited:
		t.Fatalf("%s exited before it was ready (%v):\n%s", r.name, r.err, r.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready after 60 s:\n%s", r.name, r.Logs())
	}
	proctest.Eventually(t, r.name+" /readyz", 30*time.Second, func() error { return statusIs(r.URL+"/readyz", 200) })
	return r
}

// stop sends SIGTERM and waits for the process to end.
func (r *replica) stop(t *testing.T) error {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s still running 60 s after SIGTERM", r.name)
	}
	return r.err
}

// waitExit waits for the process to end, failing the test with
// stillRunning if it has not within d.
func (r *replica) waitExit(t *testing.T, d time.Duration, stillRunning string) {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(d):
		t.Fatal(stillRunning)
	}
}

// procExitCode is the exit code a process's Wait error stands for: 0 for nil,
// -1 if the process did not exit by itself (or could not be run).
func procExitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

func (r *replica) Logs() string {
	return r.log.String()
}

// openPG opens the PostgreSQL database at url, closed when the test ends.
func openPG(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pool calls do from workers goroutines with each number sent on jobs;
// close jobs, then wait for the calls to end.
func pool(workers int, do func(i int)) (jobs chan<- int, wait func()) {
	c := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range c {
				do(i)
			}
		}()
	}
	return c, wg.Wait
}

func statusIs(url string, want int) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s answered %d, want %d", url, resp.StatusCode, want)
	}
	return nil
}

// TestReplicasStartTogether starts three replicas at the same instant on
// an empty schema, ten times: every one must come up ready. Before goose's
// session locker serialised migrations (56144a1), some rounds lost one or
// two replicas to "duplicate key value violates unique constraint
// pg_type_typname_nsp_index" (concurrent CREATE TABLEs).
func TestReplicasStartTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("starts thirty processes")
	}
	bin := needBinary(t)
	waited := 0
	for round := range 10 {
		url := pgtest.URL(t)
		dir := t.TempDir()
		env := []string{"DATABASE_URL=" + url}
		var reps []*replica
		for i := range 3 {
			reps = append(reps, launch(t, fmt.Sprintf("round %d replica %d", round, i), bin, env,
				replicaDirs(dir, fmt.Sprint(i))...))
		}
		for _, r := range reps {
			r.ready(t)
			if strings.Contains(r.Logs(), "waiting for another replica to finish migrating") {
				waited++
			}
		}
		for _, r := range reps {
			if err := r.stop(t); err != nil {
				t.Fatalf("%s exited with %v", r.name, err)
			}
		}
	}
	t.Logf("10 rounds of 3 replicas all ready; %d replicas logged that they waited for another's migration", waited)
}

// TestMigrationWaitIsNotReady holds the migration lock as a migrating
// replica would: a replica started meanwhile says in its log that it
// waits, answers /healthz 200 and /readyz 503 naming the wait, and becomes
// ready once the lock is released; one stopped while it waits exits 0. On
// 56144a1 a replica did not listen at all before it had migrated.
func TestMigrationWaitIsNotReady(t *testing.T) {
	bin := needBinary(t)
	url := pgtest.URL(t)
	db := openPG(t, url)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var schema string
	if err := conn.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, sqlstore.MigrateLockKey(schema)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := launch(t, "waiting replica", bin, []string{"DATABASE_URL=" + url}, replicaDirs(dir, "data")...)
	var addr string
	proctest.Eventually(t, "the waiting log line", 30*time.Second, func() error {
		if !strings.Contains(r.Logs(), "waiting for another replica to finish migrating the schema") {
			return errors.New("not logged yet")
		}
		if addr = startingAddr(r); addr == "" {
			return errors.New("no address logged")
		}
		return nil
	})
	base := "http://" + addr
	if err := statusIs(base+"/healthz", 200); err != nil {
		t.Errorf("while waiting: %v", err)
	}
	ready := get(t, base+"/readyz")
	if ready.Status != 503 || !strings.Contains(fmt.Sprint(ready.Body["error"]), "waiting for another replica") || ready.Header.Get("Retry-After") == "" {
		t.Errorf("/readyz while waiting: %d %v, want 503 + Retry-After naming the wait", ready.Status, ready.Body)
	}
	if p := post(t, base+"/api/webhooks/generation-failed", gfBody("early", "too early")); p.Status != 503 {
		t.Errorf("ingest while waiting: %d %v, want 503", p.Status, p.Body)
	}
	// A replica stopped while it waits stops cleanly.
	quitter := launch(t, "replica stopped while waiting", bin, []string{"DATABASE_URL=" + url}, replicaDirs(dir, "data2")...)
	waitLogged(t, "the second replica waiting", quitter.Logs, "waiting for another replica to finish migrating the schema")
	if err := quitter.stop(t); err != nil {
		t.Errorf("SIGTERM while waiting for the migration lock: %v, want exit 0", err)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, sqlstore.MigrateLockKey(schema)); err != nil {
		t.Fatal(err)
	}
	r.ready(t)
	if p := post(t, r.URL+"/api/webhooks/generation-failed", gfBody("late", "in time")); p.Status != 200 {
		t.Errorf("ingest once ready: %d %v", p.Status, p.Body)
	}
	if err := r.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestRefusesNewerSchema migrates a schema, then makes it newer than the
// build knows (a goose version above every embedded migration), or
// claims it for a newer replica protocol: serve must exit with code 2 and
// a message saying so, and leave the database as it was. On 56144a1 it
// started and served.
func TestRefusesNewerSchema(t *testing.T) {
	bin := needBinary(t)
	cases := []struct {
		name, change, message string
	}{
		{"schema", `INSERT INTO goose_db_version (version_id, is_applied) VALUES (999999, true)`, "newer than this hogpipe build knows"},
		{"protocol", `UPDATE hogpipe_meta SET value = '99' WHERE key = 'protocol'`, "speak protocol 99"},
	}
	for _, c := range cases {
		for _, dbKind := range []string{"postgres", "sqlite"} {
			t.Run(c.name+"/"+dbKind, func(t *testing.T) {
				dir := t.TempDir()
				args := []string{"--data-dir", filepath.Join(dir, "data"), "--training-file", filepath.Join(dir, "training_data.jsonl")}
				var env []string
				driver, dsn := "sqlite", filepath.Join(dir, "data", "hogpipe.db")
				if dbKind == "postgres" {
					dsn = pgtest.URL(t)
					driver = "pgx"
					env = append(env, "DATABASE_URL="+dsn)
				}
				first := launch(t, "first run", bin, env, args...).ready(t)
				post(t, first.URL+"/api/webhooks/generation-failed", gfBody("before", "stored before"))
				if err := first.stop(t); err != nil {
					t.Fatal(err)
				}
				db, err := sql.Open(driver, dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(c.change); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, db)
				r := launch(t, "refusing run", bin, env, args...)
				r.waitExit(t, 60*time.Second, "still running against a newer database")
				if procExitCode(r.err) != 2 {
					t.Errorf("exit: %v, want exit code 2", r.err)
				}
				if !strings.Contains(r.Logs(), c.message) {
					t.Errorf("the message does not say %q:\n%s", c.message, r.Logs())
				}
				if after := snapshot(t, db); after != before {
					t.Errorf("the database changed:\nbefore %s\nafter  %s", before, after)
				}
			})
		}
	}
}

// snapshot describes what a refusing replica could have written: every
// table's rows counted, the schema versions, and the meta rows.
func snapshot(t *testing.T, db *sql.DB) string {
	t.Helper()
	var out []string
	for _, q := range []string{
		`SELECT 'versions', count(*), coalesce(max(version_id), 0) FROM goose_db_version`,
		`SELECT 'events', count(*), 0 FROM events`,
		`SELECT 'examples', count(*), 0 FROM training_examples`,
		`SELECT 'mirror', count(*), coalesce(max(seq), 0) FROM mirror_state`,
		`SELECT 'emails', count(*), 0 FROM emails`,
		`SELECT 'meta ' || value, count(*), 0 FROM hogpipe_meta GROUP BY value`,
	} {
		var name string
		var n, m int64
		if err := db.QueryRow(q).Scan(&name, &n, &m); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, fmt.Sprintf("%s=%d/%d", name, n, m))
	}
	return strings.Join(out, " ")
}

// loadBalancer sends ingest to live replicas the way PostHog and a load
// balancer together do: each event is retried (408, 429, 5xx, network
// errors) on the next replica until one acknowledges it.
type loadBalancer struct {
	mu     sync.Mutex
	urls   []string
	next   int
	client *http.Client
	acks   map[string]int // acknowledgements by replica URL
}

// acked is how many events the replica at url has acknowledged.
func (lb *loadBalancer) acked(url string) int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.acks[url]
}

func (lb *loadBalancer) set(urls ...string) {
	lb.mu.Lock()
	lb.urls = urls
	lb.mu.Unlock()
}

func (lb *loadBalancer) pick() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.next++
	return lb.urls[lb.next%len(lb.urls)]
}

// send delivers body until acknowledged; false if ctx ended first.
func (lb *loadBalancer) send(ctx context.Context, path, body string) (acked bool, attempts int) {
	for ctx.Err() == nil {
		attempts++
		url := lb.pick()
		req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
		// Unauthenticated local webhooks must be JSON (a cross-site form
		// cannot send that), as PostHog's deliveries are.
		req.Header.Set("Content-Type", "application/json")
		resp, err := lb.client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == 200:
				lb.mu.Lock()
				if lb.acks == nil {
					lb.acks = map[string]int{}
				}
				lb.acks[url]++
				lb.mu.Unlock()
				return true, attempts
			case resp.StatusCode == 408 || resp.StatusCode == 429 || resp.StatusCode >= 500:
			default:
				panic(fmt.Sprintf("%s answered %d: not retryable, the event would be lost", path, resp.StatusCode))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false, attempts
}

// TestDrainHandsOffWriter runs two replicas under load and sends SIGTERM to
// the training file's writer: it stops within --shutdown-grace with exit
// code 0, saying it handed the writer role off, the other replica takes the
// role, and every acknowledged event is stored and in the file once.
func TestDrainHandsOffWriter(t *testing.T) {
	dir, file := processTest(t, "runs two processes")
	bin := needBinary(t)
	url := pgtest.URL(t)
	env := []string{"DATABASE_URL=" + url}
	args := func(i int) []string {
		return []string{"--data-dir", filepath.Join(dir, fmt.Sprint(i)), "--training-file", file, "--shutdown-grace", "5s"}
	}
	a := launch(t, "writer", bin, env, args(0)...).ready(t)
	b := launch(t, "standby", bin, env, args(1)...).ready(t)
	if !strings.Contains(a.Logs(), "this replica is its writer") {
		t.Fatalf("the first replica is not the writer:\n%s", a.Logs())
	}
	lb := &loadBalancer{client: &http.Client{Timeout: 5 * time.Second}}
	lb.set(a.URL, b.URL)
	var mu sync.Mutex
	acked := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := underLoad(8, func(_ context.Context, w, i int) {
		id := fmt.Sprintf("d-%d-%d", w, i)
		if ok, _ := lb.send(ctx, "/api/webhooks/generation-failed", gfBody(id, "drain "+id)); ok {
			mu.Lock()
			acked[id] = true
			mu.Unlock()
		}
	})
	waitAcked := func(n int) {
		proctest.Eventually(t, "acknowledged events", 30*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(acked) < n {
				return fmt.Errorf("%d acknowledged", len(acked))
			}
			return nil
		})
	}
	waitAcked(300)
	sigterm := time.Now()
	if err := a.stop(t); err != nil {
		t.Errorf("the writer exited with %v after SIGTERM, want 0", err)
	}
	stopped := time.Since(sigterm)
	lb.set(b.URL)
	if !strings.Contains(a.Logs(), "writer role handed off") {
		t.Errorf("the writer did not say it handed its role off:\n%s", a.Logs())
	}
	proctest.Eventually(t, "the standby taking the writer role", 10*time.Second, func() error {
		if !strings.Contains(b.Logs(), "this replica is its writer") {
			return errors.New("not yet")
		}
		return nil
	})
	tookOver := time.Since(sigterm)
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	waitAcked(n + 300)
	stop()
	cancel()
	checkExactlyOnce(t, b.URL, file, acked, nil, nil)
	t.Logf("SIGTERM to exit %s, to the standby writing %s; %d events acknowledged", stopped.Round(time.Millisecond), tookOver.Round(time.Millisecond), len(acked))
}

// checkExactlyOnce waits for the end state seen through url: every
// acknowledged generation_failed id stored and in the file once, no line
// torn, and (when mg is given) one email per acknowledged feature_used id.
func checkExactlyOnce(t *testing.T, url, file string, gf map[string]bool, fu map[string]bool, emails func() map[string]int) (stored, written int) {
	t.Helper()
	proctest.Eventually(t, "the training file catching up", 60*time.Second, func() error {
		st := get(t, url+"/api/stats").Body
		if st["training_file_lag"] != float64(0) {
			return fmt.Errorf("lag %v", st["training_file_lag"])
		}
		if fu != nil {
			sent := st["emails_by_state"].(map[string]any)["sent"]
			if sent != float64(len(fu)) {
				return fmt.Errorf("%v emails sent, want %d", sent, len(fu))
			}
		}
		return nil
	})
	st := get(t, url+"/api/stats").Body
	stored = int(st["events"].(float64))
	if stored != len(gf)+len(fu) {
		t.Errorf("%d events stored, %d acknowledged", stored, len(gf)+len(fu))
	}
	seen := idCounts(t, file)
	eachOnce(t, seen, slices.Collect(maps.Keys(gf)))
	for id, k := range seen {
		if !gf[id] {
			t.Errorf("%s is in the training file %d times but was never acknowledged", id, k)
		}
	}
	// The dashboard's training statistics (counters folded in from the
	// examples, those written by replicas of an older release too) count
	// each stored example once.
	ts := get(t, url+"/api/training-stats?top=1").Body
	days := 0.0
	for _, d := range ts["by_day"].([]any) {
		days += d.(map[string]any)["count"].(float64)
	}
	if ts["total"] != float64(len(gf)) || days != float64(len(gf)) {
		t.Errorf("training stats: total %v, %v by day; want %d", ts["total"], days, len(gf))
	}
	if emails != nil {
		got := emails()
		for id := range fu {
			if got[id] != 1 {
				t.Errorf("%s got %d emails", id, got[id])
			}
		}
	}
	for _, k := range seen {
		written += k
	}
	return stored, written
}

// TestShutdownWithinGrace stops a replica whose email send hangs (its
// Mailgun accepts the connection and never answers; --email-timeout is a
// minute): it must exit within --shutdown-grace, with exit code 1 and a
// message saying the grace ran out, not wait for the send. On 56144a1 it
// waited for the send.
func TestShutdownWithinGrace(t *testing.T) {
	bin := needBinary(t)
	r := replicaWithHungSend(t, bin, "grace", "--email-timeout", "1m", "--shutdown-grace", "1s")
	r.cmd.Process.Signal(syscall.SIGTERM)
	r.waitExit(t, 30*time.Second, "still running 30 s after SIGTERM with --shutdown-grace 1s")
	if procExitCode(r.err) != 1 {
		t.Errorf("exit: %v, want exit code 1", r.err)
	}
	if !strings.Contains(r.Logs(), "not finished within --shutdown-grace") {
		t.Errorf("the log does not say the grace ran out:\n%s", r.Logs())
	}
}

// replicaWithHungSend starts a ready replica whose Mailgun accepts the
// connection and never answers, ingests one event (uuid name+"-1") that
// sends an email, and returns once that send has reached Mailgun: the
// replica has a send in flight that will not end by itself.
func replicaWithHungSend(t *testing.T, bin, name string, args ...string) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	dir := t.TempDir()
	r := launch(t, "replica", bin, mailProcEnv("http://"+ln.Addr().String()),
		append(replicaDirs(dir, "data"), args...)...).ready(t)
	body := fmt.Sprintf(`{"event":{"uuid":"%s-1","event":"feature_used"},"person":{"properties":{"email":"%s@example.com"}}}`, name, name)
	if p := post(t, r.URL+"/api/webhooks/posthog", body); p.Status != 200 {
		t.Fatalf("ingest: %d %v", p.Status, p.Body)
	}
	proctest.Eventually(t, "the send reaching Mailgun", 30*time.Second, func() error {
		if len(accepted) == 0 {
			return errors.New("no connection yet")
		}
		return nil
	})
	return r
}

// replicaDirs are the arguments giving a replica its own data directory
// dir/name and the training file all replicas in dir share.
func replicaDirs(dir, name string) []string {
	return []string{"--data-dir", filepath.Join(dir, name), "--training-file", filepath.Join(dir, "training_data.jsonl")}
}
