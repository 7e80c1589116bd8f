package main

import (
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/mailguntest"
)

// TestLogsHoldNoSecretsOrEmails runs a server at info level with every
// secret configured, through the paths that log (requests accepted and
// refused, emails sent, failed and retried, capture with $set), and then
// looks for each secret and each email address in what it logged.
func TestLogsHoldNoSecretsOrEmails(t *testing.T) {
	const (
		mailgunKey   = "key-mailgun-secret-0123456789abcdef"
		webhookSec   = "webhook-secret-0123456789abcdef"
		wrongSec     = "wrong-webhook-secret-0123456789"
		adminToken   = "admin-token-secret-0123456789abcdef"
		wrongToken   = "wrong-admin-token-0123456789abcdef"
		signingSec   = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		sentTo       = "grace.hopper@example.com"
		failedTo     = "ada.lovelace@example.com"
		capturedAddr = "katherine.johnson@example.com"
	)
	mg := mailguntest.New(mailgunKey, "mg.example.com")
	defer mg.Close()
	env := mailEnv(mg, "HOGPIPE_WEBHOOK_SECRET", webhookSec, "HOGPIPE_ADMIN_TOKEN", adminToken,
		"HOGPIPE_WEBHOOK_SIGNING_SECRET", signingSec, "HOGPIPE_EMAIL_MAX_ATTEMPTS", "2")
	ts := startServer(t, env, "--log-level", "info")
	hook := ts.URL + "/api/webhooks/feature-used"

	if r := post(t, hook, featureBody("sent", sentTo), "Authorization", "Bearer "+webhookSec); r.Status != 200 {
		t.Fatal(r.Body)
	}
	if e := emailOf(t, ts, "sent"); e["state"] != "sent" {
		t.Fatalf("email: %v", e)
	}
	mg.Then(mailguntest.Response{Status: 400, Message: "'to' parameter is not a valid address: " + failedTo})
	post(t, hook, featureBody("failed", failedTo), "Authorization", "Bearer "+webhookSec)
	if e := emailOf(t, ts, "failed"); e["state"] != "failed" {
		t.Fatalf("email: %v", e)
	}
	if r := post(t, hook, featureBody("refused", sentTo), "Authorization", "Bearer "+wrongSec); r.Status != 401 {
		t.Errorf("wrong secret: %d", r.Status)
	}
	if r := post(t, hook, featureBody("refused2", sentTo), "X-Hogpipe-Secret", wrongSec); r.Status != 401 {
		t.Errorf("wrong secret header: %d", r.Status)
	}
	capture := `{"api_key":"phc_hogpipe_local","event":"$identify","distinct_id":"kj","$set":{"email":"` + capturedAddr + `"}}`
	if r := post(t, ts.URL+"/i/v0/e/", capture); r.Status != 200 {
		t.Errorf("capture: %d %v", r.Status, r.Body)
	}
	for _, tok := range []string{adminToken, wrongToken} {
		req := mustRequest(t, "GET", ts.URL+"/api/emails", "")
		req.Host = "hogpipe.example.com"
		req.Header.Set("Authorization", "Bearer "+tok)
		do(t, req)
	}

	logs := ts.Logs()
	if n := strings.Count(logs, `"msg":"request"`); n < 7 || !strings.Contains(logs, `"msg":"email failed`) ||
		!strings.Contains(logs, "not a valid address: [EMAIL]") {
		t.Fatalf("%d request lines, and the failed email's line with its redacted error, should be in the log; the test needs them to mean anything:\n%s", n, logs)
	}
	for _, secret := range []string{mailgunKey, webhookSec, wrongSec, adminToken, wrongToken, signingSec,
		strings.TrimPrefix(signingSec, "whsec_"), sentTo, failedTo, capturedAddr, "grace.hopper", "ada.lovelace"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
}
