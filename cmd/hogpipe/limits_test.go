package main

import (
	"runtime/debug"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "256MiB": 256 << 20, "1GiB": 1 << 30, "512 KiB": 512 << 10, "2mb": 2e6, "10B": 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5GiB", "lots", "99999999999GiB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	// The operator's GOMEMLIMIT stands: hogpipe does not set its own.
	if _, from, set, err := memoryLimit("auto", env(map[string]string{"GOMEMLIMIT": "300MiB"})); err != nil || set || from != "GOMEMLIMIT" {
		t.Errorf("GOMEMLIMIT set: from %q, set %v, %v", from, set, err)
	}
	if n, _, set, err := memoryLimit("auto", env(nil)); err != nil || !set || n <= 0 {
		t.Errorf("auto: %d %v %v", n, set, err)
	}
	if n, from, set, err := memoryLimit("512MiB", env(map[string]string{"GOMEMLIMIT": "300MiB"})); err != nil || !set || n != 512<<20 || from != "--memory-limit" {
		t.Errorf("explicit size: %d %q %v %v", n, from, set, err)
	}
	if _, _, set, err := memoryLimit("off", env(nil)); err != nil || set {
		t.Errorf("off: %v %v", set, err)
	}
	for _, bad := range []string{"10MiB", "lots"} {
		if _, _, _, err := memoryLimit(bad, env(nil)); err == nil {
			t.Errorf("--memory-limit %s accepted", bad)
		}
	}
	// serve puts the limit back when it returns.
	before := debug.SetMemoryLimit(-1)
	startServer(t, map[string]string{"HOGPIPE_MEMORY_LIMIT": "768MiB"}).stop()
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("memory limit %d after serve returned, was %d", after, before)
	}
}
