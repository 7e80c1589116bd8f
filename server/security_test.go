package server

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"no proxy", "203.0.113.5:4000", nil, "203.0.113.5"},
		{"untrusted peer: header ignored", "203.0.113.5:4000", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted peer", "10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client-written hops to the left are ignored", "10.1.2.3:4000", []string{"192.0.2.66, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.1.2.3:4000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines", "10.1.2.3:4000", []string{"192.0.2.66", "198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"only trusted hops", "10.1.2.3:4000", []string{"10.9.9.9"}, "10.1.2.3"},
		{"no header from a trusted peer", "10.1.2.3:4000", nil, "10.1.2.3"},
		{"garbage where the client should be", "10.1.2.3:4000", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"IPv6 trusted peer, mapped client", "[::1]:4000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"IPv6 client", "[::1]:4000", []string{"2001:db8::1"}, "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, trusted); got != c.want {
			t.Errorf("%s: clientIP = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestClientKey(t *testing.T) {
	for _, c := range []struct {
		ip     string
		prefix int
		want   string
	}{
		{"198.51.100.7", 64, "198.51.100.7"},
		{"::ffff:198.51.100.7", 64, "198.51.100.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},
		{"2001:db8:1:2ff::1", 56, "2001:db8:1:200::/56"},
		{"2001:db8::1", 128, "2001:db8::1"},
		{"fe80::1%eth0", 64, "fe80::/64"},
		{"not-an-ip", 64, "not-an-ip"},
	} {
		if got := clientKey(c.ip, c.prefix); got != c.want {
			t.Errorf("clientKey(%q, %d) = %q, want %q", c.ip, c.prefix, got, c.want)
		}
	}
}

// TestLimiterIsBounded: however many clients come, the limiter holds at
// most its maximum of buckets (the least recently seen go first), and idle
// buckets are swept as requests come, without a pass over the whole map.
func TestLimiterIsBounded(t *testing.T) {
	now := time.Unix(1764331200, 0)
	l := newLimiter(1, 2, 160)
	for i := range 100_000 {
		l.allow(fmt.Sprintf("client-%d", i), now)
	}
	if n := l.len(); n > 160 {
		t.Fatalf("%d buckets held; the bound is 160", n)
	}
	// The most recent client kept its bucket: its burst is spent.
	l.allow("client-99999", now)
	if ok, _ := l.allow("client-99999", now); ok {
		t.Error("a recent client's bucket was evicted")
	}
	// Idle past the refill time, buckets go as traffic passes by (a few
	// per request, not in one pass under a lock).
	l = newLimiter(1, 2, 100_000)
	for i := range 1000 {
		l.allow(fmt.Sprintf("client-%d", i), now)
	}
	// Sweeps happen per shard, so the active clients must reach every
	// shard: with 200 keys a shard (random seed) could get one or none,
	// and keep old buckets (the test flaked once in ~40 runs); with 1600
	// every shard gets ~100 of them.
	later := now.Add(time.Hour)
	for i := range 32_000 {
		l.allow(fmt.Sprintf("new-%d", i%1600), later)
	}
	if n := l.len(); n != 1600 {
		t.Errorf("%d buckets after every old one went idle; want the 1600 active ones", n)
	}
}

func TestClientSlots(t *testing.T) {
	c := newClientSlots(2)
	if !c.acquire("a") || !c.acquire("a") || c.acquire("a") {
		t.Fatal("want two slots for a, then a refusal")
	}
	if !c.acquire("b") {
		t.Error("b refused because of a")
	}
	c.release("a")
	if !c.acquire("a") {
		t.Error("a released a slot but cannot take it again")
	}
	c.release("a")
	c.release("a")
	c.release("b")
	for i := range c.shards {
		if len(c.shards[i].n) != 0 {
			t.Errorf("shard %d keeps %v after every release", i, c.shards[i].n)
		}
	}
}
