package server

import (
	"net/http/httptest"
	"testing"
)

// isLocal against what a page on another site can make a browser send to
// the operator's hogpipe, and what hogpipe's own page and curl send.
func TestIsLocalRefusesCrossSite(t *testing.T) {
	for _, c := range []struct {
		name, host string
		headers    []string
		want       bool
	}{
		{"curl", "127.0.0.1:3000", nil, true},
		{"own page, same origin", "127.0.0.1:3000", []string{"Origin", "http://127.0.0.1:3000", "Sec-Fetch-Site", "same-origin"}, true},
		{"own page via localhost", "localhost:3000", []string{"Origin", "http://LOCALHOST:3000"}, true},
		{"IPv6 loopback", "[::1]:3000", []string{"Origin", "http://[::1]:3000"}, true},
		{"typed into the address bar", "127.0.0.1:3000", []string{"Sec-Fetch-Site", "none"}, true},
		{"another site", "127.0.0.1:3000", []string{"Origin", "https://evil.example"}, false},
		{"another port on this machine", "127.0.0.1:3000", []string{"Origin", "http://127.0.0.1:8080"}, false},
		{"localhost page to 127.0.0.1", "127.0.0.1:3000", []string{"Origin", "http://localhost:3000"}, false},
		{"a look-alike host", "127.0.0.1:3000", []string{"Origin", "http://127.0.0.1:3000.evil.example"}, false},
		{"null origin (sandboxed frame, file:)", "127.0.0.1:3000", []string{"Origin", "null"}, false},
		{"not a URL", "127.0.0.1:3000", []string{"Origin", "%%%"}, false},
		{"another scheme", "127.0.0.1:3000", []string{"Origin", "chrome-extension://abc"}, false},
		{"Sec-Fetch-Site cross-site", "127.0.0.1:3000", []string{"Sec-Fetch-Site", "cross-site"}, false},
		{"Sec-Fetch-Site same-site", "127.0.0.1:3000", []string{"Sec-Fetch-Site", "Same-Site"}, false},
		{"own Origin but cross-site fetch metadata", "127.0.0.1:3000", []string{"Origin", "http://127.0.0.1:3000", "Sec-Fetch-Site", "cross-site"}, false},
	} {
		r := httptest.NewRequest("POST", "/api/webhooks/posthog", nil)
		r.RemoteAddr, r.Host = "127.0.0.1:51000", c.host
		for i := 0; i+1 < len(c.headers); i += 2 {
			r.Header.Set(c.headers[i], c.headers[i+1])
		}
		if got := isLocal(r); got != c.want {
			t.Errorf("%s: isLocal = %v, want %v", c.name, got, c.want)
		}
	}
}

// preflighted: only what a cross-origin page cannot send without asking.
func TestPreflighted(t *testing.T) {
	for _, c := range []struct {
		headers []string
		want    bool
	}{
		{nil, false},
		{[]string{"Content-Type", "text/plain"}, false},
		{[]string{"Content-Type", "text/plain; charset=application/json"}, false},
		{[]string{"Content-Type", "application/x-www-form-urlencoded"}, false},
		{[]string{"Content-Type", "multipart/form-data; boundary=x"}, false},
		{[]string{"Content-Type", "application/jsonp"}, false},
		{[]string{"Content-Type", "application/json"}, true},
		{[]string{"Content-Type", "Application/JSON; charset=utf-8"}, true},
		{[]string{"Content-Type", "application/vnd.api+json"}, true},
		{[]string{"X-Requested-With", "XMLHttpRequest"}, true},
		{[]string{"Authorization", "Bearer x"}, true},
	} {
		r := httptest.NewRequest("POST", "/", nil)
		for i := 0; i+1 < len(c.headers); i += 2 {
			r.Header.Set(c.headers[i], c.headers[i+1])
		}
		if got := preflighted(r); got != c.want {
			t.Errorf("%v: preflighted = %v, want %v", c.headers, got, c.want)
		}
	}
	// Methods outside the CORS safelist are always preflighted by browsers.
	for method, want := range map[string]bool{"GET": false, "HEAD": false, "POST": false, "DELETE": true, "PUT": true, "PATCH": true} {
		if got := preflighted(httptest.NewRequest(method, "/", nil)); got != want {
			t.Errorf("%s without headers: preflighted = %v, want %v", method, got, want)
		}
	}
}
