package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/hogpipe/hogpipe/jsonl"
	"github.com/hogpipe/hogpipe/sqlite"
)

func runExport(ctx context.Context, args []string, env *environment) error {
	fs := newFlagSet("export", "Write the stored training examples as JSONL, in commit order.", env)
	var dataDir, trainingFile string
	addDataFlags(fs, &dataDir, &trainingFile)
	out := fs.String("o", "HOGPIPE_EXPORT_OUTPUT", "", "write to this file (atomically) instead of standard output")
	format := fs.String("format", "HOGPIPE_EXPORT_FORMAT", jsonl.FormatV1, "line format: "+strings.Join(jsonl.Formats, " or "))
	if err := fs.parse(args); err != nil {
		return usageError{err}
	}
	if !slices.Contains(jsonl.Formats, *format) {
		return usagef("--format %q: use %s", *format, strings.Join(jsonl.Formats, " or "))
	}
	if _, err := os.Stat(dbPath(dataDir)); err != nil {
		return usagef("no hogpipe database in %s (set --data-dir or HOGPIPE_DATA_DIR)", dataDir)
	}
	store, err := sqlite.Open(ctx, dbPath(dataDir), sqlite.Options{})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()

	var w io.Writer = env.stdout
	var f *os.File
	if *out != "" {
		if f, err = os.CreateTemp(dirOf(*out), ".export-*.tmp"); err != nil {
			return fmt.Errorf("create %s: %w", *out, err)
		}
		defer os.Remove(f.Name())
		w = f
	}
	n, err := jsonl.Export(ctx, w, store, *format)
	if err != nil {
		return err
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		if err := os.Rename(f.Name(), *out); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		fmt.Fprintf(env.stderr, "wrote %d examples to %s\n", n, *out)
	}
	return nil
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}
