package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Export options a user mistyped are refused, naming the option, over HTTP
// and on the command line — never a 200 with a partial or empty export.
// Before, split=NaN (and --split NaN) passed the range check, since NaN
// compares false with everything, and exported nothing with a 200; and
// dedupe-content=yes was read as false.
func TestExportRefusesBadOptions(t *testing.T) {
	ts := startServer(t, nil)
	post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("ep1", "a prompt"))
	for _, q := range []struct{ query, field string }{
		{"split=NaN&part=train", "split"}, {"split=NaN&part=validation", "split"}, {"split=-0&part=train", "split"},
		{"split=Inf&part=train", "split"}, {"dedupe-content=yes", "dedupe-content"}, {"dedupe-content=maybe", "dedupe-content"},
	} {
		r := get(t, ts.URL+"/api/training-data?"+q.query)
		if r.Status != 400 || r.Body["code"] != "bad_parameter" || r.Body["field"] != q.field {
			t.Errorf("%s: %d %v, want 400 bad_parameter naming %s", q.query, r.Status, r.Body, q.field)
		}
	}
	for _, ok := range []string{"dedupe-content=true", "dedupe-content=false", "dedupe-content=1", "split=0.5&part=train"} {
		if r := mustGetStatus(t, ts.URL+"/api/training-data?"+ok); r != 200 {
			t.Errorf("%s: %d, want 200", ok, r)
		}
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"hogpipe", "export", "--data-dir", ts.DataDir, "--split", "NaN"},
		func(string) string { return "" }, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--split") {
		t.Errorf("export --split NaN: err %v, output %q", err, out.String())
	}
}

func mustGetStatus(t *testing.T, url string) int {
	t.Helper()
	req := mustRequest(t, "GET", url, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// --rate-limit NaN (or Inf) is refused: NaN passed the "not negative"
// check and, being no positive number, turned the rate limit off.
func TestRateLimitMustBeANumber(t *testing.T) {
	for _, v := range []string{"NaN", "Inf", "-Inf"} {
		// Without the check the server starts; the timeout ends it then
		// (run returns nil, which fails the test), it decides nothing.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		dir := t.TempDir()
		err := run(ctx, []string{"hogpipe", "serve", "--rate-limit", v, "--addr", "127.0.0.1:0", "--data-dir", dir,
			"--training-file", dir + "/training_data.jsonl"}, func(string) string { return "" }, io.Discard, io.Discard)
		cancel()
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--rate-limit") {
			t.Errorf("--rate-limit %s: %v", v, err)
		}
	}
}
