package trainingfile

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hogpipe/hogpipe"
)

type noExamples struct{}

func (noExamples) ExamplesAfter(context.Context, int64, int) ([]hogpipe.ExampleLine, error) {
	return nil, nil
}

// TestRebuiltFileMode: a training file written anew is 0600 (prompts are
// personal data); one rebuilt over an existing file keeps that file's mode,
// so an operator's chmod survives a rebuild.
func TestRebuiltFileMode(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.jsonl")
	if _, err := WriteFileAtomic(context.Background(), fresh, noExamples{}); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "kept.jsonl")
	if err := os.WriteFile(kept, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(kept, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteFileAtomic(context.Background(), kept, noExamples{}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{fresh: 0o600, kept: 0o640} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v; want mode %v", filepath.Base(path), fi.Mode(), err, want)
		}
	}
}
