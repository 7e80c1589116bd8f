package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkEmailSend measures emails/s through the whole email path with
// the default worker settings (32 workers, 10 s timeout): b.N feature_used
// events posted in batches of 500, each queued in its event's transaction,
// claimed, rendered, sent with mailgun-go to a local Mailgun-compatible
// server (which checks auth and form fields) and recorded as sent.
func BenchmarkEmailSend(b *testing.B) {
	mg := newMailgun(b)
	ts := startServer(b, map[string]string{"MAILGUN_API_KEY": mg.APIKey, "HOGPIPE_PUBLIC_URL": testPublicURL, "MAILGUN_DOMAIN": mg.Domain, "MAILGUN_API_BASE": mg.URL,
		"HOGPIPE_EMAIL_SENDS_PER_HOUR": "0", "HOGPIPE_EMAIL_DOMAIN_SENDS_PER_HOUR": "0"})
	b.ResetTimer()
	for i := 0; i < b.N; i += 500 {
		var batch []string
		for j := i; j < min(i+500, b.N); j++ {
			batch = append(batch, fmt.Sprintf(`{"event":"feature_used","uuid":"b-%d","person":{"properties":{"email":"u%d@example.com"}}}`, j, j))
		}
		if r := post(b, ts.URL+"/api/webhooks/posthog", "["+strings.Join(batch, ",")+"]"); r.Status != 200 {
			b.Fatal(r.Body)
		}
	}
	// A deadline, so a send path that stalls (or fails emails instead of
	// sending them) ends the benchmark with the counts instead of hanging
	// it: a minute, plus a millisecond per email (default settings send
	// thousands a second). Polled every 2 ms, not with proctest.Eventually,
	// whose 100 ms steps would show in the figure.
	deadline := time.Now().Add(time.Minute + time.Duration(b.N)*time.Millisecond)
	for {
		st := ts.stats(b)["emails_by_state"].(map[string]any)
		if st["sent"] == float64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d emails not all sent by the deadline; by state: %v", b.N, st)
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "emails/s")
}
