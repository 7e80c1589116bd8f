// Package memlimit decides the Go runtime's soft memory limit for serve,
// so the garbage collector works harder before the kernel's OOM killer
// would act.
package memlimit

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/hogpipe/hogpipe/internal/cli"
)

// Minimum is the smallest limit accepted: the server could not work in less.
const Minimum = 64 << 20

// Limit is the decided limit.
type Limit struct {
	Bytes int64  // 0: none
	From  string // where it came from, for the log
	// Set: hogpipe should set it (not when GOMEMLIMIT already did, or off).
	Set bool
}

// Apply sets the limit if Set, and returns what puts the previous one
// back (tests run serve inside their own process).
func (l Limit) Apply() (restore func()) {
	if !l.Set {
		return func() {}
	}
	prev := debug.SetMemoryLimit(l.Bytes)
	return func() { debug.SetMemoryLimit(prev) }
}

// Machine is where "auto" looks; the zero value reads this machine.
type Machine struct {
	Getenv    func(string) string // nil: os.Getenv
	CgroupMax string              // cgroup v2 memory.max; "": /sys/fs/cgroup/memory.max
	MemInfo   string              // "": /proc/meminfo
}

// Decide reads the --memory-limit flag: "off", a size, or "auto" (the
// default) — GOMEMLIMIT when the operator set it (the runtime already
// applies it), else 3/4 of the cgroup's memory.max when there is one, else
// 3/4 of the machine's memory. Errors are usage errors.
func Decide(flag string, m Machine) (Limit, error) {
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "off", "none", "0":
		return Limit{From: "off"}, nil
	case "", "auto":
		getenv := m.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if getenv("GOMEMLIMIT") != "" {
			return Limit{Bytes: debug.SetMemoryLimit(-1), From: "GOMEMLIMIT"}, nil
		}
		if n, ok := cgroupMax(or(m.CgroupMax, "/sys/fs/cgroup/memory.max")); ok {
			return Limit{Bytes: n / 4 * 3, From: "3/4 of the cgroup memory limit", Set: true}, nil
		}
		if n, ok := memTotal(or(m.MemInfo, "/proc/meminfo")); ok {
			return Limit{Bytes: n / 4 * 3, From: "3/4 of the machine's memory", Set: true}, nil
		}
		return Limit{From: "none (machine memory unknown)"}, nil
	}
	n, err := cli.ParseBytes(flag)
	if err != nil {
		return Limit{}, cli.Usagef("--memory-limit: %v (or auto, off)", err)
	}
	if n < Minimum {
		return Limit{}, cli.Usagef("--memory-limit %s is below 64MiB: the server could not work in it", flag)
	}
	return Limit{Bytes: n, From: "--memory-limit", Set: true}, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// cgroupMax reads memory.max: a byte count, or "max" (no limit).
func cgroupMax(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n > 0
}

// memTotal reads MemTotal from /proc/meminfo (in kB).
func memTotal(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err == nil && kb > 0
		}
	}
	return 0, false
}
