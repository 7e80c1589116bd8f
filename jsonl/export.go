package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hogpipe/hogpipe"
)

// Export formats.
const (
	FormatV1       = "v1"       // the training_data.jsonl line, as stored
	FormatOriginal = "original" // the original service's 4-key line
)

// Formats lists the export formats, for help texts and validation.
var Formats = []string{FormatV1, FormatOriginal}

// Export writes every stored training example to w in the given format, in
// commit order, and returns how many it wrote.
func Export(ctx context.Context, w io.Writer, src ExampleReader, format string) (int64, error) {
	if format != FormatV1 && format != FormatOriginal {
		return 0, hogpipe.FieldError("format", "unknown format %q; use one of %v", format, Formats)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var n, after int64
	for {
		batch, err := src.ExamplesAfter(ctx, after, batchSize)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			break
		}
		for _, l := range batch {
			if err := writeLine(bw, l.Line, format); err != nil {
				return n, fmt.Errorf("example %s: %w", l.ID, err)
			}
			n++
		}
		after = batch[len(batch)-1].Seq
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write export: %w", err)
	}
	return n, nil
}

func writeLine(w *bufio.Writer, line []byte, format string) error {
	if format == FormatV1 {
		_, err := w.Write(line)
		return err
	}
	var ex hogpipe.TrainingExample
	if err := json.Unmarshal(line, &ex); err != nil {
		return fmt.Errorf("stored line does not parse: %w", err)
	}
	b, err := hogpipe.MarshalLine(ex.Original())
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
