package memlimit

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/internal/cli"
)

func TestDecide(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "missing")
	cg4G := file("cg4g", "4294967296\n")
	cgMax := file("cgmax", "max\n")
	cgZero := file("cgzero", "0\n")
	meminfo := file("meminfo", "MemFree:  1000 kB\nMemTotal:       8388608 kB\nSwapTotal: 0 kB\n")
	meminfoBad := file("meminfobad", "MemTotal: lots kB\n")
	gomemlimit := map[string]string{"GOMEMLIMIT": "300MiB"}
	current := debug.SetMemoryLimit(-1)

	for _, c := range []struct {
		name            string
		flag            string
		env             map[string]string
		cgroup, meminfo string
		want            int64
		from            string
		set             bool
		wantErr         string
	}{
		{"off", "off", nil, cg4G, meminfo, 0, "off", false, ""},
		{"none", "None", nil, cg4G, meminfo, 0, "off", false, ""},
		{"zero", "0", nil, cg4G, meminfo, 0, "off", false, ""},
		{"explicit beats GOMEMLIMIT", "512MiB", gomemlimit, cg4G, meminfo, 512 << 20, "--memory-limit", true, ""},
		{"explicit bytes", "100000000", nil, missing, missing, 100000000, "--memory-limit", true, ""},
		{"exactly the minimum", "64MiB", nil, missing, missing, 64 << 20, "--memory-limit", true, ""},
		{"auto: GOMEMLIMIT stands", "auto", gomemlimit, cg4G, meminfo, current, "GOMEMLIMIT", false, ""},
		{"empty is auto", "", gomemlimit, cg4G, meminfo, current, "GOMEMLIMIT", false, ""},
		{"auto: cgroup", "auto", nil, cg4G, meminfo, 3 << 30, "3/4 of the cgroup memory limit", true, ""},
		{"auto: cgroup max means none", " AUTO ", nil, cgMax, meminfo, 6 << 30, "3/4 of the machine's memory", true, ""},
		{"auto: cgroup 0 ignored", "auto", nil, cgZero, meminfo, 6 << 30, "3/4 of the machine's memory", true, ""},
		{"auto: no cgroup", "auto", nil, missing, meminfo, 6 << 30, "3/4 of the machine's memory", true, ""},
		{"auto: nothing known", "auto", nil, missing, meminfoBad, 0, "none (machine memory unknown)", false, ""},
		{"auto: no files", "auto", nil, missing, missing, 0, "none (machine memory unknown)", false, ""},
		{"below the minimum", "10MiB", nil, cg4G, meminfo, 0, "", false, "below 64MiB"},
		{"one byte short", "67108863", nil, cg4G, meminfo, 0, "", false, "below 64MiB"},
		{"not a size", "lots", nil, cg4G, meminfo, 0, "", false, "(or auto, off)"},
		{"negative", "-1GiB", nil, cg4G, meminfo, 0, "", false, "not a size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(c.flag, Machine{Getenv: func(k string) string { return c.env[k] }, CgroupMax: c.cgroup, MemInfo: c.meminfo})
			if c.wantErr != "" {
				if !cli.IsUsage(err) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %+v, %v; want a usage error saying %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != (Limit{Bytes: c.want, From: c.from, Set: c.set}) {
				t.Errorf("Decide(%q) = %+v, %v; want {%d %q %v}", c.flag, got, err, c.want, c.from, c.set)
			}
		})
	}
}

// The real machine: auto finds some memory on any Linux box the tests run on.
func TestDecideHere(t *testing.T) {
	l, err := Decide("auto", Machine{Getenv: func(string) string { return "" }})
	if err != nil || !l.Set || l.Bytes < Minimum {
		t.Errorf("auto on this machine: %+v, %v", l, err)
	}
}

func TestApplyRestores(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	restore := Limit{Bytes: 768 << 20, Set: true}.Apply()
	if now := debug.SetMemoryLimit(-1); now != 768<<20 {
		t.Errorf("limit %d after Apply", now)
	}
	restore()
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("limit %d after restore, was %d", after, before)
	}
	// Not Set (GOMEMLIMIT, off): the runtime's limit is left alone.
	Limit{Bytes: 100 << 20}.Apply()()
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("a limit not Set changed the runtime's: %d, was %d", after, before)
	}
}
