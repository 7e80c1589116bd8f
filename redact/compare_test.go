//go:build compare

// The comparison with gitleaks' maintained rule set builds only with
// -tags compare (make redact-report): it pulls in gitleaks and its
// dependencies, which the program itself does not need.
package redact

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/detect"
	"github.com/zricethezav/gitleaks/v8/logging"
)

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
				out = append(out, Span{Secret, i, i + len(sec)})
			}
		}
		return resolve(out)
	}
}

// TestCompareSecretRules scores gitleaks' default rules and ours on the
// corpus's secret labels, and with -update-doc writes both to the docs.
func TestCompareSecretRules(t *testing.T) {
	cases := loadCorpus(t)
	quiet := func(corpusCase, string, string, string) {}
	ours := evaluate(cases, func(s string) []Span { return Find(s, []string{Secret}) }, quiet)[Secret]
	gl := evaluate(cases, gitleaksFind(t), func(c corpusCase, kind, what, span string) {
		if kind == Secret {
			t.Logf("gitleaks %s %q (%s)", what, span, c.note)
		}
	})[Secret]
	t.Logf("ours:     precision %.3f recall %.3f", ours.precision(), ours.recall())
	t.Logf("gitleaks: precision %.3f recall %.3f", gl.precision(), gl.recall())
	if *updateDoc {
		table := fmt.Sprintf("| secret detector | found right | wrongly found | missed | precision | recall |\n|---|---|---|---|---|---|\n"+
			"| hogpipe's rules (`redact/secret.go`) | %d | %d | %d | %.3f | %.3f |\n"+
			"| gitleaks %s default rules (%s) | %d | %d | %d | %.3f | %.3f |",
			ours.tp, ours.fp, ours.fn, ours.precision(), ours.recall(),
			gitleaksVersion, "`detect.NewDetectorDefaultConfig`", gl.tp, gl.fp, gl.fn, gl.precision(), gl.recall())
		replaceDocSection(t, "<!-- redact-gitleaks:begin -->", "<!-- redact-gitleaks:end -->", table)
	}
}

func BenchmarkGitleaksTypical(b *testing.B) {
	find := gitleaksFind(b)
	prompts := typicalPrompts(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		find(prompts[i%len(prompts)])
	}
}

func BenchmarkGitleaks32KiB(b *testing.B) {
	find := gitleaksFind(b)
	p := bigPrompt(b)
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
	quiet := func(corpusCase, string, string, string) {}
	now := evaluate(cases, func(s string) []Span { return Find(s, All) }, quiet)
	old := evaluate(cases, oldFind, quiet)
	var b strings.Builder
	b.WriteString("| kind | before #13: precision | recall | now: precision | recall |\n|---|---|---|---|---|\n")
	for _, k := range All {
		o, n := old[k], now[k]
		op, or := fmt.Sprintf("%.3f", o.precision()), fmt.Sprintf("%.3f", o.recall())
		if k == IBAN {
			op, or = "—", "0 (no such kind)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %.3f | %.3f |\n", k, op, or, n.precision(), n.recall())
		t.Logf("%-6s before: precision %s recall %s (fp %d fn %d)", k, op, or, o.fp, o.fn)
	}
	if *updateDoc {
		replaceDocSection(t, "<!-- redact-baseline:begin -->", "<!-- redact-baseline:end -->", b.String())
	}
}
