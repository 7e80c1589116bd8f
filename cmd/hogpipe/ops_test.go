package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
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
