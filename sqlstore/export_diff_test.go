package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// portable hides the SQLite store's fast export paths (RangeReader,
// DistinctReader), so an export takes the Go path every store has.
type portable struct{ s *Store }

func (p portable) ExamplesAfter(ctx context.Context, after int64, limit int) ([]hogpipe.ExampleLine, error) {
	return p.s.ExamplesAfter(ctx, after, limit)
}

func (p portable) ExamplesFiltered(ctx context.Context, after int64, limit int, f hogpipe.ExampleFilter) ([]hogpipe.ExampleLine, error) {
	return p.s.ExamplesFiltered(ctx, after, limit, f)
}

// diffStrings are the strings whose JSON spelling differs between
// encoders: line and paragraph separators, short and \u escapes, controls,
// HTML characters, non-BMP, U+FFFD from a lone surrogate.
var diffStrings = []string{
	"plain", "line\u2028sep\u2029para", `quote " backslash \ slash /`, "\b\f\n\r\t", "\x01\x1f\x7f\u0080\u009f",
	"<script>&amp;</script>", "emoji \U0001F600", "\ufffd", "\ufeffbom", "é e\u0301", "  padded  ", "",
}

// TestExportFastPathsMatchPortable: on SQLite, the SQL-rendered export
// lines (ExportRange, DistinctExamples) and the portable Go path give the
// same bytes, in every format, plain and deduplicated.
func TestExportFastPathsMatchPortable(t *testing.T) {
	s, err := OpenSQLite(context.Background(), t.TempDir()+"/hogpipe.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var events []hogpipe.Event
	for i, p := range diffStrings {
		for j, r := range diffStrings {
			if j%3 != i%3 {
				continue
			}
			e := gf(fmt.Sprintf("x%02d-%02d", i, j))
			e.DistinctID = diffStrings[(i+j)%len(diffStrings)]
			e.Properties = map[string]any{
				"input_prompt": "p " + p, "failure_reason": r + " x",
				"big": json.Number("12345678901234567891"), "max": json.Number("1.7976931348623157e308"),
				"tiny": json.Number("1e-400"), "neg": json.Number("-0"), "s": p, p + "k": []any{r, nil, true},
			}
			events = append(events, e, e) // e twice: a duplicate of content
			events[len(events)-1].UUID += "-again"
		}
	}
	if _, err := s.Ingest(ctx, events); err != nil {
		t.Fatal(err)
	}
	for _, format := range trainingfile.Formats {
		for _, dedupe := range []bool{false, true} {
			opt := trainingfile.Options{Format: format, DedupeContent: dedupe}
			var fast, slow bytes.Buffer
			nf, err := trainingfile.ExportWith(ctx, s, opt, &fast, nil)
			if err != nil {
				t.Fatal(err)
			}
			ns, err := trainingfile.ExportWith(ctx, portable{s}, opt, &slow, nil)
			if err != nil {
				t.Fatal(err)
			}
			if nf != ns || !bytes.Equal(fast.Bytes(), slow.Bytes()) {
				fl, sl := bytes.Split(fast.Bytes(), []byte("\n")), bytes.Split(slow.Bytes(), []byte("\n"))
				for i := range min(len(fl), len(sl)) {
					if !bytes.Equal(fl[i], sl[i]) {
						t.Errorf("format %s dedupe=%v: line %d differs:\nfast: %s\nGo:   %s", format, dedupe, i+1, fl[i], sl[i])
						break
					}
				}
				t.Errorf("format %s dedupe=%v: %d/%d lines, %d/%d bytes (fast/Go)", format, dedupe, nf, ns, fast.Len(), slow.Len())
			}
		}
	}
}
