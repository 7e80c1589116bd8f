package trainingfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/cli"
)

// The work of the commands that act on the training file as a whole
// (hogpipe rebuild-training-file, import, stats), for cmd/hogpipe to wire.

// Store is what the file's writer and these commands need of the store:
// the examples and the watermark, and the writer's lease (sqlstore
// implements it).
type Store interface {
	Source
	Leases
}

// Rerenderer is a Store that can render its examples again.
type Rerenderer interface {
	Store
	// RewriteExamples renders every stored example again from its event
	// with policy and stores the new lines.
	RewriteExamples(ctx context.Context, policy *hogpipe.TrainingPolicy) (int64, error)
}

// StartWriter starts the training file's writer (see Writer): store is
// its lease, and on a shared store (PostgreSQL) other replicas compete for
// it. A file hogpipe refuses to adopt is a usage error: the user must move
// it or point --training-file elsewhere.
func StartWriter(starting, ctx context.Context, path string, store Store, shared bool, log *slog.Logger) (*Writer, <-chan error, error) {
	w := NewWriter(path, store, store, shared, log)
	done, err := w.Start(starting, ctx)
	return w, done, usageIfNotJSONL(err)
}

func usageIfNotJSONL(err error) error {
	var nj *NotJSONLError
	if errors.As(err, &nj) {
		return cli.Usage(err)
	}
	return err
}

// Rerender renders every stored example again from its event with policy
// (after changing redaction rules, say), then rewrites the file at path
// from the store: written aside, fsync'd and renamed over the old one.
// No writer may run meanwhile: it takes the writer's lease, once. It
// reports on out and warn.
func Rerender(ctx context.Context, path string, store Rerenderer, policy *hogpipe.TrainingPolicy, out, warn io.Writer) error {
	lease, err := store.Lead(ctx, 0)
	if err != nil {
		return err
	}
	if lease == nil {
		return fmt.Errorf("a hogpipe serve is writing the training file; stop every replica first")
	}
	defer lease.Release()
	n, err := store.RewriteExamples(ctx, policy)
	if err != nil {
		return err
	}
	st, cp, err := Rebuild(ctx, path, store)
	if cp != "" {
		// The file held bytes hogpipe had not recorded writing.
		fmt.Fprintf(warn, "%s did not match what hogpipe wrote; a copy of it as it was is kept in %s\n", path, cp)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rewrote %d examples from their events (imported lines are kept as they are); %s holds %d bytes\n", n, path, st.Bytes)
	return nil
}

// ImportLive answers an import of the training file hogpipe itself keeps
// (abs): its lines up to the watermark are stored already, so this adopts
// it when it was never adopted (a stopped setup) and otherwise adds
// nothing. running says a serve holds the data directory; on a shared
// store the writer's lease tells.
func ImportLive(ctx context.Context, abs string, store Store, running bool, out io.Writer, log *slog.Logger) error {
	if !running {
		lease, err := store.Lead(ctx, 0)
		if err != nil {
			return err
		}
		running = lease == nil
		if lease != nil {
			defer lease.Release()
		}
	}
	if running {
		// A serve runs: it adopted the file when it started.
		st, err := store.MirrorState(ctx, abs)
		if err != nil {
			return err
		}
		if st.Bytes == 0 {
			return fmt.Errorf("%s is the training file of a running hogpipe serve that has not adopted it; stop hogpipe serve (every replica) and run hogpipe import again, or restart it: it adopts the file at start", abs)
		}
		fmt.Fprintf(out, "%s is the training file of a running hogpipe serve: its first %d bytes are stored examples already; nothing imported\n", abs, st.Bytes)
		return nil
	}
	m, err := Open(ctx, abs, store, log)
	if err != nil {
		return usageIfNotJSONL(err)
	}
	err = m.CatchUp(ctx)
	pos := m.Position()
	if err = errors.Join(err, m.Close()); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s is hogpipe's training file: adopted %d lines; it holds %d bytes, all of them stored examples\n", abs, m.Adopted(), pos.Bytes)
	return nil
}

// WriteStats prints what the training data holds: as JSON, or as tables.
func WriteStats(w io.Writer, st hogpipe.TrainingStats, asJSON bool) error {
	if asJSON {
		b, err := hogpipe.MarshalLine(st)
		if err == nil {
			_, err = w.Write(b)
		}
		return err
	}
	fmt.Fprintf(w, "training examples: %d\n\nper failure reason:\n", st.Total)
	for _, c := range st.ByReason {
		fmt.Fprintf(w, "  %-24s %8d\n", c.Key, c.Count)
	}
	fmt.Fprintf(w, "\nper day (UTC):\n")
	for _, c := range st.ByDay {
		fmt.Fprintf(w, "  %-24s %8d\n", c.Key, c.Count)
	}
	fmt.Fprintf(w, "\nmost frequent prompts:\n")
	for _, c := range st.TopPrompts {
		p := c.Key
		if len(p) > 60 {
			p = p[:57] + "..."
		}
		fmt.Fprintf(w, "  %8d  %q\n", c.Count, p)
	}
	return nil
}

// ImportAndReport imports the file at abs (named file on the command
// line) with ImportFile and reports on out and warn. ImportFile reads the
// whole file before it stores anything: a file that is not JSONL changes
// nothing, and is a usage error.
func ImportAndReport(ctx context.Context, file, abs string, store Importer, now time.Time, out, warn io.Writer) error {
	res, err := ImportFile(ctx, abs, store, now)
	if errors.Is(err, ErrNotJSONL) {
		return cli.Usagef("%v; nothing was imported: hogpipe imports files whose every line is a JSON object", err)
	}
	if err != nil {
		return fmt.Errorf("import %s: %w (examples stored so far stay; importing again adds only the rest)", file, err)
	}
	if res.Torn > 0 {
		fmt.Fprintf(warn, "%s: the last line is incomplete (no newline, not a whole JSON object): not imported (%d bytes)\n", file, res.Torn)
	}
	fmt.Fprintf(out, "imported %d examples from %s (%d lines already stored); the training file gets them appended (at once by a running hogpipe serve, else at its next start)\n",
		res.Added, file, res.Lines-res.Added)
	return nil
}

// CheckImport checks that file can be imported, and tells whether it is
// the training file itself (live: ImportLive, not ImportFile). Refusals
// are usage errors.
func CheckImport(file, trainingFile string) (abs string, live bool, err error) {
	if file == "" {
		return "", false, cli.Usagef("say which file to import: hogpipe import [flags] FILE")
	}
	if abs, err = filepath.Abs(file); err != nil {
		return "", false, cli.Usagef("%s: %v", file, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", false, cli.Usagef("cannot import %s: %v", file, err)
	}
	if !fi.Mode().IsRegular() {
		return "", false, cli.Usagef("cannot import %s: not a regular file", file)
	}
	tf, err := os.Stat(trainingFile)
	return abs, err == nil && os.SameFile(fi, tf), nil
}
