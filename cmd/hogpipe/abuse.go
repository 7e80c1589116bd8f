package main

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
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe/jsonl"
	"github.com/hogpipe/hogpipe/sqlstore"
)

// runAbuse is "hogpipe bench --scenario abuse": well-formed webhook traffic
// from a few clients under their rate limit, while other clients flood
// above theirs, hold slowloris connections, post oversized bodies, keep 40
// junk capture bodies of 1 MiB ([0,0,0,…], no token) in flight, and one
// client opens 1030 slow uploads (Content-Length: 100000, one byte). It
// reports the well-formed traffic's latency and errors and then checks, in
// the store, that every event it got a 200 for is there.
//
// Each client dials from its own loopback address (127.0.0.x) and names a
// public Host, so hogpipe treats it as a remote client with its own bucket.
func runAbuse(ctx context.Context, env *environment, dur time.Duration, cpuProfile string) error {
	const secret = "abuse-test-secret-0123456789"
	getenv := func(k string) string {
		if k == "HOGPIPE_WEBHOOK_SECRET" {
			return secret
		}
		return env.getenv(k)
	}
	srv, err := startHogpipe(ctx, getenv, "--log-level", "error", "--rate-limit", "200", "--rate-burst", "200")
	if err != nil {
		return err
	}
	defer srv.Close()
	url := srv.URL
	hostport := strings.TrimPrefix(url, "http://")

	clientFrom := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 8}}
	}
	postAs := func(c *http.Client, body []byte) (int, error) {
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

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	var abuse struct {
		flood, flood429, big, big413, slow         atomic.Int64
		junk, junk4xx, junk503, uploads, upload429 atomic.Int64
	}
	rssBefore := peakRSS()

	// Over-rate clients: as fast as they can, from 4 addresses.
	for i := range 4 {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", 20+i))
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; time.Now().Before(deadline); j++ {
					st, err := postAs(c, []byte(fmt.Sprintf(`{"event":{"uuid":"flood-%d-%d-%d","event":"generation_failed","properties":{"input_prompt":"x"}}}`, i, j, time.Now().UnixNano())))
					abuse.flood.Add(1)
					if err == nil && st == 429 {
						abuse.flood429.Add(1)
					}
				}
			}()
		}
	}
	// Oversized bodies: 2 MiB each, against a 1 MiB limit.
	big := bytes.Repeat([]byte("a"), 2<<20)
	for i := range 4 {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", 30+i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				st, err := postAs(c, big)
				abuse.big.Add(1)
				if err == nil && st == 413 {
					abuse.big413.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
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
	for i := range 4 {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", 100+i))
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					req, _ := http.NewRequestWithContext(ctx, "POST", url+"/e/", bytes.NewReader(junk))
					req.Host = "hogpipe.example.com"
					resp, err := c.Do(req)
					abuse.junk.Add(1)
					if err != nil {
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case resp.StatusCode == 503:
						abuse.junk503.Add(1)
					case resp.StatusCode >= 400 && resp.StatusCode < 500:
						abuse.junk4xx.Add(1)
					}
				}
			}()
		}
	}
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

	// Well-formed traffic: 4 clients × 100 events/s, under their limit.
	var mu sync.Mutex
	var lat []time.Duration
	var acked []string
	var errs atomic.Int64
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
				st, err := postAs(c, []byte(fmt.Sprintf(`{"event":{"uuid":%q,"event":"generation_failed","properties":{"input_prompt":"good %d"}}}`, id, j)))
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
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("hogpipe: %w", err)
	}

	// Nothing acknowledged may be missing from the store.
	store, err := sqlstore.OpenSQLite(ctx, filepath.Join(srv.Dir, "data", "hogpipe.db"), sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	var out bytes.Buffer
	if _, err := jsonl.ExportWith(ctx, store, jsonl.Options{Format: jsonl.FormatV1}, &out, nil); err != nil {
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
	for _, id := range acked {
		if !stored[id] {
			missing++
		}
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(float64(len(lat)-1)*q)].Round(10 * time.Microsecond)
	}
	w := env.stdout
	fmt.Fprintf(w, "abuse scenario, %s\n", dur)
	fmt.Fprintf(w, "well-formed: %d acknowledged, %d errors, p50 %s, p99 %s, max %s; acknowledged but missing from the store: %d\n",
		len(acked), errs.Load(), p(0.5), p(0.99), p(1), missing)
	fmt.Fprintf(w, "over-rate clients: %d requests, %d answered 429\n", abuse.flood.Load(), abuse.flood429.Load())
	fmt.Fprintf(w, "oversized bodies: %d requests, %d answered 413\n", abuse.big.Load(), abuse.big413.Load())
	fmt.Fprintf(w, "slowloris connections opened: %d\n", abuse.slow.Load())
	fmt.Fprintf(w, "junk 1 MiB capture bodies (40 in flight): %d sent, %d answered 4xx, %d shed with 503\n",
		abuse.junk.Load(), abuse.junk4xx.Load(), abuse.junk503.Load())
	fmt.Fprintf(w, "slow uploads from one client: %d opened, %d refused at once with 429 (the rest held within --max-per-client)\n",
		abuse.uploads.Load(), abuse.upload429.Load())
	if rssBefore > 0 {
		fmt.Fprintf(w, "peak RSS of this process (server and load generator together): %d MiB at start, %d MiB at the end\n",
			rssBefore>>20, peakRSS()>>20)
	}
	if missing > 0 || errs.Load() > 0 {
		return fmt.Errorf("well-formed traffic suffered: %d errors, %d missing", errs.Load(), missing)
	}
	return nil
}

// peakRSS is this process's peak resident set size (VmHWM), 0 if unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
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
