package cli

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
)

// ByteSize is a flag holding a number of bytes, written as 1048576,
// 512KiB, 256MiB, 1GiB (or KB/MB/GB, powers of ten).
type ByteSize int64

func (b *ByteSize) String() string { return FormatBytes(int64(*b)) }

func (b *ByteSize) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = ByteSize(n)
	return nil
}

// byteUnits are tried in order: "MiB" before "B", so the longest suffix wins.
var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// ParseBytes reads a size as ByteSize does: no fractions, no negatives,
// nothing that overflows an int64.
func ParseBytes(s string) (int64, error) {
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

// FormatBytes writes n in the largest binary unit that holds it exactly,
// so ParseBytes reads back the same number.
func FormatBytes(n int64) string {
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

// Secret is a secret given as a flag, an environment variable, or a file
// (--NAME-file, NAME_FILE) as secrets managers mount them. Read it with
// Value after Parse; it is never logged or printed in help.
type Secret struct {
	name, env   string
	value, file string
}

// SecretVar registers --name (env) and --name-file (env_FILE) for s.
func (f *FlagSet) SecretVar(s *Secret, name, env, usage string) {
	s.name, s.env = name, env
	f.StringVar(&s.value, name, env, "", usage)
	f.StringVar(&s.file, name+"-file", env+"_FILE", "", "file holding --"+name+" (for secrets managers)")
}

// Value is the secret, trimmed ("" when not set). Setting both forms, an
// unreadable file and an empty file are usage errors.
func (s *Secret) Value() (string, error) {
	if s.value != "" && s.file != "" {
		return "", Usagef("set --%s (%s) or --%s-file (%s_FILE), not both", s.name, s.env, s.name, s.env)
	}
	if s.file == "" {
		return strings.TrimSpace(s.value), nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return "", Usagef("%s_FILE: %v", s.env, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", Usagef("%s_FILE %s is empty", s.env, s.file)
	}
	return v, nil
}

// NewLogger logs JSON unless w is a terminal, where people read it.
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, Usagef("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts)), nil
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}
