package server

import (
	"net/http/httptest"
	"testing"
)

// TestLoopbackAddrMatchesIsLocal: a listen address counts as this
// machine's exactly when a request from a loopback peer naming it as Host
// counts as local, so serve's exposed-listener rule and the request rule
// agree on every address in the table.
func TestLoopbackAddrMatchesIsLocal(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:3000", true},
		{"127.0.0.2:3000", true},
		{"localhost:3000", true},
		{"[::1]:3000", true},
		{"[::ffff:127.0.0.1]:3000", true},
		{":3000", false},
		{"0.0.0.0:3000", false},
		{"[::]:3000", false},
		{"10.0.0.1:80", false},
		{"example.com:443", false},
		{"localhost.example.com:3000", false},
		{"3000", false},
		{"", false},
	} {
		if got := LoopbackAddr(tc.addr); got != tc.want {
			t.Errorf("LoopbackAddr(%q) = %v, want %v", tc.addr, got, tc.want)
		}
		if tc.addr == "" || tc.addr == "3000" {
			continue // not a Host a client could send with a port
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		r.Host = tc.addr
		if got := isLocal(r); got != tc.want {
			t.Errorf("isLocal with Host %q = %v, but LoopbackAddr says %v", tc.addr, got, tc.want)
		}
		sec := Security{}
		if got := sec.Exposed(tc.addr); got != !tc.want {
			t.Errorf("Exposed(%q) without webhook auth = %v, want %v", tc.addr, got, !tc.want)
		}
		sec.WebhookSecret = "0123456789abcdef"
		if sec.Exposed(tc.addr) {
			t.Errorf("Exposed(%q) with a webhook secret; authenticated webhooks are not exposed", tc.addr)
		}
	}
}
