package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// The replica tests: several hogpipe processes on one PostgreSQL database
// starting together, migrating, draining, recovering, killed, upgraded
// one by one, and behind nginx.

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

// TestReplicasOnPostgres runs three hogpipe processes on one PostgreSQL
// database and sends every event to two different replicas at once. Each
// uuid must be stored once, the training file must hold one line per
// example, and Mailgun must get one email per feature_used event.
func TestReplicasOnPostgres(t *testing.T) { replicaRun(t, false) }

// TestReplicasSurviveKills is the same with the training file's writer and
// another replica (an email worker) killed with SIGKILL in the middle: the
// last replica takes over the file and, after their leases, the emails.
func TestReplicasSurviveKills(t *testing.T) { replicaRun(t, true) }

func replicaRun(t *testing.T, kill bool) {
	dir, file := processTest(t, "runs three processes")
	url := pgtest.URL(t)
	mg := newMailgun(t)
	env := mailProcEnv(mg.URL, "DATABASE_URL="+url, "HOGPIPE_EMAIL_BACKOFF=50ms", "HOGPIPE_EMAIL_TIMEOUT=1s")
	var reps []*child
	for i := range 3 {
		reps = append(reps, startChild(t, filepath.Join(dir, fmt.Sprintf("data%d", i)), file, env...))
	}
	alive := []bool{true, true, true}
	var aliveMu sync.Mutex

	const n = 600
	client := &http.Client{Timeout: 5 * time.Second}
	// post sends one body to replica r, and, like a load balancer, to the
	// next live one when r is down.
	post := func(r int, body string) bool {
		for k := range 3 {
			i := (r + k) % 3
			aliveMu.Lock()
			up := alive[i]
			aliveMu.Unlock()
			if !up {
				continue
			}
			resp, err := client.Post(reps[i].URL+"/api/webhooks/posthog", "application/json", strings.NewReader(body))
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		return false
	}
	failed := 0
	var fmu sync.Mutex
	jobs, wait := pool(8, func(i int) {
		var body string
		if i%2 == 0 {
			body = fmt.Sprintf(`{"event":{"uuid":"r-%d","event":"generation_failed","properties":{"input_prompt":"replica prompt %d"}}}`, i, i)
		} else {
			body = fmt.Sprintf(`{"event":{"uuid":"r-%d","event":"feature_used"},"person":{"properties":{"email":"r%d@example.com"}}}`, i, i)
		}
		// The same event to two different replicas at the same time.
		var ok [2]bool
		var pw sync.WaitGroup
		for k := range 2 {
			pw.Add(1)
			go func() { defer pw.Done(); ok[k] = post((i+k)%3, body) }()
		}
		pw.Wait()
		if !ok[0] && !ok[1] {
			fmu.Lock()
			failed++
			fmu.Unlock()
		}
	})
	for i := range n {
		if kill && i == n/2 {
			// The first replica started first and writes the file.
			for _, k := range []int{0, 1} {
				aliveMu.Lock()
				alive[k] = false
				aliveMu.Unlock()
				reps[k].cmd.Process.Signal(syscall.SIGKILL)
				reps[k].cmd.Wait()
			}
		}
		jobs <- i
	}
	close(jobs)
	wait()
	if failed > 0 {
		t.Fatalf("%d events were never acknowledged by any replica", failed)
	}

	// Wait for the end state, as a surviving replica sees it.
	last := reps[2]
	proctest.Eventually(t, "end state", 60*time.Second, func() error {
		var st struct {
			Events int64            `json:"events"`
			Lag    int64            `json:"training_file_lag"`
			Emails map[string]int64 `json:"emails_by_state"`
		}
		if r, err := http.Get(last.URL + "/api/stats"); err == nil {
			json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
		}
		lines := 0
		if b, err := readFileLines(file); err == nil {
			lines = b
		}
		if st.Events == n && st.Emails["sent"] == n/2 && lines == n/2 {
			return nil
		}
		return fmt.Errorf("events %d (want %d), sent %v (want %d), file lines %d (want %d)",
			st.Events, n, st.Emails, n/2, lines, n/2)
	})
	eachOnce(t, idCounts(t, file), numbered("r", n, 2))
	perEvent := map[string]int{}
	for _, m := range mg.Messages() {
		perEvent[m.Vars["hogpipe-event-id"]]++
	}
	dups := 0
	for i := 1; i < n; i += 2 {
		switch k := perEvent[fmt.Sprintf("r-%d", i)]; {
		case k == 0:
			t.Errorf("r-%d got no email", i)
		case k > 1:
			dups += k - 1
		}
	}
	if !kill && dups > 0 {
		t.Errorf("%d duplicate emails without any crash", dups)
	}
	if dups > 2*32 {
		t.Errorf("%d duplicate emails after killing two replicas; at most one per worker of each can be explained", dups)
	}
	t.Logf("%d events over 3 replicas (kill=%v): %d messages at Mailgun, %d duplicates", n, kill, len(mg.Messages()), dups)
}

func readFileLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(b), "\n"), nil
}

// TestNginxInFront runs the nginx configuration of docs/deploy.md, as
// written there, in front of two replicas on one PostgreSQL database, and
// kills one replica with SIGKILL under load. The client never retries:
// every event must still be acknowledged (nginx passes the request to the
// other replica), stored once and mirrored to the training file once. The
// rate limit must see the clients behind nginx, not nginx.
func TestNginxInFront(t *testing.T) {
	dir, file := processTest(t, "runs nginx and two replicas")
	nginx := nginxPath()
	proctest.Need(t, nginx != "", "nginx not installed (apt-get install nginx-light)")
	url := pgtest.URL(t)
	// A burst of 100 per client: the 400 events come from 8 clients (50
	// each, from their own loopback addresses, which nginx names in
	// X-Forwarded-For), so they pass only if each client gets its own
	// bucket rather than all sharing nginx's.
	env := []string{"DATABASE_URL=" + url, "HOGPIPE_WEBHOOK_SECRET=s3cret-for-nginx",
		"HOGPIPE_TRUSTED_PROXIES=127.0.0.1", "HOGPIPE_RATE_LIMIT=0.01", "HOGPIPE_RATE_BURST=100"}
	reps := []*child{
		startChild(t, filepath.Join(dir, "data0"), file, env...),
		startChild(t, filepath.Join(dir, "data1"), file, env...),
	}
	front := startNginx(t, nginx, dir, reps)

	// Authentication still applies behind the proxy.
	if r := post(t, front+"/api/webhooks/generation-failed", `{"event":{"uuid":"x","event":"generation_failed"}}`); r.Status != 401 || r.Body["error"] == nil {
		t.Fatalf("no secret through nginx: %d %v, want 401 with a JSON error", r.Status, r.Body)
	}
	// What nginx forwards is not taken for a local request, although its
	// Host is 127.0.0.1 and its peer nginx on loopback.
	if r := get(t, front+"/api/stats"); r.Status != 401 {
		t.Fatalf("read API through nginx without the admin token: %d, want 401", r.Status)
	}

	const n = 400
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(w+2))}}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: from.DialContext}}
			for i := range jobs {
				body := fmt.Sprintf(`{"event":{"uuid":"ngx-%d","event":"generation_failed","properties":{"input_prompt":"behind nginx %d"}}}`, i, i)
				req, _ := http.NewRequest("POST", front+"/api/webhooks/generation-failed", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer s3cret-for-nginx")
				req.Host = "hogpipe.example.com" // as from the internet: not exempt from the rate limit
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("ngx-%d: %v", i, err))
					mu.Unlock()
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("ngx-%d: %d %s", i, resp.StatusCode, b))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		if i == n/2 {
			reps[0].cmd.Process.Signal(syscall.SIGKILL)
			reps[0].cmd.Wait()
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d events not acknowledged through nginx after a replica died, e.g. %v", len(failures), n, failures[:min(3, len(failures))])
	}

	// The survivor holds every event once and, having taken over the
	// training file, one line per example.
	proctest.Eventually(t, "end state", 30*time.Second, func() error {
		var st struct {
			Events int64 `json:"events"`
		}
		if r, err := http.Get(reps[1].URL + "/api/stats"); err == nil {
			json.NewDecoder(r.Body).Decode(&st)
			r.Body.Close()
		}
		lines, _ := readFileLines(file)
		if st.Events == n && lines == n {
			return nil
		}
		return fmt.Errorf("%d events stored (want %d), %d lines in the training file (want %d)", st.Events, n, lines, n)
	})
	eachOnce(t, idCounts(t, file), numbered("ngx", n, 1))
}

func nginxPath() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// startNginx runs nginx with the server block of docs/deploy.md, its
// upstream pointed at the replicas and its TLS listener replaced by a
// plain one on loopback, and returns its URL.
func startNginx(t *testing.T, nginx, dir string, reps []*child) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/deploy.md has no nginx block")
	}
	block := string(m[1])
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	var servers []string
	for _, r := range reps {
		servers = append(servers, "    server "+strings.TrimPrefix(r.URL, "http://")+" max_fails=1 fail_timeout=5s;")
	}
	serverRE := regexp.MustCompile(`(?m)^\s*server \d+\.\d+\.\d+\.\d+:\d+.*\n`)
	if len(serverRE.FindAllString(block, -1)) == 0 || !strings.Contains(block, "listen 443 ssl;") {
		t.Fatal("the nginx block of docs/deploy.md changed shape; update this test")
	}
	first := true
	block = serverRE.ReplaceAllStringFunc(block, func(string) string {
		if !first {
			return ""
		}
		first = false
		return strings.Join(servers, "\n") + "\n"
	})
	block = strings.Replace(block, "listen 443 ssl;", "listen "+addr+";", 1)

	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // the workers must reach the test's private temp dir
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[3]s
}
`, user, dir, block)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	front := "http://" + addr
	proctest.Eventually(t, "nginx at "+front+" passes /readyz through (config:\n"+conf+")", 10*time.Second, func() error {
		return statusIs(front+"/readyz", 200)
	})
	return front
}

// startingAddr is the address a replica logged when it bound its listener,
// before it is ready (the "listening" line comes only once it is).
func startingAddr(r *replica) string {
	for _, line := range strings.Split(r.Logs(), "\n") {
		if strings.Contains(line, `"msg":"starting;`) {
			_, a, _ := strings.Cut(line, `"addr":"`)
			addr, _, _ := strings.Cut(a, `"`)
			return addr
		}
	}
	return ""
}

// lockTable locks table in a transaction of its own, as a slow or busy
// database (or another session's long statement) would hold it.
func lockTable(t *testing.T, db *sql.DB, table string) *sql.Tx {
	t.Helper()
	tx, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`LOCK TABLE ` + table + ` IN ACCESS EXCLUSIVE MODE`); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	return tx
}

// TestSIGTERMDuringRecovery stops a replica while it brings the training
// file up to date (held there by a lock on the file's watermark table, as a
// slow or busy database would): /readyz says it is recovering, and SIGTERM
// must end it at once with exit code 0, as SIGTERM during the wait for a
// migration does — not after the recovery's own 30 s bound, with exit code
// 1, long past an orchestrator's grace period (as before the fix).
func TestSIGTERMDuringRecovery(t *testing.T) {
	bin := needBinary(t)
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := sqlstore.OpenPostgres(ctx, url, sqlstore.Options{}) // the schema, migrated
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := openPG(t, url)
	tx := lockTable(t, db, "mirror_state")
	defer tx.Rollback()

	dir := t.TempDir()
	r := launch(t, "recovering replica", bin, []string{"DATABASE_URL=" + url}, append(replicaDirs(dir, "data"), "--shutdown-grace", "5s")...)
	proctest.Eventually(t, "/readyz saying the training file is being recovered", 60*time.Second, func() error {
		addr := startingAddr(r)
		if addr == "" {
			return errors.New("no address logged yet")
		}
		ready := get(t, "http://"+addr+"/readyz")
		if ready.Status != 503 || !strings.Contains(fmt.Sprint(ready.Body["error"]), "recovering the training file") {
			return fmt.Errorf("/readyz: %d %v", ready.Status, ready.Body)
		}
		return nil
	})
	if err := r.stop(t); err != nil {
		t.Errorf("SIGTERM during the training file's recovery: %v, want exit 0", err)
	}
	if !strings.Contains(r.Logs(), "stopped while starting") {
		t.Errorf("the log does not say it stopped while starting:\n%s", r.Logs())
	}
	// The recovery was still held up when the replica exited: it did not
	// wait for it.
	if err := tx.Commit(); err != nil {
		t.Fatalf("the lock holder's transaction: %v", err)
	}
}

// TestKilledMidMigration kills (SIGKILL) the replica that is migrating the
// schema, in the middle of a migration (held there by a lock on the
// emails table that 00006 alters), while a second replica waits for the
// migration lock. The killed replica's lock must go with its session
// (what it had done stays: 00006 commits statement by statement and can
// run again), and the waiting replica must apply every migration and
// serve: no version recorded half applied, no stuck lock.
func TestKilledMidMigration(t *testing.T) {
	bin := needBinary(t)
	url := pgtest.URL(t)
	ctx := context.Background()
	db := openPG(t, url)
	// The schema of the previous release: migrations up to 00004.
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("../../sqlstore/migrations/postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	tx := lockTable(t, db, "emails")
	defer tx.Rollback()
	// blocked is how many sessions wait for a lock on the emails table.
	blocked := func() (int, error) {
		var n int
		err := db.QueryRow(`SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'emails'::regclass`).Scan(&n)
		return n, err
	}

	dir := t.TempDir()
	env := []string{"DATABASE_URL=" + url}
	killed := launch(t, "killed mid-migration", bin, env, replicaDirs(dir, "a")...)
	proctest.Eventually(t, "the first replica's migration waiting on the emails table", 60*time.Second, func() error {
		if n, err := blocked(); err != nil || n == 0 {
			return fmt.Errorf("%d sessions waiting (%v)", n, err)
		}
		return nil
	})
	next := launch(t, "next", bin, env, replicaDirs(dir, "b")...)
	waitLogged(t, "the second replica waiting for the migration lock", next.Logs, "waiting for another replica to finish migrating the schema")
	killed.cmd.Process.Kill()
	<-killed.exited
	// The dead replica's statement still waits in its backend; once the
	// table is free, the backend finds its client gone and rolls back.
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	next.ready(t)
	var version int64
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	sources := p.ListSources()
	if want := sources[len(sources)-1].Version; version != want {
		t.Errorf("schema version %d after the second replica started, want %d", version, want)
	}
	if p := post(t, next.URL+"/api/webhooks/posthog", `{"event":{"uuid":"after-kill","event":"feature_used"},"person":{"properties":{"email":"k@example.com"}}}`); p.Status != 200 {
		t.Errorf("ingest after the migration: %d %v", p.Status, p.Body)
	}
	if err := next.stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestSecondSignalExitsAtOnce: a replica whose shutdown waits (an email
// send hangs, --shutdown-grace is 10 minutes) ends at once on a second
// SIGTERM, as an operator pressing Ctrl-C twice expects, instead of
// ignoring it for the rest of the grace (as before).
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := needBinary(t)
	r := replicaWithHungSend(t, bin, "twice", "--email-timeout", "10m", "--shutdown-grace", "10m")
	r.cmd.Process.Signal(syscall.SIGTERM)
	waitLogged(t, "the replica shutting down", r.Logs, `"msg":"shutting down"`)
	select {
	case <-r.exited:
		t.Fatalf("exited before the second signal (%v); the send was to hang", r.err)
	default:
	}
	// Sent again each second: the one right after the log line may come
	// before main has restored the default action.
	proctest.Eventually(t, "the replica ending on a second SIGTERM", 60*time.Second, func() error {
		select {
		case <-r.exited:
			return nil
		default:
		}
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
			return nil
		case <-time.After(time.Second):
			return errors.New("still running")
		}
	})
	if r.err == nil {
		t.Error("exit 0 after a shutdown cut short by a second signal")
	}
}

// previousRelease is the commit the rolling-upgrade test upgrades from:
// main before replicas could be deployed one by one (no migration lock, no
// protocol, no hand-off on SIGTERM). HOGPIPE_REHEARSAL_FROM overrides it
// (make deploy-rehearsal FROM=<tag or commit>).
const previousRelease = "56144a1"

// buildRelease builds cmd/hogpipe as it was at ref, from this repository's
// history (git archive into a temporary directory: the repository and its
// work tree are left alone).
func buildRelease(t *testing.T, ref string) string {
	t.Helper()
	_, err := exec.LookPath("git")
	proctest.Need(t, err == nil, "git is not installed (the previous release is built from this repository's history)")
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	proctest.Need(t, err == nil, "not inside a git clone of hogpipe (the previous release is built from its history)")
	git := func(args ...string) *exec.Cmd {
		return exec.Command("git", append([]string{"-C", strings.TrimSpace(string(top))}, args...)...)
	}
	if out, err := git("cat-file", "-e", ref+"^{commit}").CombinedOutput(); err != nil {
		t.Fatalf("commit %s is not in this clone's history (a shallow clone? fetch it): %v %s", ref, err, out)
	}
	src := t.TempDir()
	tarball := filepath.Join(src, "src.tar")
	if out, err := git("archive", "-o", tarball, ref).CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v %s", ref, err, out)
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", src).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v %s", ref, err, out)
	}
	bin := filepath.Join(t.TempDir(), "hogpipe-"+ref)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hogpipe")
	cmd.Dir = src
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", ref, err, out)
	}
	return bin
}

// buildRehearsal builds the working tree with -tags rehearsal: the new
// release, carrying a schema change of its own (sqlstore/rehearsal.go).
func buildRehearsal(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hogpipe-new")
	if out, err := exec.Command("go", "build", "-tags", "rehearsal", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the new release: %v\n%s", err, out)
	}
	return bin
}

// TestRollingUpgrade replaces two replicas of the previous release with two
// of this one, one at a time, under continuous ingest from clients that
// retry as PostHog does: the first new replica migrates the schema (this
// release's migrations and a test-only expand change) while the old ones
// serve on it, then each old one is stopped with SIGTERM. Every
// acknowledged event must be stored once, each generation_failed in the
// training file once (no torn line), each feature_used emailed once, and
// the training file's writer role must pass from an old replica to a new
// one.
func TestRollingUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two releases and runs four processes")
	}
	url := pgtest.URL(t)
	from := os.Getenv("HOGPIPE_REHEARSAL_FROM")
	if from == "" {
		from = previousRelease
	}
	oldBin := buildRelease(t, from)
	newBin := buildRehearsal(t)

	mg := newMailgun(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "training_data.jsonl")
	env := mailProcEnv(mg.URL, "DATABASE_URL="+url, "HOGPIPE_EMAIL_BACKOFF=50ms", "HOGPIPE_EMAIL_TIMEOUT=2s")
	n := 0
	start := func(name, bin string) *replica {
		n++
		return launch(t, name, bin, env, "--data-dir", filepath.Join(dir, fmt.Sprint(n)), "--training-file", file).ready(t)
	}

	old1, old2 := start("old 1 ("+from+")", oldBin), start("old 2 ("+from+")", oldBin)
	lb := &loadBalancer{client: &http.Client{Timeout: 5 * time.Second}}
	lb.set(old1.URL, old2.URL)

	var mu sync.Mutex
	gf, fu := map[string]bool{}, map[string]bool{}
	attempts := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := underLoad(8, func(_ context.Context, w, i int) {
		id := fmt.Sprintf("u-%d-%d", w, i)
		path, body, set := "/api/webhooks/generation-failed", gfBody(id, "upgrade prompt "+id), gf
		if i%3 == 2 {
			path, set = "/api/webhooks/posthog", fu
			body = fmt.Sprintf(`{"event":{"uuid":%q,"event":"feature_used"},"person":{"properties":{"email":"%s@example.com"}}}`, id, id)
		}
		ok, k := lb.send(ctx, path, body)
		mu.Lock()
		attempts += k
		if ok {
			set[id] = true
		}
		mu.Unlock()
	})
	// more waits until another k events are acknowledged: each step of the
	// upgrade happens under traffic.
	more := func(k int) {
		mu.Lock()
		target := len(gf) + len(fu) + k
		mu.Unlock()
		proctest.Eventually(t, "acknowledged events", 60*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if got := len(gf) + len(fu); got < target {
				return fmt.Errorf("%d acknowledged, want %d", got, target)
			}
			return nil
		})
	}
	more(200)

	new1 := start("new 1", newBin) // migrates while the old ones serve
	checkUpgradedSchema(t, url)
	// The dashboard polls the new replica's training statistics, folding
	// in examples while the old replicas write them (checked at the end).
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for ctx.Err() == nil {
			if resp, err := lb.client.Get(new1.URL + "/api/training-stats?top=3"); err == nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	defer func() { cancel(); <-polled }()
	oldAcks := lb.acked(old1.URL) + lb.acked(old2.URL)
	lb.set(old1.URL, old2.URL, new1.URL)
	more(200)
	if lb.acked(old1.URL)+lb.acked(old2.URL) == oldAcks {
		t.Fatal("the old replicas acknowledged nothing on the migrated schema")
	}
	if lb.acked(new1.URL) == 0 {
		t.Fatal("the new replica acknowledged nothing")
	}

	// The old writer goes first, so that the role moves across versions.
	writer, other := old1, old2
	if !strings.Contains(old1.Logs(), "this replica is its writer") {
		writer, other = old2, old1
	}
	if !strings.Contains(writer.Logs(), "this replica is its writer") {
		t.Fatal("no old replica is the training file's writer")
	}
	// Each old replica stays in the balancer until it has exited, as with a
	// balancer that has not yet noticed /readyz: clients retry what its
	// closed listener refuses.
	if err := writer.stop(t); err != nil {
		t.Errorf("%s exited with %v after SIGTERM", writer.name, err)
	}
	lb.set(other.URL, new1.URL)
	more(200)
	new2 := start("new 2", newBin)
	lb.set(other.URL, new1.URL, new2.URL)
	more(200)
	if err := other.stop(t); err != nil {
		t.Errorf("%s exited with %v after SIGTERM", other.name, err)
	}
	lb.set(new1.URL, new2.URL)
	more(200)
	stop()
	cancel()

	proctest.Eventually(t, "a new replica taking the training file's writer role", 30*time.Second, func() error {
		if !strings.Contains(new1.Logs()+new2.Logs(), "this replica is its writer") {
			return fmt.Errorf("no new replica is the writer")
		}
		return nil
	})
	for _, r := range []*replica{old1, old2, new1, new2} {
		for _, line := range strings.Split(r.Logs(), "\n") {
			if strings.Contains(line, `"msg":"training file: `) {
				t.Logf("%s: %s", r.name, line)
			}
		}
	}
	emails := func() map[string]int {
		got := map[string]int{}
		for _, m := range mg.Messages() {
			got[m.Vars["hogpipe-event-id"]]++
		}
		return got
	}
	stored, written := checkExactlyOnce(t, new1.URL, file, gf, fu, emails)
	t.Logf("rolling upgrade %s → working tree: acknowledged %d (%d generation_failed, %d feature_used) in %d attempts; stored %d; written %d lines; %d emails",
		from, len(gf)+len(fu), len(gf), len(fu), attempts, stored, written, len(mg.Messages()))
	// Both new replicas stop cleanly too.
	for _, r := range []*replica{new1, new2} {
		if err := r.stop(t); err != nil {
			t.Errorf("%s exited with %v after SIGTERM", r.name, err)
		}
	}
}

// checkUpgradedSchema checks that the new release did change the schema
// under the old replicas: its migrations and the rehearsal column.
func checkUpgradedSchema(t *testing.T, url string) {
	t.Helper()
	db := openPG(t, url)
	var version int64
	var column bool
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'events' AND column_name = 'rehearsal_tag')`).Scan(&column); err != nil {
		t.Fatal(err)
	}
	if version != 90001 || !column {
		t.Fatalf("schema after the new replica started: version %d, rehearsal column %v; want 90001 and true", version, column)
	}
}
