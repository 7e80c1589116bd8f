package trainingfile

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
)

// ParseRequest refuses every mistyped option, naming it, and reads the
// good ones as meant. Each hostile value is tried alone, so the field the
// refusal names is the one at fault.
func TestParseRequest(t *testing.T) {
	day := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	good := []struct {
		query string
		check func(Request) bool
	}{
		{"", func(r Request) bool {
			return r.Format == FormatV1 && r.Filter.Empty() && !r.DedupeContent && r.Split == 0
		}},
		{"format=classification", func(r Request) bool { return r.Format == FormatClassification }},
		{"format=original", func(r Request) bool { return r.Format == FormatOriginal }},
		{"since=2026-11-28", func(r Request) bool { return r.Filter.Since.Equal(day) }},
		{"until=2026-11-28T02:00:00%2B02:00", func(r Request) bool { return r.Filter.Until.Equal(day) }},
		{"reason=TimeOut,%20Rate_Limited%20,,", func(r Request) bool { return slices.Equal(r.Filter.Reasons, []string{"timeout", "rate_limited"}) }},
		{"reason=,%20,", func(r Request) bool { return r.Filter.Reasons == nil }},
		{"dedupe-content=TRUE", func(r Request) bool { return r.DedupeContent }},
		{"dedupe-content=0", func(r Request) bool { return !r.DedupeContent }},
		{"split=0.9&part=validation", func(r Request) bool { return r.Split == 0.9 && r.Part == PartValidation }},
		{"split=5e-324", func(r Request) bool { return r.Split > 0 }},
		{"split=0x1p-2", func(r Request) bool { return r.Split == 0.25 }},
	}
	for _, g := range good {
		q, err := url.ParseQuery(g.query)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ParseRequest(q.Get)
		if err != nil || !g.check(r) {
			t.Errorf("%q: %+v, %v", g.query, r, err)
		}
	}
	bad := map[string][]string{
		OptFormat:        {"csv", "V1", " v1", "v1 ", "Classification", "v1,original"},
		OptSince:         {"yesterday", "2026-13-01", "2026-11-28T25:00:00Z", "2026-11-28 12:00", "28.11.2026", "0"},
		OptUntil:         {"tomorrow", "2026-02-30", "2026-11-28T12:00:00"},
		OptDedupeContent: {"yes", "maybe", "on", " true"},
		OptSplit:         {"NaN", "nan", "Inf", "-Inf", "-0", "0", "1", "1.0", "0.99999999999999999", "-0.1", "1e-400", " 0.5", "half", "0,9"},
		OptPart:          {"both", "Train", "test"},
	}
	for field, values := range bad {
		for _, v := range values {
			r, err := ParseRequest(url.Values{field: {v}}.Get)
			var e *hogpipe.Error
			if !errors.As(err, &e) || e.Code != hogpipe.EInvalid || e.Field != field || e.Message == "" {
				t.Errorf("%s=%q: accepted as %+v (err %v); want a refusal naming %s", field, v, r, err, field)
			}
		}
	}
}

// cliRequest runs hogpipe export's flag handling: the flags as a user types
// them, then ExportConfig.Request.
func cliRequest(args ...string) (Request, error) {
	fs := cli.New("export", "", func(string) string { return "" }, io.Discard)
	var c ExportConfig
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return Request{}, err
	}
	return c.Request()
}

// The command line reads its flags through ParseRequest, and a value it
// takes becomes the request the same query would make: its own steps
// (a bool flag, a float flag printed back for the parser) change nothing.
// Refusals are compared through the real handler in server
// (TestTrainingDataOptionsMatchExportFlags).
func TestExportFlagsReadAsQuery(t *testing.T) {
	for _, set := range [][2]string{
		{OptFormat, "original"}, {OptFormat, "classification"}, {OptSince, "2026-11-28T12:00:00+02:00"},
		{OptUntil, "2026-12-01"}, {OptReason, "TimeOut, Rate_Limited ,,"}, {OptDedupeContent, "TRUE"},
		{OptDedupeContent, "0"}, {OptSplit, "0.9"}, {OptSplit, "5e-324"}, {OptSplit, "0x1p-2"}, {OptSplit, "0.1234567890123456789"},
	} {
		field, v := set[0], set[1]
		want, qerr := ParseRequest(url.Values{field: {v}}.Get)
		got, ferr := cliRequest("--"+field+"="+v, "-o", "out.jsonl")
		if qerr != nil || ferr != nil || !requestsEqual(got, want) {
			t.Errorf("%s=%q: flag reads %+v (%v), query %+v (%v)", field, v, got, ferr, want, qerr)
		}
	}
	if r, err := cliRequest("--split=0"); err != nil || r.Split != 0 {
		t.Errorf("--split 0: %+v, %v; want no split", r, err)
	}
	if _, err := cliRequest("--split=0.9"); err == nil || !cli.IsUsage(err) || !strings.Contains(err.Error(), "-o FILE") {
		t.Errorf("--split without -o: %v", err)
	}
}

func requestsEqual(a, b Request) bool {
	return a.Format == b.Format && a.Filter.Since.Equal(b.Filter.Since) && a.Filter.Until.Equal(b.Filter.Until) &&
		slices.Equal(a.Filter.Reasons, b.Filter.Reasons) && a.DedupeContent == b.DedupeContent && a.Split == b.Split && a.Part == b.Part
}

// SplitNames keeps the extension and adds .jsonl when there is none.
func TestSplitNames(t *testing.T) {
	for out, want := range map[string][2]string{
		"data.jsonl":        {"data.train.jsonl", "data.validation.jsonl"},
		"dir.v2/data":       {"dir.v2/data.train.jsonl", "dir.v2/data.validation.jsonl"},
		"/tmp/x.y.ndjson":   {"/tmp/x.y.train.ndjson", "/tmp/x.y.validation.ndjson"},
		"no-extension-here": {"no-extension-here.train.jsonl", "no-extension-here.validation.jsonl"},
	} {
		if tr, va := SplitNames(out); tr != want[0] || va != want[1] {
			t.Errorf("SplitNames(%q) = %q, %q; want %q", out, tr, va, want)
		}
	}
}

// WriteFiles puts every line on exactly one side of a split, the side
// InTrain says, in files only the owner can read, and leaves no file
// behind when the export fails.
func TestWriteFiles(t *testing.T) {
	src := newMem(500)
	dir := t.TempDir()
	out := filepath.Join(dir, "data.jsonl")
	paths, n, err := Request{Options: Options{Format: FormatV1}, Split: 0.7}.WriteFiles(context.Background(), src, out)
	if err != nil || n != 500 || len(paths) != 2 {
		t.Fatalf("WriteFiles: %v, %d lines, %v", err, n, paths)
	}
	sides := [2]map[string]bool{{}, {}}
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", p, err, fi.Mode())
		}
		b, _ := os.ReadFile(p)
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if l != "" {
				sides[i][l] = true
			}
		}
	}
	for _, l := range src.lines {
		train, val := sides[0][string(l.Line)], sides[1][string(l.Line)]
		if train == val || train != InTrain(l.ID, 0.7) {
			t.Fatalf("%s: in train %v, in validation %v; InTrain says %v", l.ID, train, val, InTrain(l.ID, 0.7))
		}
	}
	if len(sides[0])+len(sides[1]) != 500 || len(sides[0]) < 300 || len(sides[0]) > 400 {
		t.Errorf("split 0.7 of 500: %d train, %d validation", len(sides[0]), len(sides[1]))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	failing := filepath.Join(dir, "failed.jsonl")
	if _, _, err := (Request{Options: Options{Format: "csv"}}).WriteFiles(ctx, src, failing); err == nil {
		t.Fatal("an export in an unknown format succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("a failed export left files: %v", entries)
	}
}
