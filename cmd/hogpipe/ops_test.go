package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// metricValue finds one sample line, e.g. `x_total{a="b"}`, and returns its value.
func metricValue(text, series string) string {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return "(absent)"
}

func TestMetricsCountKnownSequence(t *testing.T) {
	ts := startServer(t, nil)
	gf := ts.URL + "/api/webhooks/generation-failed"
	post(t, gf, gfBody("m1", "p"))
	post(t, gf, gfBody("m1", "p")) // duplicate
	post(t, gf, gfBody("m2", "p"))
	post(t, gf, `{"event":`)                                // 400 malformed
	post(t, gf, `{"event":"generation_failed"}`)            // 422 invalid
	post(t, ts.URL+"/e/", `{"api_key":"nope","event":"x"}`) // 401 unauthorized
	post(t, ts.URL+"/e/", `{"api_key":"phc_hogpipe_local","event":"feature_used","uuid":"m3","properties":{"distinct_id":"d"},"$set":{"email":"m@example.com"}}`)
	ts.trainingLines(t) // the mirror has caught up
	emailOf(t, ts, "m3")

	text := scrape(t, ts.URL)
	want := map[string]string{
		`hogpipe_events_stored_total{event="generation_failed",source="webhook"}`:                "2",
		`hogpipe_events_deduplicated_total{event="generation_failed",source="webhook"}`:          "1",
		`hogpipe_events_stored_total{event="feature_used",source="capture"}`:                     "1",
		`hogpipe_requests_rejected_total{reason="malformed"}`:                                    "1",
		`hogpipe_requests_rejected_total{reason="invalid"}`:                                      "1",
		`hogpipe_requests_rejected_total{reason="unauthorized"}`:                                 "1",
		`hogpipe_http_requests_total{route="POST /api/webhooks/generation-failed",status="200"}`: "3",
		`hogpipe_http_requests_total{route="POST /api/webhooks/generation-failed",status="400"}`: "1",
		`hogpipe_http_requests_total{route="POST /e/{$}",status="401"}`:                          "1",
		`hogpipe_ingest_duration_seconds_count{source="webhook"}`:                                "3",
		`hogpipe_email_outbox{state="dry_run"}`:                                                  "1",
		`hogpipe_email_outbox{state="queued"}`:                                                   "0",
		`hogpipe_email_sends_total{outcome="dry_run"}`:                                           "1",
		`hogpipe_training_file_lag`:                                                              "0",
		`hogpipe_email_oldest_queued_age_seconds`:                                                "0",
	}
	for series, v := range want {
		if got := metricValue(text, series); got != v {
			t.Errorf("%s = %s, want %s", series, got, v)
		}
	}
	if got := metricValue(text, "hogpipe_commit_batch_size_count"); got == "(absent)" || got == "0" {
		t.Errorf("no commits observed: %s", got)
	}
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
