package main

import (
	"context"
	"fmt"
	"github.com/hogpipe/hogpipe/internal/cli"
	"io"
	"os"
	"strings"

	"github.com/hogpipe/hogpipe/internal/atomicfile"
	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

func runExport(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("export", "Write the stored training examples as JSONL, in commit order.")
	var dataDir, trainingFile, database string
	var r exportRequest
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	out := fs.String("o", "HOGPIPE_EXPORT_OUTPUT", "", "write to this file (atomically) instead of standard output")
	fs.StringVar(&r.format, "format", "HOGPIPE_EXPORT_FORMAT", trainingfile.FormatV1, "line format: "+strings.Join(trainingfile.Formats, ", "))
	fs.StringVar(&r.since, "since", "HOGPIPE_EXPORT_SINCE", "", "only examples at or after this day or time (2026-11-01 or RFC 3339)")
	fs.StringVar(&r.until, "until", "HOGPIPE_EXPORT_UNTIL", "", "only examples before this day or time")
	fs.StringVar(&r.reasons, "reason", "HOGPIPE_EXPORT_REASON", "", "only these failure reasons (comma-separated)")
	fs.BoolVar(&r.dedupe, "dedupe-content", "HOGPIPE_EXPORT_DEDUPE_CONTENT", false, "one line per distinct prompt and reason, with a count")
	fs.Float64Var(&r.split, "split", "HOGPIPE_EXPORT_SPLIT", 0, "train share of a deterministic split by id hash, e.g. 0.9: writes FILE.train.jsonl and FILE.validation.jsonl (needs -o)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opt, err := r.options()
	if err != nil {
		return err
	}
	if r.split > 0 && *out == "" {
		return cli.Usagef("--split needs -o FILE: it writes FILE.train.jsonl and FILE.validation.jsonl")
	}
	found := false
	for _, f := range trainingfile.Formats {
		found = found || f == r.format
	}
	if !found {
		return cli.Usagef("--format %q: use %s", r.format, strings.Join(trainingfile.Formats, ", "))
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if isTerminal(env.stderr) {
		total, _ := store.LastExampleSeq(ctx)
		opt.Progress = func(n int64) {
			pct := 100.0
			if total > 0 {
				pct = float64(n) * 100 / float64(total)
			}
			fmt.Fprintf(env.stderr, "\rexported %d of %d examples (%.0f%%)", n, total, pct)
		}
		defer fmt.Fprintln(env.stderr)
	}

	if *out == "" {
		_, err := trainingfile.ExportWith(ctx, store, opt, env.stdout, nil)
		return err
	}
	var paths []string
	var files []*atomicfile.File
	if r.split > 0 {
		tr, va := splitNames(*out)
		paths = []string{tr, va}
	} else {
		paths = []string{*out}
	}
	for _, p := range paths {
		// Written aside and renamed into place, so a reader never sees
		// half an export; 0600: the lines hold personal data.
		f, err := atomicfile.Create(p, 0o600)
		if err != nil {
			return err
		}
		defer f.Abort()
		files = append(files, f)
	}
	var n int64
	if r.split > 0 {
		n, err = trainingfile.ExportWith(ctx, store, opt, nil, &trainingfile.Split{Fraction: r.split, Train: files[0], Validation: files[1]})
	} else {
		n, err = trainingfile.ExportWith(ctx, store, opt, files[0], nil)
	}
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := f.Commit(); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stderr, "wrote %d lines to %s\n", n, strings.Join(paths, " and "))
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
