package trainingfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/hogpipe/hogpipe"
)

// Export formats.
const (
	FormatV1             = "v1"             // the training_data.jsonl line, as stored
	FormatOriginal       = "original"       // the original service's 4-key line
	FormatClassification = "classification" // {"text": prompt, "label": failure_reason}
)

// Formats lists the export formats, for help texts and validation.
var Formats = []string{FormatV1, FormatOriginal, FormatClassification}

// ExampleReader is the read side of Source, for exports.
type ExampleReader interface {
	ExamplesAfter(ctx context.Context, after int64, limit int) ([]hogpipe.ExampleLine, error)
}

// FilteredReader reads examples matching a filter; stores implement it so
// filters run in SQL rather than over every line.
type FilteredReader interface {
	ExamplesFiltered(ctx context.Context, after int64, limit int, f hogpipe.ExampleFilter) ([]hogpipe.ExampleLine, error)
}

// RangeReader renders whole blocks of export lines by seq range; stores
// that can do it in SQL make plain exports several times faster, and the
// ranges run in parallel.
type RangeReader interface {
	ExportRange(ctx context.Context, lo, hi int64, f hogpipe.ExampleFilter, format string) ([]byte, int, error)
	LastExampleSeq(ctx context.Context) (int64, error)
}

// DistinctReader groups examples by content in the store.
type DistinctReader interface {
	DistinctExamples(ctx context.Context, f hogpipe.ExampleFilter, each func(line []byte, count int64) error) error
}

// ErrNoFastPath is what a store's ExportRange or DistinctExamples returns
// when it cannot do the work in SQL; the export then takes the portable path.
var ErrNoFastPath = errors.New("no fast export path on this store")

// rangeSize is the seq span of one ExportRange call.
const rangeSize = 8192

// Options shape an export.
type Options struct {
	Format string
	Filter hogpipe.ExampleFilter
	// DedupeContent writes one line per distinct (prompt, reason), in order
	// of first appearance, with a "count" of how many examples it stands for.
	DedupeContent bool
	// Progress, when set, is called now and then with the examples read.
	Progress func(n int64)
}

// Split sends each example to train or validation by a hash of its id:
// the same example lands on the same side on every run and machine.
type Split struct {
	Fraction          float64 // share that goes to train, in (0, 1)
	Train, Validation io.Writer
}

// InTrain tells which side of a split an id falls on: the first 8 bytes of
// SHA-256(id), big-endian, as a fraction of 2^64, below the train fraction.
// (A plain FNV hash was tried first: ids that differ only at the end, such
// as sequential ones, share its top bits and all landed on one side.)
func InTrain(id string, fraction float64) bool {
	sum := sha256.Sum256([]byte(id))
	return float64(binary.BigEndian.Uint64(sum[:8]))/float64(1<<64) < fraction
}

// ExportWith writes the examples matching opt to w in commit order and
// returns how many lines it wrote; with split set, w is unused and lines go
// to the split's writers.
func ExportWith(ctx context.Context, src ExampleReader, opt Options, w io.Writer, split *Split) (int64, error) {
	if opt.Format == "" {
		opt.Format = FormatV1
	}
	switch opt.Format {
	case FormatV1, FormatOriginal, FormatClassification:
	default:
		return 0, hogpipe.FieldError("format", "unknown format %q; use one of %v", opt.Format, Formats)
	}
	if rr, ok := src.(RangeReader); ok && split == nil && !opt.DedupeContent && opt.Format != FormatV1 {
		// v1 lines are stored whole: copying them row by row is as fast.
		n, err := exportRanges(ctx, rr, opt, w)
		if !errors.Is(err, ErrNoFastPath) {
			return n, err
		}
	}
	if dr, ok := src.(DistinctReader); ok && split == nil && opt.DedupeContent {
		bw := bufio.NewWriterSize(w, 1<<20)
		var n int64
		err := dr.DistinctExamples(ctx, opt.Filter, func(line []byte, count int64) error {
			n++
			return writeLine(bw, line, opt.Format, count)
		})
		if !errors.Is(err, ErrNoFastPath) {
			if err != nil {
				return n, err
			}
			if opt.Progress != nil {
				opt.Progress(n)
			}
			return n, bw.Flush()
		}
	}
	var outs []*bufio.Writer
	pick := func(string) *bufio.Writer { return outs[0] }
	if split != nil {
		outs = []*bufio.Writer{bufio.NewWriterSize(split.Train, 1<<20), bufio.NewWriterSize(split.Validation, 1<<20)}
		pick = func(id string) *bufio.Writer {
			if InTrain(id, split.Fraction) {
				return outs[0]
			}
			return outs[1]
		}
	} else {
		outs = []*bufio.Writer{bufio.NewWriterSize(w, 1<<20)}
	}
	read := func(after int64) ([]hogpipe.ExampleLine, error) {
		if fr, ok := src.(FilteredReader); ok {
			return fr.ExamplesFiltered(ctx, after, batchSize, opt.Filter)
		}
		if !opt.Filter.Empty() {
			return nil, fmt.Errorf("this store cannot filter examples")
		}
		return src.ExamplesAfter(ctx, after, batchSize)
	}

	type group struct {
		id    string
		ex    hogpipe.TrainingExample
		count int64
	}
	var groups []*group
	index := map[[2]string]*group{}
	var written, read_ int64
	var after int64
	last := time.Now()
	for {
		batch, err := read(after)
		if err != nil {
			return written, err
		}
		if len(batch) == 0 {
			break
		}
		for _, l := range batch {
			read_++
			if opt.DedupeContent {
				var ex hogpipe.TrainingExample
				if err := decodeExample(l.ExportLine(), &ex); err != nil {
					return written, fmt.Errorf("example %s: stored line does not parse: %w", l.ID, err)
				}
				k := [2]string{ex.InputPrompt, ex.FailureReason}
				if g := index[k]; g != nil {
					g.count++
				} else {
					g = &group{id: l.ID, ex: ex, count: 1}
					index[k] = g
					groups = append(groups, g)
				}
				continue
			}
			if err := writeLine(pick(l.ID), l.ExportLine(), opt.Format, 0); err != nil {
				return written, fmt.Errorf("example %s: %w", l.ID, err)
			}
			written++
		}
		after = batch[len(batch)-1].Seq
		if opt.Progress != nil && time.Since(last) > 100*time.Millisecond {
			opt.Progress(read_)
			last = time.Now()
		}
	}
	for _, g := range groups {
		line, err := hogpipe.MarshalLine(g.ex)
		if err != nil {
			return written, err
		}
		if err := writeLine(pick(g.id), line, opt.Format, g.count); err != nil {
			return written, err
		}
		written++
	}
	if opt.Progress != nil {
		opt.Progress(read_)
	}
	for _, o := range outs {
		if err := o.Flush(); err != nil {
			return written, fmt.Errorf("write export: %w", err)
		}
	}
	return written, nil
}

type originalLine struct {
	hogpipe.OriginalExample
	Count int64 `json:"count,omitempty"`
}

type classificationLine struct {
	Text  string `json:"text"`
	Label string `json:"label"`
	Count int64  `json:"count,omitempty"`
}

type v1Line struct {
	hogpipe.TrainingExample
	Count int64 `json:"count,omitempty"`
}

// writeLine writes one stored v1 line in format; count > 0 adds "count".
func writeLine(w *bufio.Writer, line []byte, format string, count int64) error {
	if format == FormatV1 && count == 0 {
		_, err := w.Write(line)
		return err
	}
	var v any
	switch format {
	case FormatOriginal, FormatClassification:
		// Only the four original keys are needed: skip building the
		// properties map.
		var ex hogpipe.OriginalExample
		if err := json.Unmarshal(line, &ex); err != nil {
			return fmt.Errorf("stored line does not parse: %w", err)
		}
		if format == FormatOriginal {
			v = originalLine{ex, count}
		} else {
			v = classificationLine{ex.InputPrompt, ex.FailureReason, count}
		}
	default:
		var ex hogpipe.TrainingExample
		if err := decodeExample(line, &ex); err != nil {
			return fmt.Errorf("stored line does not parse: %w", err)
		}
		v = v1Line{ex, count}
	}
	b, err := hogpipe.MarshalLine(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// exportRanges renders seq ranges on every core and writes them in order.
func exportRanges(ctx context.Context, rr RangeReader, opt Options, w io.Writer) (int64, error) {
	last, err := rr.LastExampleSeq(ctx)
	if err != nil {
		return 0, err
	}
	type result struct {
		chunk []byte
		n     int
		err   error
	}
	workers := max(1, runtime.GOMAXPROCS(0))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// One channel per range, handed out in order: the writer waits on
	// them in turn while up to `workers` ranges render ahead.
	order := make(chan chan result, workers)
	go func() {
		defer close(order)
		sem := make(chan struct{}, workers)
		for lo := int64(0); lo < last; lo += rangeSize {
			ch := make(chan result, 1)
			select {
			case order <- ch:
			case <-ctx.Done():
				return
			}
			sem <- struct{}{}
			go func(lo int64) {
				defer func() { <-sem }()
				chunk, n, err := rr.ExportRange(ctx, lo, lo+rangeSize, opt.Filter, opt.Format)
				ch <- result{chunk, n, err}
			}(lo)
		}
	}()
	var written int64
	tick := time.Now()
	for ch := range order {
		r := <-ch
		if r.err != nil {
			return written, r.err
		}
		if _, err := w.Write(r.chunk); err != nil {
			return written, fmt.Errorf("write export: %w", err)
		}
		written += int64(r.n)
		if opt.Progress != nil && time.Since(tick) > 100*time.Millisecond {
			opt.Progress(written)
			tick = time.Now()
		}
	}
	if opt.Progress != nil {
		opt.Progress(written)
	}
	return written, nil
}

// decodeExample reads a stored v1 line keeping its numbers as written
// (json.Number): decoding properties into float64 would round big integers
// and fail on a literal beyond float64 stored before such numbers were
// refused, aborting the export mid-stream.
func decodeExample(line []byte, ex *hogpipe.TrainingExample) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	return dec.Decode(ex)
}
