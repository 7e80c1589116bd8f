package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "256MiB": 256 << 20, "1GiB": 1 << 30, "512 KiB": 512 << 10,
		"2mb": 2e6, "10B": 10, "0": 0, " 3 gb ": 3e9} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1.5GiB", "lots", "99999999999GiB", "8EiB", "9223372036854775808", "1e6", "0x10"} {
		if n, err := ParseBytes(bad); err == nil {
			t.Errorf("ParseBytes(%q) accepted as %d", bad, n)
		}
	}
}

// A size written by FormatBytes reads back as the same number, and uses
// the largest unit that holds it exactly.
func TestFormatBytesRoundTrip(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1: "1", 1023: "1023", 1 << 10: "1KiB", 1536: "1536", 128 << 20: "128MiB",
		3 << 30: "3GiB", 1<<30 + 1<<20: "1025MiB", math.MaxInt64: "9223372036854775807"} {
		got := FormatBytes(n)
		if got != want {
			t.Errorf("FormatBytes(%d) = %q; want %q", n, got, want)
		}
		if back, err := ParseBytes(got); err != nil || back != n {
			t.Errorf("ParseBytes(FormatBytes(%d)) = %d, %v", n, back, err)
		}
	}
}

func TestByteSizeFlag(t *testing.T) {
	env := map[string]string{"SIZE_ENV": "2MiB"}
	for _, c := range []struct {
		args    []string
		env     bool
		want    ByteSize
		wantErr bool
	}{
		{nil, false, 128 << 20, false},
		{[]string{"--size", "1GiB"}, false, 1 << 30, false},
		{nil, true, 2 << 20, false},
		{[]string{"--size", "64KB"}, true, 64000, false}, // the command line wins
		{[]string{"--size", "-5"}, false, 0, true},
		{[]string{"--size", "big"}, false, 0, true},
	} {
		getenv := func(string) string { return "" }
		if c.env {
			getenv = func(k string) string { return env[k] }
		}
		fs := New("t", "test", getenv, io.Discard)
		size := ByteSize(128 << 20)
		fs.Var(&size, "size", "SIZE_ENV", "a size")
		err := fs.Parse(c.args)
		if c.wantErr {
			if !IsUsage(err) {
				t.Errorf("%v: %v, want a usage error", c.args, err)
			}
			continue
		}
		if err != nil || size != c.want {
			t.Errorf("%v (env %v): %d, %v; want %d", c.args, c.env, size, err, c.want)
		}
	}
	// Help shows the default as it was written.
	fs := New("t", "test", func(string) string { return "" }, io.Discard)
	size := ByteSize(128 << 20)
	fs.Var(&size, "size", "SIZE_ENV", "a size")
	var help bytes.Buffer
	fs.Usage(&help)
	if !strings.Contains(help.String(), "default 128MiB") {
		t.Errorf("help does not show the default as 128MiB:\n%s", help.String())
	}
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, empty := write("good", "  s3cret-from-file\n"), write("empty", " \n")
	for _, c := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"unset", nil, nil, "", ""},
		{"flag, trimmed", []string{"--key", " v1 "}, nil, "v1", ""},
		{"environment", nil, map[string]string{"KEY": "v2"}, "v2", ""},
		{"file flag", []string{"--key-file", good}, nil, "s3cret-from-file", ""},
		{"file environment", nil, map[string]string{"KEY_FILE": good}, "s3cret-from-file", ""},
		{"both", []string{"--key", "v"}, map[string]string{"KEY_FILE": good}, "", "not both"},
		{"empty file", []string{"--key-file", empty}, nil, "", "is empty"},
		{"missing file", []string{"--key-file", filepath.Join(dir, "nope")}, nil, "", "KEY_FILE:"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := New("t", "test", func(k string) string { return c.env[k] }, io.Discard)
			var s Secret
			fs.SecretVar(&s, "key", "KEY", "the key")
			if err := fs.Parse(c.args); err != nil {
				t.Fatal(err)
			}
			got, err := s.Value()
			if c.wantErr != "" {
				if !IsUsage(err) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got %q, %v; want a usage error saying %q", got, err, c.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the secret: %v", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestNewLogger(t *testing.T) {
	if _, err := NewLogger(io.Discard, "loud"); !IsUsage(err) {
		t.Errorf("log level loud: %v, want a usage error", err)
	}
	// Not a terminal: one JSON object per line, below the level dropped.
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.Warn("kept", "n", 1)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if line["msg"] != "kept" || line["n"] != 1.0 {
		t.Errorf("logged %v", line)
	}
}
