package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hogpipe/hogpipe/trainingfile"
)

// trainingDataset posts a known set of generation_failed events: 3 days,
// 3 reasons, repeated prompts, and prompts carrying personal data.
func trainingDataset(t *testing.T, ts *testServer) int {
	t.Helper()
	reasons := []string{"Timeout", " rate_limited ", "content_policy"}
	var batch []string
	n := 0
	for day := range 3 {
		for i := range 40 {
			prompt := fmt.Sprintf("prompt %d", i%7) // repeats: dedupe has work
			if i == 5 {
				prompt = "email me at ada@example.com or call +44 20 7946 0958"
			}
			batch = append(batch, fmt.Sprintf(`{"event":{"uuid":"d%d-%d","event":"generation_failed","distinct_id":"u%d",
				"timestamp":"2026-11-%02dT10:00:00.000Z","properties":{"failure_reason":%q,"input_prompt":%q,"model":"m%d","$lib":"web"}}}`,
				day, i, i, 20+day, reasons[i%3], prompt, i%2))
			n++
		}
	}
	if r := post(t, ts.URL+"/api/webhooks/posthog", "["+strings.Join(batch, ",")+"]"); r.Status != 200 {
		t.Fatalf("dataset: %v", r.Body)
	}
	return n
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile("../../docs/training-data.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTrainingLinesMatchSchemaAndAreRedacted(t *testing.T) {
	ts := startServer(t, nil, "--max-prompt-bytes", "64")
	n := trainingDataset(t, ts)
	post(t, ts.URL+"/api/webhooks/generation-failed", `{"event":{"uuid":"long","event":"generation_failed","properties":{"input_prompt":"`+strings.Repeat("é", 100)+`"}}}`)
	lines := ts.trainingLines(t)
	if len(lines) != n+1 {
		t.Fatalf("%d lines, want %d", len(lines), n+1)
	}
	schema := compileSchema(t)
	raw, _ := os.ReadFile(ts.TrainingFile)
	for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("line %d does not match the schema: %v\n%s", i+1, err, line)
		}
	}
	for _, l := range lines {
		switch l["id"] {
		case "d0-5":
			if l["input_prompt"] != "email me at [EMAIL] or call [PHONE]" || fmt.Sprint(l["redacted"]) != "[email phone]" {
				t.Errorf("redaction: %v", l)
			}
		case "d0-1":
			if l["failure_reason"] != "rate_limited" || l["redacted"] != nil {
				t.Errorf("normalisation: %v", l)
			}
		case "long":
			if p := l["input_prompt"].(string); len(p) > 64 || l["truncated"] != true || !strings.HasPrefix(p, "éé") {
				t.Errorf("truncation: %d bytes, %v", len(p), l["truncated"])
			}
		}
	}
	// The event log keeps what arrived.
	ev := get(t, ts.URL+"/api/events/d0-5").Body["event"].(map[string]any)
	if !strings.Contains(ev["properties"].(map[string]any)["input_prompt"].(string), "ada@example.com") {
		t.Errorf("event log lost the original prompt")
	}
	// A schema test must be able to fail: a line missing a field does.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"timestamp":"2026-11-28T12:00:00.000Z","schema":1}`))
	if schema.Validate(bad) == nil {
		t.Error("schema accepted an incomplete line")
	}
}

func exportLines(t *testing.T, dataDir string, args ...string) []map[string]any {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append([]string{"hogpipe", "export", "--data-dir", dataDir}, args...), func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatalf("export %v: %v %s", args, err, errb.String())
	}
	return parseLines(t, out.Bytes())
}

func parseLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestExportFormatsAndFlags(t *testing.T) {
	ts := startServer(t, nil)
	n := trainingDataset(t, ts)
	ts.trainingLines(t)

	if got := exportLines(t, ts.DataDir); len(got) != n {
		t.Errorf("v1: %d lines", len(got))
	}
	cls := exportLines(t, ts.DataDir, "--format", "classification")
	if len(cls) != n || len(cls[0]) != 2 || cls[0]["text"] != "prompt 0" || cls[0]["label"] != "timeout" {
		t.Errorf("classification: %v", cls[0])
	}
	orig := exportLines(t, ts.DataDir, "--format", "original")
	if len(orig[0]) != 4 || orig[0]["user_id"] != "u0" {
		t.Errorf("original: %v", orig[0])
	}
	day := exportLines(t, ts.DataDir, "--since", "2026-11-21", "--until", "2026-11-22")
	if len(day) != 40 {
		t.Errorf("one day: %d lines", len(day))
	}
	for _, l := range day {
		if !strings.HasPrefix(l["timestamp"].(string), "2026-11-21") {
			t.Errorf("outside the day: %v", l["timestamp"])
		}
	}
	tm := exportLines(t, ts.DataDir, "--reason", "timeout,content_policy")
	for _, l := range tm {
		if l["failure_reason"] == "rate_limited" {
			t.Errorf("reason filter let through %v", l)
		}
	}
	if len(tm) != 81 { // per day, i%3 gives 14 timeouts and 13 content_policy
		t.Errorf("two reasons: %d lines", len(tm))
	}
	dd := exportLines(t, ts.DataDir, "--dedupe-content", "--format", "classification")
	var total float64
	for _, l := range dd {
		total += l["count"].(float64)
	}
	// prompts 0..6 (with i=5 replaced) × 3 reasons, minus combinations that never occur.
	if total != float64(n) || len(dd) >= n || len(dd) < 7 {
		t.Errorf("dedupe: %d lines covering %v examples", len(dd), total)
	}

	// Split: deterministic, complete, disjoint, about 90/10.
	dir := t.TempDir()
	base := filepath.Join(dir, "data.jsonl")
	split := func() (train, val []byte) {
		var out, errb bytes.Buffer
		if err := run(context.Background(), []string{"hogpipe", "export", "--data-dir", ts.DataDir, "--split", "0.9", "-o", base},
			func(string) string { return "" }, &out, &errb); err != nil {
			t.Fatalf("split: %v", err)
		}
		train, _ = os.ReadFile(filepath.Join(dir, "data.train.jsonl"))
		val, _ = os.ReadFile(filepath.Join(dir, "data.validation.jsonl"))
		return
	}
	tr1, va1 := split()
	tr2, va2 := split()
	if !bytes.Equal(tr1, tr2) || !bytes.Equal(va1, va2) {
		t.Error("split differs between runs")
	}
	trl, val := parseLines(t, tr1), parseLines(t, va1)
	if len(trl)+len(val) != n || len(val) == 0 || len(val) > n/4 {
		t.Errorf("split %d/%d of %d", len(trl), len(val), n)
	}
	for _, l := range trl {
		if !trainingfile.InTrain(l["id"].(string), 0.9) {
			t.Errorf("%v in train but hashes to validation", l["id"])
		}
	}
	// Over HTTP, the same options.
	resp, err := http.Get(ts.URL + "/api/training-data?format=classification&reason=timeout&since=2026-11-20&until=2026-11-21")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := parseLines(t, b); len(got) != 14 || got[0]["label"] != "timeout" {
		t.Errorf("HTTP export: %d lines %v", len(got), got)
	}
	if r := get(t, ts.URL+"/api/training-data?format=csv"); r.Status != 400 {
		t.Errorf("bad format over HTTP: %d", r.Status)
	}
}

// TestInTrainIsSHA256 pins the split's hash, so it is the same on every
// machine and release: SHA-256("a") starts ca978112ca1bbdca, 0.791… of 2^64.
func TestInTrainIsSHA256(t *testing.T) {
	if !trainingfile.InTrain("a", 0.80) || trainingfile.InTrain("a", 0.79) {
		t.Error(`InTrain("a") does not follow SHA-256`)
	}
}

func TestStatsAndRebuild(t *testing.T) {
	ts := startServer(t, nil)
	n := trainingDataset(t, ts)
	ts.trainingLines(t)
	st := get(t, ts.URL+"/api/training-stats?top=3").Body
	if st["total"] != float64(n) || len(st["by_day"].([]any)) != 3 || len(st["top_prompts"].([]any)) != 3 {
		t.Errorf("stats: %v", st)
	}
	ts.stop()

	var out bytes.Buffer
	env := func(string) string { return "" }
	if err := run(context.Background(), []string{"hogpipe", "stats", "--data-dir", ts.DataDir}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"training examples: 120", "timeout", "2026-11-22", "prompt 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stats output lacks %q:\n%s", want, out.String())
		}
	}
	// Turn redaction off and rebuild: the file shows the original prompt.
	out.Reset()
	if err := run(context.Background(), []string{"hogpipe", "rebuild-training-file", "--data-dir", ts.DataDir,
		"--training-file", ts.TrainingFile, "--redact", "none"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, ts.TrainingFile)
	if len(lines) != n {
		t.Fatalf("%d lines after rebuild", len(lines))
	}
	for _, l := range lines {
		if l["id"] == "d0-5" && !strings.Contains(l["input_prompt"].(string), "ada@example.com") {
			t.Errorf("rebuild kept the old redaction: %v", l["input_prompt"])
		}
	}
	// serve starts on the rebuilt file and appends after it, no duplicates.
	ts = restartServer(t, ts, nil, "--redact", "none")
	post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("after-rebuild", "p"))
	if got := ts.trainingLines(t); len(got) != n+1 {
		t.Errorf("%d lines after restart, want %d", len(got), n+1)
	}
}

// TestExportProgressOnATerminal runs export under a pseudo-terminal (util
// linux's script): the progress line appears there, and never in a pipe.
func TestExportProgressOnATerminal(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) not installed")
	}
	ts := startServer(t, nil)
	trainingDataset(t, ts)
	ts.trainingLines(t)
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.jsonl")
	tty, err := exec.Command("script", "-qec", bin+" export --data-dir "+ts.DataDir+" -o "+out, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, tty)
	}
	if !strings.Contains(string(tty), "exported 120 of 120 examples (100%)") {
		t.Errorf("no progress on a terminal: %q", tty)
	}
	var errb bytes.Buffer
	cmd := exec.Command(bin, "export", "--data-dir", ts.DataDir, "-o", out)
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(errb.String(), "exported") {
		t.Errorf("progress written to a pipe: %q", errb.String())
	}
}
