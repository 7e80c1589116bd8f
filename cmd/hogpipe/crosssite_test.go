package main

import (
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
)

// A page on another site, open in the operator's browser, can send simple
// requests (no preflight) to http://127.0.0.1:PORT. None of them may store
// a training example, send an email or replay the outbox. Before the fix
// each of the hostile rows below was taken as the operator's own request.
func TestCrossSiteRequestsAreRefused(t *testing.T) {
	mg, ts := mailServer(t)
	own := "http://" + strings.TrimPrefix(ts.URL, "http://")

	// One failed email, for the replay attempts below.
	mg.Then(mailguntest.Response{Status: 400, Message: "bad address"})
	post(t, ts.URL+"/api/webhooks/feature-used", featureBody("xs-failed", "f@example.com"))
	if e := emailOf(t, ts, "xs-failed"); e["state"] != "failed" {
		t.Fatalf("setup: %v", e)
	}
	sentBefore := len(mg.Messages())

	gf := ts.URL + "/api/webhooks/generation-failed"
	fu := ts.URL + "/api/webhooks/feature-used"
	replay := ts.URL + "/api/emails/replay?state=failed"
	hostile := []struct {
		name, url, body string
		headers         []string
		status          int
	}{
		{"form post from another site", gf, gfBody("xs1", "planted"), []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, 401},
		{"JSON from another site", gf, gfBody("xs2", "planted"), []string{"Origin", "https://evil.example"}, 401},
		{"null origin", gf, gfBody("xs3", "planted"), []string{"Origin", "null"}, 401},
		{"same port, other host name", gf, gfBody("xs4", "planted"), []string{"Origin", "http://evil.example:" + ts.URL[strings.LastIndex(ts.URL, ":")+1:]}, 401},
		{"Sec-Fetch-Site cross-site, no Origin", gf, gfBody("xs5", "planted"), []string{"Sec-Fetch-Site", "cross-site"}, 401},
		{"Sec-Fetch-Site same-site", gf, gfBody("xs6", "planted"), []string{"Sec-Fetch-Site", "same-site", "Origin", own}, 401},
		{"old browser form: no Origin, text/plain", gf, gfBody("xs7", "planted"), []string{"Content-Type", "text/plain"}, 415},
		{"urlencoded form, no Origin", gf, gfBody("xs8", "planted"), []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"no Content-Type at all", gf, gfBody("xs9", "planted"), []string{"Content-Type", ""}, 415},
		{"email through the operator's Mailgun", fu, featureBody("xs10", "victim@example.org"), []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, 401},
		{"email, old browser", fu, featureBody("xs11", "victim@example.org"), []string{"Content-Type", "text/plain"}, 415},
		// Admin writes from another site: 403 naming the cross-origin
		// request (server/crossorigin.go), before any token question.
		{"replay from another site", replay, "", []string{"Content-Type", "text/plain", "Origin", "https://evil.example"}, 403},
		{"replay, old browser", replay, "", []string{"Content-Type", "text/plain"}, 415},
		{"replay, Sec-Fetch-Site", replay, "", []string{"Sec-Fetch-Site", "cross-site"}, 403},
	}
	for _, h := range hostile {
		r := post(t, h.url, h.body, h.headers...)
		if r.Status != h.status || r.Body["error"] == nil {
			t.Errorf("%s: %d %v, want %d with an error", h.name, r.Status, r.Body, h.status)
		}
	}
	// Reading the dashboard data from another site is refused too.
	req := mustRequest(t, "GET", ts.URL+"/api/events", "")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := do(t, req); r.Status != 401 {
		t.Errorf("cross-site read: %d", r.Status)
	}

	// Nothing was stored, sent or requeued.
	st := ts.stats(t)
	if st["events"] != float64(1) || st["training_examples"] != float64(0) {
		t.Errorf("stats after hostile requests: %v", st)
	}
	if e := emailOf(t, ts, "xs-failed"); e["state"] != "failed" {
		t.Errorf("the failed email was replayed: %v", e)
	}
	if len(mg.Messages()) != sentBefore {
		t.Errorf("%d messages sent by cross-site requests", len(mg.Messages())-sentBefore)
	}

	// The operator's own requests still work: hogpipe's own page (same
	// origin) and curl with JSON.
	if r := post(t, gf, gfBody("own1", "p"), "Origin", own, "Sec-Fetch-Site", "same-origin"); r.Status != 200 {
		t.Errorf("same-origin JSON: %d %v", r.Status, r.Body)
	}
	if r := post(t, gf, gfBody("own2", "p"), "Content-Type", "application/json; charset=utf-8"); r.Status != 200 {
		t.Errorf("curl with JSON: %d %v", r.Status, r.Body)
	}
	if r := post(t, replay, "", "Content-Type", "", "X-Requested-With", "curl"); r.Status != 200 || r.Body["requeued"] != float64(1) {
		t.Errorf("local replay with a custom header: %d %v", r.Status, r.Body)
	}
	// Capture stays open to every origin: its token is public.
	capture := `{"api_key":"phc_hogpipe_local","batch":[{"uuid":"cap-x","event":"generation_failed","properties":{"distinct_id":"d","input_prompt":"from a page elsewhere"}}]}`
	if r := post(t, ts.URL+"/e/", capture, "Content-Type", "text/plain", "Origin", "https://app.example"); r.Status != 200 {
		t.Errorf("cross-origin capture: %d %v", r.Status, r.Body)
	}
}
