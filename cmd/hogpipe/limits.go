package main

import (
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// byteSize is a flag holding a number of bytes, written as 1048576, 512KiB,
// 256MiB, 1GiB (or KB/MB/GB, powers of ten).
type byteSize int64

func (b *byteSize) String() string { return formatBytes(int64(*b)) }

func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size: use bytes or a unit, e.g. 256MiB or 1GiB", s)
	}
	return n * mult, nil
}

func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// memoryLimit decides the Go runtime's soft memory limit for serve, so the
// garbage collector works harder before the kernel's OOM killer would act:
// "off", a size, or "auto" (the default) — GOMEMLIMIT when the operator set
// it, else 3/4 of the cgroup's memory.max when there is one, else 3/4 of
// the machine's memory. It returns the limit (0: none), where it came from,
// and whether hogpipe should set it (not when GOMEMLIMIT already did).
func memoryLimit(flag string, getenv func(string) string) (int64, string, bool, error) {
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "off", "none", "0":
		return 0, "off", false, nil
	case "", "auto":
		if v := getenv("GOMEMLIMIT"); v != "" {
			return debug.SetMemoryLimit(-1), "GOMEMLIMIT", false, nil
		}
		if n, ok := cgroupMemoryMax(); ok {
			return n / 4 * 3, "3/4 of the cgroup memory limit", true, nil
		}
		if n, ok := memTotal(); ok {
			return n / 4 * 3, "3/4 of the machine's memory", true, nil
		}
		return 0, "none (machine memory unknown)", false, nil
	}
	n, err := parseBytes(flag)
	if err != nil {
		return 0, "", false, cli.Usagef("--memory-limit: %v (or auto, off)", err)
	}
	if n < 64<<20 {
		return 0, "", false, cli.Usagef("--memory-limit %s is below 64MiB: the server could not work in it", flag)
	}
	return n, "--memory-limit", true, nil
}

func cgroupMemoryMax() (int64, bool) {
	b, err := os.ReadFile("/sys/fs/cgroup/memory.max")
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil && n > 0
}

func memTotal() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
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
