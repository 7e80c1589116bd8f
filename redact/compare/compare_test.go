package compare

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"

	"github.com/hogpipe/hogpipe/redact"
	"github.com/hogpipe/hogpipe/redact/internal/corpus"
)

var updateDoc = flag.Bool("update-doc", false, "rewrite the comparison tables in docs/training-data.md")

var docPath = filepath.Join("..", "..", "docs", "training-data.md")

func loadCorpus(tb testing.TB) []corpus.Case {
	tb.Helper()
	cases, err := corpus.Load(filepath.Join("..", "testdata"))
	if err != nil {
		tb.Fatal(err)
	}
	return cases
}

// gitleaksVersion is the module version measured (go.mod pins it).
const gitleaksVersion = "v8.30.1"

func gitleaksFind(t testing.TB) func(string) []Span {
	logging.Logger = zerolog.New(io.Discard)
	d, err := detect.NewDetectorDefaultConfig()
	if err != nil {
		t.Fatal(err)
	}
	return func(s string) []Span {
		var out []Span
		for _, f := range d.DetectString(s) {
			sec := f.Secret
			if sec == "" {
				sec = f.Match
			}
			if i := strings.Index(s, sec); i >= 0 {
				out = append(out, Span{Kind: redact.Secret, Start: i, End: i + len(sec)})
			}
		}
		// One finding per place: gitleaks may report a secret twice.
		slices.SortFunc(out, func(a, b Span) int { return a.Start - b.Start })
		return slices.CompactFunc(out, func(a, b Span) bool { return a.Start < b.End })
	}
}

// TestCompareSecretRules scores gitleaks' default rules and ours on the
// corpus's secret labels, and with -update-doc writes both to the docs.
func TestCompareSecretRules(t *testing.T) {
	cases := loadCorpus(t)
	ours := corpus.Evaluate(cases, func(s string) []Span { return redact.Find(s, []string{Secret}) }, nil)[Secret]
	gl := corpus.Evaluate(cases, gitleaksFind(t), func(c corpus.Case, kind, what, span string) {
		if kind == Secret {
			t.Logf("gitleaks %s %q (%s)", what, span, c.Note)
		}
	})[Secret]
	t.Logf("ours:     precision %.3f recall %.3f", ours.Precision(), ours.Recall())
	t.Logf("gitleaks: precision %.3f recall %.3f", gl.Precision(), gl.Recall())
	if *updateDoc {
		table := fmt.Sprintf("| secret detector | found right | wrongly found | missed | precision | recall |\n|---|---|---|---|---|---|\n"+
			"| hogpipe's rules (`redact/secret.go`) | %d | %d | %d | %.3f | %.3f |\n"+
			"| gitleaks %s default rules (%s) | %d | %d | %d | %.3f | %.3f |",
			ours.TP, ours.FP, ours.FN, ours.Precision(), ours.Recall(),
			gitleaksVersion, "`detect.NewDetectorDefaultConfig`", gl.TP, gl.FP, gl.FN, gl.Precision(), gl.Recall())
		if err := corpus.ReplaceDocSection(docPath, "<!-- redact-gitleaks:begin -->", "<!-- redact-gitleaks:end -->", table); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkGitleaksTypical(b *testing.B) {
	find := gitleaksFind(b)
	prompts := corpus.TypicalPrompts(loadCorpus(b))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		find(prompts[i%len(prompts)])
	}
}

func BenchmarkGitleaks32KiB(b *testing.B) {
	find := gitleaksFind(b)
	p := corpus.BigPrompt(loadCorpus(b))
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		find(p)
	}
}

// TestCompareBaseline scores the redactor of before issue #13 (hand-written
// regular expressions, baseline_test.go) and the current one per kind.
func TestCompareBaseline(t *testing.T) {
	cases := loadCorpus(t)
	now := corpus.Evaluate(cases, func(s string) []Span { return redact.Find(s, redact.All) }, nil)
	old := corpus.Evaluate(cases, oldFind, nil)
	var b strings.Builder
	b.WriteString("| kind | before #13: precision | recall | now: precision | recall |\n|---|---|---|---|---|\n")
	for _, k := range redact.All {
		o, n := old[k], now[k]
		op, or := fmt.Sprintf("%.3f", o.Precision()), fmt.Sprintf("%.3f", o.Recall())
		if k == redact.IBAN {
			op, or = "—", "0 (no such kind)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %.3f | %.3f |\n", k, op, or, n.Precision(), n.Recall())
		t.Logf("%-6s before: precision %s recall %s (fp %d fn %d)", k, op, or, o.FP, o.FN)
	}
	if *updateDoc {
		if err := corpus.ReplaceDocSection(docPath, "<!-- redact-baseline:begin -->", "<!-- redact-baseline:end -->", b.String()); err != nil {
			t.Fatal(err)
		}
	}
}
