package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hogpipe/hogpipe/sqlstore"
	"github.com/hogpipe/hogpipe/trainingfile"
)

func runExport(ctx context.Context, args []string, env *environment) error {
	fs := env.flags("export", "Write the stored training examples as JSONL, in commit order.")
	var dataDir, trainingFile, database string
	var c trainingfile.ExportConfig
	addDataFlags(fs, &dataDir, &trainingFile)
	addDatabaseFlag(fs, &database)
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	r, err := c.Request()
	if err != nil {
		return err
	}
	store, err := openExisting(ctx, dataDir, database, sqlstore.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	if isTerminal(env.stderr) {
		total, _ := store.LastExampleSeq(ctx)
		defer r.ShowProgress(env.stderr, total)()
	}
	if c.Out == "" {
		_, err := r.Stream(ctx, store, env.stdout)
		return err
	}
	paths, n, err := r.WriteFiles(ctx, store, c.Out)
	if err != nil {
		return err
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
