package trainingfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/internal/atomicfile"
	"github.com/hogpipe/hogpipe/internal/cli"
)

// ExportConfig is hogpipe export's flags. They are read through
// ParseRequest, the parser of GET /api/training-data's query, so the
// command line and the API refuse the same values.
type ExportConfig struct {
	// Out is the file to write (-o); "" is standard output.
	Out                          string
	format, since, until, reason string
	dedupe                       bool
	split                        float64
}

// Flags registers hogpipe export's flags.
func (c *ExportConfig) Flags(fs *cli.FlagSet) {
	fs.StringVar(&c.Out, "o", "HOGPIPE_EXPORT_OUTPUT", "", "write to this file (atomically) instead of standard output")
	fs.StringVar(&c.format, OptFormat, "HOGPIPE_EXPORT_FORMAT", FormatV1, "line format: "+strings.Join(Formats, ", "))
	fs.StringVar(&c.since, OptSince, "HOGPIPE_EXPORT_SINCE", "", "only examples at or after this day or time (2026-11-01 or RFC 3339)")
	fs.StringVar(&c.until, OptUntil, "HOGPIPE_EXPORT_UNTIL", "", "only examples before this day or time")
	fs.StringVar(&c.reason, OptReason, "HOGPIPE_EXPORT_REASON", "", "only these failure reasons (comma-separated)")
	fs.BoolVar(&c.dedupe, OptDedupeContent, "HOGPIPE_EXPORT_DEDUPE_CONTENT", false, "one line per distinct prompt and reason, with a count")
	fs.Float64Var(&c.split, OptSplit, "HOGPIPE_EXPORT_SPLIT", 0, "train share of a deterministic split by id hash, e.g. 0.9: writes FILE.train.jsonl and FILE.validation.jsonl (needs -o)")
}

// Request checks the flags as ParseRequest checks a query; a refusal is a
// usage error naming the flag.
func (c *ExportConfig) Request() (Request, error) {
	vals := map[string]string{OptFormat: c.format, OptSince: c.since, OptUntil: c.until, OptReason: c.reason}
	if c.dedupe {
		vals[OptDedupeContent] = "true"
	}
	// The flag's default, 0, is "no split", as an absent split= is; any
	// other value (-0 and NaN included) is checked as the query's is.
	if c.split != 0 || math.Signbit(c.split) {
		vals[OptSplit] = strconv.FormatFloat(c.split, 'g', -1, 64)
	}
	r, err := ParseRequest(func(name string) string { return vals[name] })
	var fe *hogpipe.Error
	if errors.As(err, &fe) {
		return r, cli.Usagef("--%s %q: %s", fe.Field, vals[fe.Field], fe.Message)
	}
	if err != nil {
		return r, err
	}
	if r.Split > 0 && c.Out == "" {
		return r, cli.Usagef("--split needs -o FILE: it writes FILE.train.jsonl and FILE.validation.jsonl")
	}
	return r, nil
}

// ShowProgress has the export report on w how many of total examples it
// has read, rewriting one line (for a terminal); call end when it is done.
func (r *Request) ShowProgress(w io.Writer, total int64) (end func()) {
	r.Progress = func(n int64) {
		pct := 100.0
		if total > 0 {
			pct = float64(n) * 100 / float64(total)
		}
		fmt.Fprintf(w, "\rexported %d of %d examples (%.0f%%)", n, total, pct)
	}
	return func() { fmt.Fprintln(w) }
}

// Stream writes the export to w; with a split, only the side r.Part names
// (a query's answer is one stream).
func (r Request) Stream(ctx context.Context, src ExampleReader, w io.Writer) (int64, error) {
	if r.Split == 0 {
		return ExportWith(ctx, src, r.Options, w, nil)
	}
	split := &Split{Fraction: r.Split, Train: io.Discard, Validation: io.Discard}
	switch r.Part {
	case PartTrain:
		split.Train = w
	case PartValidation:
		split.Validation = w
	default:
		return 0, hogpipe.FieldError(OptPart, "with split, say part=%s or part=%s", PartTrain, PartValidation)
	}
	return ExportWith(ctx, src, r.Options, nil, split)
}

// WriteFiles writes the export to the file out, or with a split to the
// two files SplitNames gives, and returns their paths and the lines
// written. Each file is written aside and renamed into place, so a reader
// never sees half an export; mode 0600: the lines hold personal data.
func (r Request) WriteFiles(ctx context.Context, src ExampleReader, out string) ([]string, int64, error) {
	paths := []string{out}
	if r.Split > 0 {
		tr, va := SplitNames(out)
		paths = []string{tr, va}
	}
	var files []*atomicfile.File
	for _, p := range paths {
		f, err := atomicfile.Create(p, 0o600)
		if err != nil {
			return nil, 0, err
		}
		defer f.Abort()
		files = append(files, f)
	}
	var n int64
	var err error
	if r.Split > 0 {
		n, err = ExportWith(ctx, src, r.Options, nil, &Split{Fraction: r.Split, Train: files[0], Validation: files[1]})
	} else {
		n, err = ExportWith(ctx, src, r.Options, files[0], nil)
	}
	if err != nil {
		return nil, n, err
	}
	for _, f := range files {
		if err := f.Commit(); err != nil {
			return nil, n, err
		}
	}
	return paths, n, nil
}

// SplitNames names a split's two files after out: data.jsonl gives
// data.train.jsonl and data.validation.jsonl; without an extension,
// .jsonl is added.
func SplitNames(out string) (train, validation string) {
	ext := filepath.Ext(out)
	base := strings.TrimSuffix(out, ext)
	if ext == "" {
		ext = ".jsonl"
	}
	return base + "." + PartTrain + ext, base + "." + PartValidation + ext
}
