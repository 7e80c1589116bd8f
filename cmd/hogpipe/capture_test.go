package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func gzipBody(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestCaptureEndpoints(t *testing.T) {
	ts := startServer(t, map[string]string{"HOGPIPE_CAPTURE_TOKENS": "phc_a, phc_b"})
	paths := []string{"/e/", "/e", "/i/v0/e/", "/i/v0/e", "/batch/", "/batch", "/capture/", "/capture"}
	for i, p := range paths {
		id := fmt.Sprintf("cap-%d", i)
		body := gzipBody(fmt.Sprintf(`{"api_key":"phc_b","batch":[{"uuid":%q,"event":"generation_failed","properties":{"distinct_id":"d","input_prompt":"via %s"}}],"sent_at":"2026-11-28T12:00:00Z"}`, id, p))
		r := post(t, ts.URL+p, body, "Content-Type", "text/plain")
		if r.Status != 200 || r.Body["status"] != "Ok" {
			t.Fatalf("%s: %d %v", p, r.Status, r.Body)
		}
	}
	lines := ts.trainingLines(t)
	if len(lines) != len(paths) {
		t.Fatalf("%d lines, want %d", len(lines), len(paths))
	}
	for i, l := range lines {
		if l["source"] != "capture" || l["input_prompt"] != "via "+paths[i] {
			t.Errorf("line %d = %v", i, l)
		}
	}
}

func TestCaptureTokensAndBadInput(t *testing.T) {
	ts := startServer(t, nil, "--max-body-bytes", "65536")
	stats := fmt.Sprint(ts.stats(t))
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown token", `{"api_key":"phc_nope","batch":[{"event":"x"}]}`, 401, "unauthorized"},
		{"no token", `{"batch":[{"event":"x"}]}`, 401, "unauthorized"},
		{"undecodable gzip", "\x1f\x8bnot really", 400, "malformed"},
		{"gzip bomb", gzipBody(`{"api_key":"phc_hogpipe_local","event":"x","properties":{"a":"` + strings.Repeat("z", 10<<20) + `"}}`), 413, "too_large"},
		{"no event name", `{"api_key":"phc_hogpipe_local","batch":[{"properties":{}}]}`, 422, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, ts.URL+"/e/", tt.body)
			if r.Status != tt.status || r.Body["code"] != tt.code {
				t.Errorf("%d %v, want %d %s", r.Status, r.Body, tt.status, tt.code)
			}
			if got := fmt.Sprint(ts.stats(t)); got != stats {
				t.Errorf("store changed: %s", got)
			}
		})
	}
	// One bad event does not lose the good ones, and the answer says which.
	r := post(t, ts.URL+"/e/", `{"api_key":"phc_hogpipe_local","batch":[{"event":"good","uuid":"g1"},{"uuid":"bad"}]}`)
	rej, _ := r.Body["rejected"].([]any)
	if r.Status != 200 || len(rej) != 1 || rej[0].(map[string]any)["index"] != float64(1) {
		t.Fatalf("mixed batch: %d %v", r.Status, r.Body)
	}
	if ts.stats(t)["events"] != float64(1) {
		t.Errorf("stats %v", ts.stats(t))
	}
}

func TestCapturePersonProperties(t *testing.T) {
	ts := startServer(t, nil)
	send := func(body string) {
		t.Helper()
		if r := post(t, ts.URL+"/e/", gzipBody(body)); r.Status != 200 {
			t.Fatalf("%d %v", r.Status, r.Body)
		}
	}
	// Anonymous browsing, then identify (merging the anonymous person),
	// then feature_used with no person data of its own.
	send(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":"p0","event":"$pageview","properties":{"distinct_id":"anon-1"},"$set_once":{"first_page":"/"}}]}`)
	send(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":"p1","event":"$identify","properties":{"distinct_id":"ada","$anon_distinct_id":"anon-1"},"$set":{"email":"ada@example.com"}}]}`)
	send(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":"p2","event":"feature_used","properties":{"distinct_id":"ada","feature":"export"}}]}`)
	// The original app's habit: the person inside the event's properties.
	send(`{"api_key":"phc_hogpipe_local","batch":[{"uuid":"p3","event":"feature_used","properties":{"distinct_id":"bob","person":{"properties":{"email":"bob@example.com"}}}}]}`)

	ev := get(t, ts.URL+"/api/events/p2").Body["event"].(map[string]any)
	person, _ := ev["person"].(map[string]any)
	if person["email"] != "ada@example.com" || person["first_page"] != "/" {
		t.Errorf("p2 person = %v", person)
	}
	ev = get(t, ts.URL+"/api/events/p3").Body["event"].(map[string]any)
	if person, _ := ev["person"].(map[string]any); person["email"] != "bob@example.com" {
		t.Errorf("p3 person = %v", ev["person"])
	}
	if r := get(t, ts.URL+"/api/events/nope"); r.Status != 404 {
		t.Errorf("unknown event: %d", r.Status)
	}
}

func TestCaptureCORSFlagsAndRemoteConfig(t *testing.T) {
	ts := startServer(t, nil)
	req, _ := http.NewRequest("OPTIONS", ts.URL+"/e/", nil)
	req.Header.Set("Origin", "http://localhost:4200")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:4200" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	r := post(t, ts.URL+"/flags/?v=2", `{"token":"phc_hogpipe_local","distinct_id":"x"}`)
	if r.Status != 200 || r.Body["errorsWhileComputingFlags"] != false {
		t.Errorf("flags: %d %v", r.Status, r.Body)
	}
	r = get(t, ts.URL+"/array/phc_hogpipe_local/config")
	if r.Status != 200 || r.Body["token"] != "phc_hogpipe_local" {
		t.Errorf("config: %d %v", r.Status, r.Body)
	}
	resp, err = http.Get(ts.URL + "/array/phc_hogpipe_local/config.js")
	if err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	js.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/javascript" || !strings.Contains(js.String(), `window._POSTHOG_REMOTE_CONFIG["phc_hogpipe_local"]`) {
		t.Errorf("config.js: %s %s", resp.Header.Get("Content-Type"), js.String())
	}
}
