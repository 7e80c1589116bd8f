package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// RoleEnv selects the attackers' half of the abuse scenario: Abuse.Run
// starts "hogpipe bench --scenario abuse --url URL" again with this set to
// "attack", and that command then calls Attack. It is internal (not a flag)
// because nobody but the parent has a reason to set it.
const RoleEnv = "HOGPIPE_BENCH_ROLE"

// abuseSecret is the webhook secret of the server the scenario starts.
const abuseSecret = "abuse-test-secret-0123456789"

// abuseCounts is what the attackers saw; the attack process writes it as
// one JSON line for the parent.
type abuseCounts struct {
	Flood, Flood429, Big, Big413, Slow         int64
	Junk, Junk4xx, Junk503, Uploads, Upload429 int64
}

// Abuse is the abuse scenario's settings.
type Abuse struct {
	// Exe is the hogpipe binary the scenario starts as "hogpipe serve" and
	// as the attackers ("hogpipe bench" with RoleEnv=attack); empty means
	// this program, which is hogpipe when "hogpipe bench" runs it.
	Exe        string
	Duration   time.Duration // of the measurement under attack
	CPUProfile string        // file for a CPU profile of the well-formed clients' process
}

// Attack is the attackers' process of the abuse scenario: it prints
// "attacking", runs every hostile client against url until dur has passed,
// and writes what they saw to w as one JSON line for the parent.
func Attack(ctx context.Context, url, secret string, dur time.Duration, w io.Writer) error {
	fmt.Fprintln(w, "attacking")
	c := attack(ctx, strings.TrimSuffix(url, "/"), secret, time.Now().Add(dur))
	return json.NewEncoder(w).Encode(c)
}

// Run is "hogpipe bench --scenario abuse": well-formed webhook traffic
// from a few clients under their rate limit, while other clients flood
// above theirs, hold slowloris connections, post oversized bodies, keep 40
// junk capture bodies of 1 MiB ([0,0,0,…], no token) in flight, and one
// client opens 1030 slow uploads (Content-Length: 100000, one byte). It
// reports the well-formed traffic's latency and errors and then checks, in
// the store, that every event it got a 200 for is there.
//
// The three parts run as three processes: hogpipe serve (a child), the
// attackers (a second child: Exe as "hogpipe bench" with RoleEnv=attack,
// which calls Attack) and the well-formed clients (this process). In one process the attackers' own
// megabyte socket writes took ~42% of the CPU and the well-formed latency
// measured the load generator's scheduling rather than hogpipe. With
// taskset on PATH and at least 2 CPUs, both load processes are pinned to
// CPU 1 and the server may run on every CPU, as in production; pinning the
// server to CPU 0 as well (GOMAXPROCS 1) measured a p99 4× worse than this
// on the 2-core test machine, because the attackers at nice 19 then could
// not yield their CPU to it.
//
// Each client dials from its own loopback address (127.0.0.x) and names a
// public Host, so hogpipe treats it as a remote client with its own bucket.
func (ab Abuse) Run(ctx context.Context, w io.Writer) error {
	dur, cpuProfile := ab.Duration, ab.CPUProfile
	exe := ab.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("abuse: finding this program to start its parts: %w", err)
		}
	}
	pin := ""
	if p, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
		pin = p
	}
	// The attackers run at the lowest priority (nice 19) where nice is
	// available: they are CPU-bound, the well-formed clients are not, and a
	// well-formed request that waits behind an attacker for a CPU measures
	// the load generator again.
	nice, _ := exec.LookPath("nice")
	withPin := func(cpu string, lowPriority bool, argv ...string) *exec.Cmd {
		if pin != "" {
			argv = append([]string{pin, "-c", cpu}, argv...)
		}
		if lowPriority && nice != "" {
			argv = append([]string{nice, "-n", "19"}, argv...)
		}
		return exec.CommandContext(ctx, argv[0], argv[1:]...)
	}
	childEnv := append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, RoleEnv+"=") || strings.HasPrefix(kv, "HOGPIPE_WEBHOOK_SECRET=")
	}), "HOGPIPE_WEBHOOK_SECRET="+abuseSecret)

	// The server.
	dir, err := os.MkdirTemp("", "hogpipe-abuse-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srvCmd := exec.CommandContext(ctx, exe, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--training-file", filepath.Join(dir, "training_data.jsonl"),
		"--log-level", "error", "--rate-limit", "200", "--rate-burst", "200")
	srvCmd.Env = childEnv
	srv, err := startChild(srvCmd, "hogpipe serve")
	if err != nil {
		return err
	}
	defer srv.kill()
	url := ""
	for lines := bufio.NewScanner(srv.out); lines.Scan(); {
		if a, ok := strings.CutPrefix(lines.Text(), "hogpipe listening on "); ok {
			url = a
			break
		}
	}
	go io.Copy(io.Discard, srv.out)
	if url == "" {
		return fmt.Errorf("abuse: hogpipe serve did not start: %s", srv.log.String())
	}

	pinned := "load not pinned (taskset not found or 1 CPU)"
	if pin != "" {
		// This process joins the attackers' CPU.
		if out, err := exec.CommandContext(ctx, pin, "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
			pinned = fmt.Sprintf("taskset: attackers on CPU 1, well-formed clients not pinned (%v: %s)", err, bytes.TrimSpace(out))
		} else {
			pinned = "taskset: attackers and well-formed clients on CPU 1"
		}
	}
	if nice != "" {
		pinned += "; attackers at nice 19"
	}
	pinned += fmt.Sprintf("; server on every CPU (%d)", runtime.NumCPU())

	// The same clients alone first, against the same server, as the
	// control: on a shared machine it shows what the neighbours cost.
	baseDur := min(dur, 5*time.Second)
	baseLat, baseAcked, baseErrs := wellFormed(ctx, url, abuseSecret, time.Now().Add(baseDur))

	// The attackers run a little longer than the measurement so that it
	// sees them at full strength from its first request to its last.
	const settle = time.Second
	attCmd := withPin("1", true, exe, "bench", "--scenario", "abuse", "--url", url, "--duration", (dur + 2*settle).String())
	attCmd.Env = append(childEnv, RoleEnv+"=attack")
	att, err := startChild(attCmd, "the attackers")
	if err != nil {
		return err
	}
	defer att.kill()
	attLines := bufio.NewReader(att.out)
	if l, err := attLines.ReadString('\n'); err != nil || strings.TrimSpace(l) != "attacking" {
		return fmt.Errorf("abuse: the attackers did not start: %q %s", l, att.log.String())
	}
	time.Sleep(settle)

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	attackStart := time.Now()
	lat, acked, errs := wellFormed(ctx, url, abuseSecret, time.Now().Add(dur))
	pprof.StopCPUProfile()
	// The server's peak RSS must be read while it still runs.
	rss := procPeakRSS(srv.cmd.Process.Pid)

	attJSON, _ := io.ReadAll(attLines)
	attErr := att.wait()
	var ac abuseCounts
	if attErr != nil {
		return fmt.Errorf("abuse: the attackers failed: %w: %s", attErr, att.log.String())
	}
	if err := json.Unmarshal(attJSON, &ac); err != nil {
		return fmt.Errorf("abuse: the attackers' report %q: %w", attJSON, err)
	}
	attackWall := time.Since(attackStart) + settle
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.wait(); err != nil {
		return fmt.Errorf("abuse: hogpipe serve: %w: %s", err, srv.log.String())
	}

	// Nothing acknowledged may be missing from the store: what
	// "hogpipe export" would write from the stopped server's data dir.
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "data", "hogpipe.db"), sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	var out bytes.Buffer
	if _, err := trainingfile.ExportWith(ctx, store, trainingfile.Options{Format: trainingfile.FormatV1}, &out, nil); err != nil {
		return err
	}
	stored := map[string]bool{}
	for _, line := range bytes.Split(out.Bytes(), []byte("\n")) {
		var l struct{ ID string }
		if json.Unmarshal(line, &l) == nil {
			stored[l.ID] = true
		}
	}
	missing := 0
	for _, id := range slices.Concat(baseAcked, acked) {
		if !stored[id] {
			missing++
		}
	}
	slices.Sort(lat)
	slices.Sort(baseLat)
	pct := func(lat []time.Duration) func(float64) time.Duration {
		return func(q float64) time.Duration {
			if len(lat) == 0 {
				return 0
			}
			return lat[int(float64(len(lat)-1)*q)].Round(10 * time.Microsecond)
		}
	}
	p, pb := pct(lat), pct(baseLat)
	fmt.Fprintf(w, "abuse scenario, %s; server, attackers and well-formed clients in 3 processes; %s\n", dur, pinned)
	fmt.Fprintf(w, "well-formed alone first (%s, control): %d acknowledged, %d errors, p50 %s, p99 %s, max %s\n",
		baseDur, len(baseAcked), baseErrs, pb(0.5), pb(0.99), pb(1))
	fmt.Fprintf(w, "well-formed under attack: %d acknowledged, %d errors, p50 %s, p99 %s, max %s\n",
		len(acked), errs, p(0.5), p(0.99), p(1))
	fmt.Fprintf(w, "acknowledged but missing from the store (both phases): %d\n", missing)
	fmt.Fprintf(w, "over-rate clients: %d requests, %d answered 429\n", ac.Flood, ac.Flood429)
	fmt.Fprintf(w, "oversized bodies: %d requests, %d answered 413\n", ac.Big, ac.Big413)
	fmt.Fprintf(w, "slowloris connections opened: %d\n", ac.Slow)
	fmt.Fprintf(w, "junk 1 MiB capture bodies (40 in flight): %d sent, %d answered 4xx, %d shed with 503\n",
		ac.Junk, ac.Junk4xx, ac.Junk503)
	fmt.Fprintf(w, "slow uploads from one client: %d opened, %d refused at once with 429 (the rest held within --max-per-client)\n",
		ac.Uploads, ac.Upload429)
	cpu := func(ps *os.ProcessState) time.Duration {
		return (ps.UserTime() + ps.SystemTime()).Round(10 * time.Millisecond)
	}
	fmt.Fprintf(w, "CPU time: server %s over its whole run (%s with the control), attackers %s over %s\n",
		cpu(srv.cmd.ProcessState), (attackWall + baseDur).Round(100*time.Millisecond), cpu(att.cmd.ProcessState), attackWall.Round(100*time.Millisecond))
	if rss > 0 {
		fmt.Fprintf(w, "peak RSS of the server: %d MiB\n", rss>>20)
	}
	if missing > 0 || errs > 0 || baseErrs > 0 {
		return fmt.Errorf("well-formed traffic suffered: %d errors, %d missing", errs+baseErrs, missing)
	}
	return nil
}

// child is one process of the scenario: its stderr kept for error
// messages, its stdout for the caller to read.
type child struct {
	cmd    *exec.Cmd
	log    bytes.Buffer
	out    io.ReadCloser
	waited bool
}

func startChild(cmd *exec.Cmd, what string) (*child, error) {
	c := &child{cmd: cmd}
	cmd.Stderr = &c.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("abuse: starting %s: %w", what, err)
	}
	return c, nil
}

// wait waits for the process to exit (Cmd.Wait).
func (c *child) wait() error {
	c.waited = true
	return c.cmd.Wait()
}

// kill ends the process unless it was waited for: on the early returns.
func (c *child) kill() {
	if !c.waited {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// wellFormed is 4 clients × 100 webhook events/s, under their rate limit,
// until deadline: the latencies of the acknowledged ones, their ids, and
// how many failed.
func wellFormed(ctx context.Context, url, secret string, deadline time.Time) ([]time.Duration, []string, int64) {
	var mu sync.Mutex
	var lat []time.Duration
	var acked []string
	var errs atomic.Int64
	var wg sync.WaitGroup
	for i := range 4 {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", 10+i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for j := 0; time.Now().Before(deadline); j++ {
				<-tick.C
				id := fmt.Sprintf("good-%d-%d", i, j)
				t0 := time.Now()
				st, err := postWebhook(ctx, c, url, secret, []byte(fmt.Sprintf(`{"event":{"uuid":%q,"event":"generation_failed","properties":{"input_prompt":"good %d"}}}`, id, j)))
				d := time.Since(t0)
				if err != nil || st != 200 {
					errs.Add(1)
					continue
				}
				mu.Lock()
				lat = append(lat, d)
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, acked, errs.Load()
}

func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}}
}

func postWebhook(ctx context.Context, c *http.Client, url, secret string, body []byte) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/api/webhooks/generation-failed", bytes.NewReader(body))
	req.Host = "hogpipe.example.com"
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// attack runs every hostile client against url until deadline.
func attack(ctx context.Context, url, secret string, deadline time.Time) abuseCounts {
	hostport := strings.TrimPrefix(url, "http://")
	var wg sync.WaitGroup
	var abuse struct {
		flood, flood429, big, big413, slow         atomic.Int64
		junk, junk4xx, junk503, uploads, upload429 atomic.Int64
	}

	// repeat calls hit until deadline from perAddr goroutines for each of
	// 4 client addresses, 127.0.0.first to first+3; hit is told the
	// address's index and how many times its goroutine called it before.
	repeat := func(first, perAddr int, hit func(c *http.Client, addr, n int)) {
		for i := range 4 {
			c := clientFrom(fmt.Sprintf("127.0.0.%d", first+i))
			for range perAddr {
				wg.Go(func() {
					for n := 0; time.Now().Before(deadline); n++ {
						hit(c, i, n)
					}
				})
			}
		}
	}

	// Over-rate clients: as fast as they can, from 4 addresses.
	repeat(20, 4, func(c *http.Client, i, j int) {
		st, err := postWebhook(ctx, c, url, secret, []byte(fmt.Sprintf(`{"event":{"uuid":"flood-%d-%d-%d","event":"generation_failed","properties":{"input_prompt":"x"}}}`, i, j, time.Now().UnixNano())))
		abuse.flood.Add(1)
		if err == nil && st == 429 {
			abuse.flood429.Add(1)
		}
	})
	// Oversized bodies: 2 MiB each, against a 1 MiB limit.
	big := bytes.Repeat([]byte("a"), 2<<20)
	repeat(30, 1, func(c *http.Client, _, _ int) {
		st, err := postWebhook(ctx, c, url, secret, big)
		abuse.big.Add(1)
		if err == nil && st == 413 {
			abuse.big413.Add(1)
		}
		time.Sleep(20 * time.Millisecond)
	})
	// Slowloris: connections that send a header byte every second.
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.0.%d", 40+i%50))}}
			conn, err := d.DialContext(ctx, "tcp", hostport)
			if err != nil {
				return
			}
			defer conn.Close()
			abuse.slow.Add(1)
			fmt.Fprintf(conn, "POST /api/webhooks/generation-failed HTTP/1.1\r\nHost: hogpipe.example.com\r\n")
			for time.Now().Before(deadline) {
				if _, err := fmt.Fprintf(conn, "X-%d: y\r\n", time.Now().UnixNano()); err != nil {
					return // the server hung up on us: what it should do
				}
				time.Sleep(time.Second)
			}
		}()
	}

	// Memory attack: 40 junk capture bodies of 1 MiB in flight at all
	// times, from 4 addresses, no token.
	junk := []byte("[" + strings.Repeat("0,", (1<<20-2)/2-1) + "0]")
	repeat(100, 10, func(c *http.Client, _, _ int) {
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/e/", bytes.NewReader(junk))
		req.Host = "hogpipe.example.com"
		resp, err := c.Do(req)
		abuse.junk.Add(1)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 503:
			abuse.junk503.Add(1)
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			abuse.junk4xx.Add(1)
		}
	})
	// Slow uploads: one client, 1030 requests announcing 100000 bytes and
	// sending one, held open until the end.
	upload := []byte("POST /api/webhooks/generation-failed HTTP/1.1\r\nHost: hogpipe.example.com\r\n" +
		"Authorization: Bearer " + secret + "\r\nContent-Length: 100000\r\n\r\n{")
	for range 1030 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.110")}}
			conn, err := d.DialContext(ctx, "tcp", hostport)
			if err != nil {
				return
			}
			defer conn.Close()
			abuse.uploads.Add(1)
			conn.Write(upload)
			conn.SetReadDeadline(deadline)
			if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 429 {
					abuse.upload429.Add(1)
				}
				return
			}
		}()
	}
	wg.Wait()
	return abuseCounts{
		Flood: abuse.flood.Load(), Flood429: abuse.flood429.Load(), Big: abuse.big.Load(), Big413: abuse.big413.Load(),
		Slow: abuse.slow.Load(), Junk: abuse.junk.Load(), Junk4xx: abuse.junk4xx.Load(), Junk503: abuse.junk503.Load(),
		Uploads: abuse.uploads.Load(), Upload429: abuse.upload429.Load(),
	}
}

// procPeakRSS is a process's peak resident set size (VmHWM), 0 if unknown.
func procPeakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
