package loadtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hogpipe/hogpipe/internal/noop"
)

// Ingest is the ingest scenario's settings.
type Ingest struct {
	Clients  int           // concurrent keep-alive clients
	Duration time.Duration // of each measurement
	// URL is a running hogpipe to measure; empty starts one through Serve
	// with ServeArgs.
	URL        string
	Serve      ServeFunc
	ServeArgs  []string
	CPUProfile string // file for a CPU profile of the hogpipe measurement
}

// Run measures what docs/BENCHMARKS.md reports: durable events/s and
// latency of POST /api/webhooks/generation-failed under N keep-alive
// clients, beside the no-op handler driven the same way in the same run, so
// the ratio means something on any machine. It writes the table to w.
func (in Ingest) Run(ctx context.Context, w io.Writer) error {
	base, err := measureNoop(ctx, in.Clients, in.Duration)
	if err != nil {
		return err
	}

	url := strings.TrimSuffix(in.URL, "/")
	if url == "" {
		s, err := StartInProcess(ctx, in.Serve, in.ServeArgs...)
		if err != nil {
			return err
		}
		defer s.Close()
		url = s.URL
	}
	if in.CPUProfile != "" {
		f, err := os.Create(in.CPUProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
	}
	got := measure(ctx, url+"/api/webhooks/generation-failed", in.Clients, in.Duration, true)
	pprof.StopCPUProfile()

	fmt.Fprintf(w, "clients=%d duration=%s\n", in.Clients, in.Duration)
	fmt.Fprintf(w, "%-34s %12s %10s %10s %8s\n", "target", "requests/s", "p50", "p99", "errors")
	for _, r := range []result{base, got} {
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

type result struct {
	name     string
	rate     float64
	p50, p99 time.Duration
	errors   int64
}

// measureNoop drives the no-op handler of bench/noop, served in this
// process on a free port, as the hogpipe measurement drives hogpipe.
func measureNoop(ctx context.Context, clients int, dur time.Duration) (result, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, fmt.Errorf("no-op baseline: %w", err)
	}
	srv := &http.Server{Handler: noop.Handler()}
	go srv.Serve(ln)
	defer srv.Close()
	return measure(ctx, "http://"+ln.Addr().String()+"/", clients, dur, false), nil
}

func measure(ctx context.Context, url string, clients int, dur time.Duration, events bool) result {
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
	r := result{name: "no-op net/http handler", errors: errs.Load()}
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
