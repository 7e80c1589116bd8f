package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runBench measures what docs/BENCHMARKS.md reports: durable events/s and
// latency of POST /api/webhooks/generation-failed under N keep-alive
// clients, beside a no-op net/http handler driven the same way in the same
// run, so the ratio means something on any machine.
func runBench(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet("bench", "Measure ingest throughput and latency against a no-op baseline.", env)
	clients := fs.Int("clients", "HOGPIPE_BENCH_CLIENTS", 64, "concurrent keep-alive clients")
	dur := fs.Duration("duration", "HOGPIPE_BENCH_DURATION", 10*time.Second, "how long each measurement runs")
	target := fs.String("url", "HOGPIPE_BENCH_URL", "", "measure this running hogpipe instead of starting one (base URL)")
	logLevel := fs.String("log-level", "HOGPIPE_BENCH_LOG_LEVEL", "info", "log level of the hogpipe started for the run (logs are discarded)")
	cpuProfile := fs.String("cpuprofile", "HOGPIPE_BENCH_CPUPROFILE", "", "write a CPU profile of the hogpipe measurement (with abuse: the well-formed clients' process) to this file")
	scenario := fs.String("scenario", "HOGPIPE_BENCH_SCENARIO", "ingest", "ingest (throughput and latency) or abuse (well-formed traffic beside hostile clients)")
	if err := fs.parse(args); err != nil {
		return usageError{err}
	}
	if *clients < 1 || *dur <= 0 {
		return usagef("--clients and --duration must be positive")
	}
	switch *scenario {
	case "ingest":
	case "abuse":
		return runAbuse(ctx, env, *dur, *target, *cpuProfile)
	default:
		return usagef("--scenario %q: use ingest or abuse", *scenario)
	}

	noop, stopNoop, err := startNoop()
	if err != nil {
		return err
	}
	base := measure(ctx, noop+"/", *clients, *dur, false)
	stopNoop()

	url := strings.TrimSuffix(*target, "/")
	if url == "" {
		p, err := startHogpipe(ctx, env.getenv, "--log-level", *logLevel)
		if err != nil {
			return err
		}
		defer p.Close()
		url = p.URL
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	got := measure(ctx, url+"/api/webhooks/generation-failed", *clients, *dur, true)
	pprof.StopCPUProfile()

	w := env.stdout
	fmt.Fprintf(w, "clients=%d duration=%s\n", *clients, *dur)
	fmt.Fprintf(w, "%-34s %12s %10s %10s %8s\n", "target", "requests/s", "p50", "p99", "errors")
	for _, r := range []benchResult{base, got} {
		fmt.Fprintf(w, "%-34s %12.0f %10s %10s %8d\n", r.name, r.rate, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.errors)
	}
	if base.rate > 0 {
		fmt.Fprintf(w, "ratio hogpipe/no-op: %.2f\n", got.rate/base.rate)
	}
	if got.errors > 0 {
		return fmt.Errorf("%d requests failed", got.errors)
	}
	return nil
}

type benchResult struct {
	name     string
	rate     float64
	p50, p99 time.Duration
	errors   int64
}

func startNoop() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// inProcess is a "hogpipe serve" run in this process on a free port with a
// throwaway directory, for the load scenarios.
type inProcess struct {
	URL, Dir string
	stop     func() error
	stopped  bool
}

// startHogpipe runs serve with args added to the defaults; getenv is the
// environment it sees.
func startHogpipe(ctx context.Context, getenv func(string) string, args ...string) (*inProcess, error) {
	dir, err := os.MkdirTemp("", "hogpipe-bench-*")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(sctx, append([]string{"hogpipe", "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
			"--training-file", filepath.Join(dir, "training_data.jsonl")}, args...), getenv, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	p := &inProcess{Dir: dir, stop: func() error { cancel(); return <-done }}
	if err != nil {
		p.Close()
		return nil, errors.New("hogpipe did not start")
	}
	p.URL = strings.TrimSpace(strings.TrimPrefix(line, "hogpipe listening on "))
	return p, nil
}

// Stop shuts the server down (once) and returns how serve ended.
func (p *inProcess) Stop() error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	return p.stop()
}

// Close stops the server and removes its directory.
func (p *inProcess) Close() error {
	err := p.Stop()
	os.RemoveAll(p.Dir)
	return err
}

func measure(ctx context.Context, url string, clients int, dur time.Duration, events bool) benchResult {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var errs atomic.Int64
	lat := make([][]time.Duration, clients)
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body bytes.Buffer
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				body.Reset()
				fmt.Fprintf(&body, `{"event":{"uuid":"bench-%d-%d-%d","event":"generation_failed","distinct_id":"user-%d",`+
					`"properties":{"failure_reason":"timeout","input_prompt":"benchmark prompt number %d","$lib":"bench"},`+
					`"timestamp":"2026-11-28T12:00:00.000Z"}}`, start.UnixNano(), c, i, c, i)
				t := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(body.Bytes()))
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	r := benchResult{name: "no-op net/http handler", errors: errs.Load()}
	if events {
		r.name = "hogpipe generation-failed (durable)"
	}
	if len(all) > 0 {
		r.rate = float64(len(all)) / elapsed.Seconds()
		r.p50 = all[len(all)/2]
		r.p99 = all[len(all)*99/100]
	}
	return r
}
