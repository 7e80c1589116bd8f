package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/help")

// TestHelpGolden pins every --help text: a change to flags or wording shows
// up as a diff to review, not by accident. Regenerate with
// go test ./cmd/hogpipe -run TestHelpGolden -update.
func TestHelpGolden(t *testing.T) {
	// Every command, from the one list run dispatches on, so a new
	// command cannot ship without its golden file.
	cases := map[string][]string{"hogpipe": {"--help"}}
	for _, c := range commands() {
		cases[c.name] = []string{c.name, "--help"}
	}
	cases["replay"] = []string{"replay", "emails", "--help"}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), append([]string{"hogpipe"}, args...), func(string) string { return "" }, &out, &errb)
			if err != nil {
				t.Fatalf("--help failed: %v", err)
			}
			if errb.Len() != 0 {
				t.Errorf("help wrote to stderr: %q", errb.String())
			}
			golden := filepath.Join("testdata", "help", name+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("help text changed; if on purpose, run with -update.\n--- got\n%s\n--- want\n%s", out.String(), want)
			}
		})
	}
}

func TestUsageErrorsExit2WithAHint(t *testing.T) {
	for _, args := range [][]string{{}, {"nope"}, {"serve", "--bogus"}, {"export", "stray"}, {"replay"}, {"serve", "--max-body-bytes", "x"}} {
		var out, errb bytes.Buffer
		err := run(context.Background(), append([]string{"hogpipe"}, args...), func(string) string { return "" }, &out, &errb)
		if err == nil || exitCode(err) != exitUsage {
			t.Errorf("%v: err %v, want a usage error", args, err)
			continue
		}
		if len(args) > 0 && !strings.Contains(err.Error(), "--help") && !strings.Contains(err.Error(), "hogpipe replay emails") {
			t.Errorf("%v: %q does not say what to do next", args, err)
		}
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hogpipe.conf")
	os.WriteFile(cfg, []byte("# comment\nHOGPIPE_MAX_BODY_BYTES = \"2048\"\nMAILGUN_API_KEY=only-key\n"), 0o644)
	// The file's MAILGUN_API_KEY without a domain is a configuration error:
	// proof the file was read. The environment wins over the file.
	err := run(context.Background(), []string{"hogpipe", "serve", "--config", cfg, "--data-dir", dir}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "MAILGUN_DOMAIN") {
		t.Fatalf("config file not applied: %v", err)
	}
	env := map[string]string{"MAILGUN_API_KEY": ""}
	ts := startServer(t, env, "--config", cfg, "--mailgun-api-key", "")
	r := post(t, ts.URL+"/api/webhooks/generation-failed", gfBody("cfg", strings.Repeat("x", 3000)))
	if r.Status != 413 {
		t.Errorf("HOGPIPE_MAX_BODY_BYTES from the file not applied: %d", r.Status)
	}
}
