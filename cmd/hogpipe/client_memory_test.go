package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestStalledUploadsLeaveOthersMemory: one client sends uploads one byte
// short of their announced length and stalls, each within --max-per-client.
// A body of length L holds L+1 bytes of the budget once L-1 have arrived,
// so eight such uploads of 1 MiB-1 hold --max-request-memory (8 MiB here)
// to the byte. Before, they held it until the read timeout, and another
// client's webhook waited 2 s for room, then got 503. Now one client's uploads in flight hold at most
// its share (an eighth of the budget, at least two bodies): past it they
// get 429, and the other client is served. The rate limit is off.
func TestStalledUploadsLeaveOthersMemory(t *testing.T) {
	const secret = "stalled-upload-secret-0123456789"
	ts := startServer(t, map[string]string{"HOGPIPE_RATE_LIMIT": "0", "HOGPIPE_WEBHOOK_SECRET": secret,
		"HOGPIPE_TRUSTED_PROXIES": "127.0.0.0/8", "HOGPIPE_MAX_REQUEST_MEMORY": "8MiB"})
	host := strings.TrimPrefix(ts.URL, "http://")
	const uploads = 10
	const length = 1<<20 - 1
	chunk := strings.Repeat(" ", length-1)
	answered := make(chan int, uploads)
	for i := range uploads {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		defer c.Close()
		go func() {
			// The write blocks while the server does not read, hence its
			// own goroutine.
			fmt.Fprintf(c, "POST /api/webhooks/generation-failed HTTP/1.1\r\nHost: hogpipe.example.com\r\n"+
				"X-Forwarded-For: 198.51.100.66\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", secret, length, chunk)
		}()
		readStatus(c, answered)
	}
	// The first answer to a stalled upload (a 429 past the client's share)
	// means the server has taken in what it will. The old code answered
	// none before the budget wait, so there the wait ends after 2 s, when
	// the uploads long hold the budget: the time only lets the old failure
	// show, it decides nothing below.
	first := firstAnswer(answered)
	for i := range 3 {
		r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody(fmt.Sprintf("mem-other-%d", i), "p"),
			"Authorization", "Bearer "+secret, "X-Forwarded-For", "198.51.100.77")
		if r.Status != 200 {
			t.Fatalf("another client's webhook during the stalled uploads: %d %v", r.Status, r.Body)
		}
	}
	if first != http.StatusTooManyRequests {
		t.Errorf("the stalled client's surplus uploads got %d, want 429", first)
	}
}
