package main

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestREADMEExamples runs the README's curl examples against a real server
// and checks each answer against the one the README prints beneath it, so
// the examples cannot drift from what hogpipe says. In an expected string,
// "…" stands for any run of characters.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, nil)
	example := regexp.MustCompile(`(?s)curl -s localhost:3000(\S+) -H 'Content-Type: application/json' -d '([^']*)'\n((?:# [^\n]*\n)+)`)
	answer := regexp.MustCompile(`^# (?:again: )?(\d{3}) (\{.*\})$`)
	ran := 0
	for _, m := range example.FindAllStringSubmatch(string(readme), -1) {
		path, body := m[1], m[2]
		for _, line := range strings.Split(strings.TrimSpace(m[3]), "\n") {
			a := answer.FindStringSubmatch(line)
			if a == nil {
				t.Errorf("README example for %s: cannot read the answer line %q", path, line)
				continue
			}
			status, _ := strconv.Atoi(a[1])
			var want any
			if err := json.Unmarshal([]byte(a[2]), &want); err != nil {
				t.Errorf("README example for %s: answer %s is not JSON: %v", path, a[2], err)
				continue
			}
			got := post(t, ts.URL+path, body, "Content-Type", "application/json")
			ran++
			if got.Status != status || !matches(want, any(got.Body)) {
				t.Errorf("README example POST %s\n%s\nanswered %d %v\nREADME says %d %s", path, body, got.Status, got.Body, status, a[2])
			}
		}
	}
	if ran < 3 {
		t.Fatalf("ran %d README examples; the README's curl examples changed shape, update this test", ran)
	}
}

// matches compares decoded JSON, letting "…" in want's strings stand for
// anything.
func matches(want, got any) bool {
	switch w := want.(type) {
	case string:
		g, ok := got.(string)
		if !ok {
			return false
		}
		before, after, wild := strings.Cut(w, "…")
		if !wild {
			return w == g
		}
		return strings.HasPrefix(g, before) && strings.HasSuffix(g[len(before):], after)
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !matches(v, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !matches(w[i], g[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(want, got)
	}
}
