package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// tcpForwarder is what ssh -R (or any raw TCP tunnel) puts in front of
// hogpipe: connections from anywhere arrive from a loopback peer, with
// every byte, the Host header included, as their sender wrote it.
func tcpForwarder(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// Through a raw TCP tunnel, an internet client can write "Host: localhost"
// and so look like the operator: no admin token needed, webhooks without
// their secret, capture events that send real email, no per-client
// limits. --trust-local=false (HOGPIPE_TRUST_LOCAL=false) is the switch
// for such deployments: then nothing is local, whatever the Host. Before
// the flag, a server with an admin token still served the whole read API
// to such a request.
func TestTunnelCannotClaimLocal(t *testing.T) {
	mg := newMailgun(t)
	const admin = "admin-token-0123456789abcdef"
	ts := startServer(t, mailEnv(mg, "HOGPIPE_ADMIN_TOKEN", admin, "HOGPIPE_TRUST_LOCAL", "false"))
	tunnel := tcpForwarder(t, strings.TrimPrefix(ts.URL, "http://"))

	spoof := func(method, path, body string, headers ...string) response {
		t.Helper()
		req := mustRequest(t, method, tunnel+path, body)
		req.Host = "localhost" // what an attacker writes; the peer is the tunnel's loopback
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		return do(t, req)
	}
	if r := spoof("GET", "/api/events", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("read API through the tunnel without the token: %d %v, want 401", r.Status, r.Body)
	}
	if r := spoof("POST", "/api/emails/replay", `{}`); r.Status != http.StatusUnauthorized {
		t.Errorf("replay through the tunnel without the token: %d %v, want 401", r.Status, r.Body)
	}
	hook := `{"event":{"uuid":"0190b0e6-0000-7000-8000-00000000f001","event":"generation_failed","distinct_id":"x",` +
		`"properties":{"input_prompt":"planted","failure_reason":"r"}}}`
	if r := spoof("POST", "/api/webhooks/posthog", hook); r.Status != http.StatusUnauthorized {
		t.Errorf("unauthenticated webhook through the tunnel: %d %v, want 401", r.Status, r.Body)
	}
	if r := spoof("POST", "/e/", captureFeature("tunnel", "victim@example.org")); r.Status != http.StatusOK {
		t.Fatalf("capture through the tunnel: %d %v", r.Status, r.Body)
	}

	// The operator, with the token, sees what happened.
	withToken := func(path string) response {
		t.Helper()
		req := mustRequest(t, "GET", ts.URL+path, "")
		req.Header.Set("Authorization", "Bearer "+admin)
		return do(t, req)
	}
	if r := withToken("/api/events/0190b0e6-0000-7000-8000-00000000f001"); r.Status != http.StatusNotFound {
		t.Errorf("refused webhook was stored: %d %v", r.Status, r.Body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := withToken("/api/events/tunnel")
		email, _ := r.Body["email"].(map[string]any)
		if st, _ := email["state"].(string); st != "" && st != "queued" && st != "sending" && st != "retrying" {
			if reason, _ := email["reason"].(string); st != "skipped" || !strings.Contains(reason, "--email-from-capture") {
				t.Errorf("capture through the tunnel: email %v, want skipped", email)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settled email for the tunnel's capture: %v", r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if msgs := mg.Messages(); len(msgs) != 0 {
		t.Errorf("mail sent for a tunnelled capture: %+v", msgs)
	}
}
