package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/pgtest"
	"github.com/hogpipe/hogpipe/internal/proctest"
)

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
