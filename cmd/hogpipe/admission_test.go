package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe/internal/proctest"
)

// TestRateLimitIPv6SharesOnePrefix: addresses rotating inside one IPv6 /64
// are one client for the rate limit (each used to get its own bucket);
// another /64 is another client; --ipv6-prefix 128 keys by full address.
func TestRateLimitIPv6SharesOnePrefix(t *testing.T) {
	const secret = "rate-limit-secret-0123456789"
	env := map[string]string{"HOGPIPE_RATE_LIMIT": "0.01", "HOGPIPE_RATE_BURST": "2", "HOGPIPE_WEBHOOK_SECRET": secret,
		"HOGPIPE_TRUSTED_PROXIES": "127.0.0.0/8, ::1"}
	send := func(ts *testServer, id, client string) response {
		return post(t, ts.URL+"/api/webhooks/generation-failed", gfBody(id, "p"), "Authorization", "Bearer "+secret, "X-Forwarded-For", client)
	}
	ts := startServer(t, env)
	for i, c := range []struct {
		addr string
		want int
	}{
		{"2001:db8:1:2::1", 200},
		{"2001:db8:1:2:aaaa:bbbb:cccc:2", 200},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", 429}, // same /64: its burst of 2 is spent
		{"2001:db8:1:3::1", 200},                  // the next /64 is someone else
	} {
		if r := send(ts, fmt.Sprintf("v6-%d", i), c.addr); r.Status != c.want {
			t.Errorf("%s: %d %v, want %d", c.addr, r.Status, r.Body, c.want)
		}
	}
	if r := get(t, ts.URL+"/api/events/v6-2"); r.Status != 404 {
		t.Errorf("the refused event was stored: %d", r.Status)
	}

	env["HOGPIPE_IPV6_PREFIX"] = "128"
	ts = startServer(t, env)
	for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if r := send(ts, fmt.Sprintf("full-%d", i), addr); r.Status != 200 {
			t.Errorf("--ipv6-prefix 128, %s: %d, want 200 (own bucket per address)", addr, r.Status)
		}
	}
}

// TestSlowUploadsLeaveOthersServed: one client opens 1030 uploads that
// announce Content-Length: 100000 and send one byte. Before, they filled
// the 1024 in-flight slots in seconds and everyone, /healthz included, got
// 503 until the read timeout. Now that client gets --max-per-client
// uploads and 429 for the rest, the uploads hold no global slot while
// their bodies trickle in, and another client's webhook and /healthz
// answer 200. The rate limit is off, so it is not what saves the day.
func TestSlowUploadsLeaveOthersServed(t *testing.T) {
	const secret = "slow-upload-secret-0123456789"
	ts := startServer(t, map[string]string{"HOGPIPE_RATE_LIMIT": "0", "HOGPIPE_WEBHOOK_SECRET": secret,
		"HOGPIPE_TRUSTED_PROXIES": "127.0.0.0/8"})
	host := strings.TrimPrefix(ts.URL, "http://")
	const uploads = 1030
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	answered := make(chan int, uploads)
	for i := range uploads {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /api/webhooks/generation-failed HTTP/1.1\r\nHost: hogpipe.example.com\r\n"+
			"X-Forwarded-For: 198.51.100.66\r\nAuthorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n{", secret)
		readStatus(c, answered)
	}
	// The first answer to one of them (a 429 past the per-client cap)
	// means the server has taken in as many as it will. The old code gave
	// none until the read timeout, so there the wait ends after 2 s, when
	// the uploads long hold every slot: the time only lets the old failure
	// show, it decides nothing below.
	first := firstAnswer(answered)
	t.Logf("first answer to a slow upload: %d", first)

	for i := range 3 {
		r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody(fmt.Sprintf("other-%d", i), "p"),
			"Authorization", "Bearer "+secret, "X-Forwarded-For", "198.51.100.77")
		if r.Status != 200 {
			t.Fatalf("another client's webhook during the slow uploads: %d %v", r.Status, r.Body)
		}
		if h := get(t, ts.URL+"/healthz"); h.Status != 200 {
			t.Fatalf("/healthz during the slow uploads: %d %v", h.Status, h.Body)
		}
	}
	if first != http.StatusTooManyRequests {
		t.Errorf("the slow client's surplus uploads got %d, want 429", first)
	}
}

// readStatus reads the answer on c in its own goroutine and sends its
// status to answered.
func readStatus(c net.Conn, answered chan<- int) {
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
			answered <- resp.StatusCode
		}
	}()
}

// firstAnswer is the first status sent to answered, or 0 if none came
// within 2 s (the callers say why the time decides nothing).
func firstAnswer(answered <-chan int) int {
	select {
	case first := <-answered:
		return first
	case <-time.After(2 * time.Second):
		return 0
	}
}

// TestCaptureSniffsTheBody: posthog-js may say compression=gzip-js over a
// body that is a data=<base64> form or plain JSON. PostHog's capture
// sniffs the body; hogpipe answered 400 and the events were lost.
func TestCaptureSniffsTheBody(t *testing.T) {
	ts := startServer(t, nil)
	event := func(id string) string {
		return fmt.Sprintf(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":%q,"event":"generation_failed","properties":{"distinct_id":"d","input_prompt":"p"}}]}`, id)
	}
	for _, c := range []struct {
		id, query, contentType, body string
	}{
		{"sniff-form", "compression=gzip-js", "application/x-www-form-urlencoded", "data=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(event("sniff-form"))))},
		{"sniff-json", "compression=gzip-js", "text/plain", event("sniff-json")},
		{"sniff-gzip", "compression=base64", "text/plain", gzipBody(event("sniff-gzip"))},
	} {
		r := post(t, ts.URL+"/e/?"+c.query+"&ver=1.449.2", c.body, "Content-Type", c.contentType)
		if r.Status != 200 {
			t.Errorf("%s: %d %v", c.id, r.Status, r.Body)
			continue
		}
		if e := get(t, ts.URL+"/api/events/"+c.id); e.Status != 200 {
			t.Errorf("%s answered 200 but is not stored: %d", c.id, e.Status)
		}
	}
}

// TestCaptureRejectReasonIsOneLabel: a batch with refused events counts as
// one fixed reason however many were refused (it was "<n>_events_rejected",
// up to 999 label values), and the events are counted on their own.
func TestCaptureRejectReasonIsOneLabel(t *testing.T) {
	ts := startServer(t, nil)
	good := `{"uuid":"%s","event":"feature_used","properties":{"distinct_id":"d"}}`
	for i, bad := range []int{1, 2} {
		items := []string{fmt.Sprintf(good, fmt.Sprint("one-label-", i))}
		for range bad {
			items = append(items, `{"properties":{}}`)
		}
		r := post(t, ts.URL+"/e/", `{"api_key":"phc_hogpipe_local","batch":[`+strings.Join(items, ",")+`]}`)
		if r.Status != 200 {
			t.Fatalf("%d %v", r.Status, r.Body)
		}
	}
	text := scrape(t, ts.URL)
	if got := metricValue(text, `hogpipe_requests_rejected_total{reason="events_rejected"}`); got != "2" {
		t.Errorf(`reason="events_rejected" = %s, want 2`, got)
	}
	if got := metricValue(text, `hogpipe_capture_events_rejected_total`); got != "3" {
		t.Errorf("hogpipe_capture_events_rejected_total = %s, want 3", got)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, `_events_rejected"`) {
			t.Errorf("a label value per count: %s", line)
		}
	}
}

// TestJunkBodiesBoundedMemory runs hogpipe as its own process and sends
// rounds of 40 concurrent 1 MiB capture bodies of [0,0,0,…] and the like,
// without a valid token. Before, each was decoded whole (~33 MiB) before
// the token or the event count were looked at: peak RSS grew by ~1.3 GiB.
// The bound: peak RSS (VmHWM) grows by less than 100 MiB.
func TestJunkBodiesBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := needBinary(t)
	dir := t.TempDir()
	p := proctest.Start(t, bin, "", nil, "--data-dir", filepath.Join(dir, "data"),
		"--training-file", filepath.Join(dir, "training_data.jsonl"), "--log-level", "error")
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}}
	send := func(body []byte) (int, error) {
		resp, err := client.Post(p.URL+"/e/", "text/plain", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	// Warm up: the server has served requests and grown its pools.
	for i := range 20 {
		if st, err := send([]byte(fmt.Sprintf(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":"warm-%d","event":"feature_used","properties":{"distinct_id":"d"}}]}`, i))); err != nil || st != 200 {
			t.Fatalf("warm-up: %d %v", st, err)
		}
	}
	base := vmHWM(t, p.Cmd.Process.Pid)

	const size = 1 << 20
	// fill puts as many zeros in the array as the 1 MiB body holds.
	fill := func(head, tail string) []byte {
		n := (size - len(head) - len(tail) + 1) / 2
		return []byte(head + strings.Repeat("0,", n-1) + "0" + tail)
	}
	bodies := map[string][]byte{
		"array of numbers":                  fill("[", "]"),
		"envelope without a token":          fill(`{"batch":[`, `]}`),
		"unknown token, one huge event":     fill(`{"api_key":"phc_unknown","batch":[{"event":"x","properties":{"p":[`, `]}}]}`),
		"token after a huge event":          fill(`{"batch":[{"event":"x","properties":{"p":[`, `]}}],"api_key":"phc_unk"}`),
		"no token anywhere, one huge event": fill(`{"batch":[{"event":"x","properties":{"p":[`, `]}}]}`),
	}
	for name, body := range bodies {
		if len(body) > size {
			t.Fatalf("%s: %d bytes, over the 1 MiB body limit", name, len(body))
		}
		for round := range 2 {
			var wg sync.WaitGroup
			statuses := make(chan int, 40)
			for range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st, err := send(body)
					if err != nil {
						t.Errorf("%s: %v", name, err)
					}
					statuses <- st
				}()
			}
			wg.Wait()
			close(statuses)
			for st := range statuses {
				if st < 400 || st >= 500 {
					if st != 503 { // shed for lack of room is fine; stored is not
						t.Errorf("%s round %d: status %d, want a 4xx", name, round, st)
					}
				}
			}
		}
	}
	peak := vmHWM(t, p.Cmd.Process.Pid)
	t.Logf("peak RSS %d MiB before the junk, %d MiB after (+%d MiB)", base>>20, peak>>20, (peak-base)>>20)
	if peak-base >= 100<<20 {
		t.Errorf("peak RSS grew by %d MiB under 40 concurrent 1 MiB junk bodies; the bound is 100 MiB", (peak-base)>>20)
	}
	if st, err := send([]byte(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":"after","event":"feature_used","properties":{"distinct_id":"d"}}]}`)); err != nil || st != 200 {
		t.Errorf("a good request after the junk: %d %v", st, err)
	}
}

// vmHWM is a process's peak resident set size, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// TestCaptureBodyRefusedWhileArriving: a capture body that breaks a limit
// in its first bytes is answered at once, before the rest of it arrives,
// and the connection closed: a 1 MiB body of junk costs the server what it
// takes to see that, not a megabyte read. The client here sends 64 KiB of
// an announced 1 MiB and waits; before, the server waited for the rest
// (until its 30 s read timeout).
func TestCaptureBodyRefusedWhileArriving(t *testing.T) {
	ts := startServer(t, nil)
	host := strings.TrimPrefix(ts.URL, "http://")
	for _, c := range []struct {
		name, head string
		status     int
	}{
		{"too many events", "[" + strings.Repeat("0,", 32<<10), 413},
		{"unknown token first", `{"api_key":"phc_unknown","batch":[` + strings.Repeat(`{"event":"x"},`, 4<<10), 401},
		{"too deep", strings.Repeat("[", 64<<10), 400},
		// A webhook from elsewhere with no authentication configured is
		// refused on its headers: its body would not change the answer.
		{"webhook that cannot be authorized", `{"event":{"event":"generation_failed","properties":{"input_prompt":"` + strings.Repeat("x", 64<<10), 401},
	} {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		path, hostHeader := "/e/", host
		if strings.HasPrefix(c.name, "webhook") {
			path, hostHeader = "/api/webhooks/generation-failed", "hogpipe.example.com"
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", path, hostHeader, 1<<20-1, c.head)
		// Waiting for the answer is bounded well below the server's read
		// timeout, so a server that waits for the whole body fails here.
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Errorf("%s: no answer before the body was complete: %v", c.name, err)
			conn.Close()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(b), `"status":"error"`) {
			t.Errorf("%s: %d %s, want %d and a JSON error", c.name, resp.StatusCode, b, c.status)
		}
		if !resp.Close {
			t.Errorf("%s: the connection stays open for the unread rest of the body", c.name)
		}
	}
}
