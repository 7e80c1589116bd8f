package redact_test

import (
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/redact"
	"github.com/hogpipe/hogpipe/redact/internal/corpus"
)

var updateDoc = flag.Bool("update-doc", false, "rewrite the precision/recall table in docs/training-data.md")

// thresholds are the published minimums (docs/training-data.md): the
// corpus test fails when a kind falls below them.
var thresholds = map[string]struct{ precision, recall float64 }{
	redact.Email:  {0.98, 0.98},
	redact.Card:   {0.98, 0.98},
	redact.IBAN:   {0.98, 0.98},
	redact.Secret: {0.98, 0.98},
	redact.Phone:  {0.95, 0.95},
	redact.IP:     {0.98, 0.98},
}

func loadCorpus(tb testing.TB) []corpus.Case {
	tb.Helper()
	cases, err := corpus.Load("testdata")
	if err != nil {
		tb.Fatal(err)
	}
	return cases
}

func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	if len(cases) < 500 {
		t.Fatalf("corpus has %d cases; it should have hundreds", len(cases))
	}
	negatives := 0
	for _, c := range cases {
		if len(c.Spans) == 0 {
			negatives++
		}
	}
	scores := corpus.Evaluate(cases, func(s string) []redact.Span { return redact.Find(s, redact.All) }, func(c corpus.Case, kind, what, span string) {
		t.Logf("%s:%d (%s): %s %s %q in %q", c.File, c.Line, c.Note, kind, what, span, c.Text)
	})
	for _, k := range redact.All {
		s, min := scores[k], thresholds[k]
		t.Logf("%-6s labels %4d  tp %4d  fp %3d  fn %3d  precision %.3f  recall %.3f", k, s.Labels, s.TP, s.FP, s.FN, s.Precision(), s.Recall())
		if s.Labels < 20 {
			t.Errorf("%s: only %d labelled spans; the corpus needs more to measure anything", k, s.Labels)
		}
		if s.Precision() < min.precision || s.Recall() < min.recall {
			t.Errorf("%s: precision %.3f recall %.3f, below the published %.2f / %.2f", k, s.Precision(), s.Recall(), min.precision, min.recall)
		}
	}
	if !*updateDoc {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Measured on the corpus in `redact/testdata/` (%d cases, %d of them hard negatives with nothing to redact), span-exact. Regenerate with `make redact-report`.\n\n", len(cases), negatives)
	b.WriteString("| kind | labelled spans | found right | wrongly found | missed | precision | recall | minimum (precision / recall) |\n|---|---|---|---|---|---|---|---|\n")
	for _, k := range redact.All {
		s, min := scores[k], thresholds[k]
		fmt.Fprintf(&b, "| `%s` | %d | %d | %d | %d | %.3f | %.3f | %.2f / %.2f |\n", k, s.Labels, s.TP, s.FP, s.FN, s.Precision(), s.Recall(), min.precision, min.recall)
	}
	if err := corpus.ReplaceDocSection(filepath.Join("..", "docs", "training-data.md"), "<!-- redact-corpus:begin -->", "<!-- redact-corpus:end -->", b.String()); err != nil {
		t.Fatal(err)
	}
}

// TestCorpusMarkup: the labels themselves parse as intended.
func TestCorpusMarkup(t *testing.T) {
	text, spans, err := corpus.ParseMarked("a ⟦email:zoë@x.io⟧ b ⟦phone:+1 2⟧")
	if err != nil || text != "a zoë@x.io b +1 2" || len(spans) != 2 || text[spans[0].Start:spans[0].End] != "zoë@x.io" || text[spans[1].Start:spans[1].End] != "+1 2" {
		t.Fatalf("ParseMarked: %q %v %v", text, spans, err)
	}
	if _, _, err := corpus.ParseMarked("⟦ssn:1⟧"); err == nil {
		t.Error("unknown kind accepted")
	}
}
