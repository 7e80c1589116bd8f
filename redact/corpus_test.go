package redact

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateDoc = flag.Bool("update-doc", false, "rewrite the precision/recall table in docs/training-data.md")

// thresholds are the published minimums (docs/training-data.md): the
// corpus test fails when a kind falls below them.
var thresholds = map[string]struct{ precision, recall float64 }{
	Email:  {0.98, 0.98},
	Card:   {0.98, 0.98},
	IBAN:   {0.98, 0.98},
	Secret: {0.98, 0.98},
	Phone:  {0.95, 0.95},
	IP:     {0.98, 0.98},
}

// corpusCase is one labelled text: spans to replace are written
// ⟦kind:value⟧ in the file; text is the plain text, spans the labels.
type corpusCase struct {
	file, note string
	line       int
	text       string
	spans      []Span
}

func parseMarked(s string) (string, []Span, error) {
	var b strings.Builder
	var spans []Span
	for {
		i := strings.Index(s, "⟦")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i+len("⟦"):]
		colon := strings.IndexByte(s, ':')
		end := strings.Index(s, "⟧")
		if colon < 0 || end < colon {
			return "", nil, fmt.Errorf("unclosed or kindless mark near %q", s)
		}
		kind := s[:colon]
		if !slices.Contains(All, kind) {
			return "", nil, fmt.Errorf("unknown kind %q", kind)
		}
		start := b.Len()
		b.WriteString(s[colon+1 : end])
		spans = append(spans, Span{kind, start, b.Len()})
		s = s[end+len("⟧"):]
	}
	return b.String(), spans, nil
}

func loadCorpus(t testing.TB) []corpusCase {
	t.Helper()
	files, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/: %v", err)
	}
	var cases []corpusCase
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			var raw struct{ Text, Note string }
			if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
				t.Fatalf("%s:%d: %v", f, n, err)
			}
			text, spans, err := parseMarked(raw.Text)
			if err != nil {
				t.Fatalf("%s:%d: %v", f, n, err)
			}
			cases = append(cases, corpusCase{file: filepath.Base(f), line: n, note: raw.Note, text: text, spans: spans})
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return cases
}

type score struct{ tp, fp, fn, labels, negatives int }

func (s score) precision() float64 {
	if s.tp+s.fp == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fp)
}

func (s score) recall() float64 {
	if s.tp+s.fn == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fn)
}

// evaluate scores find on the corpus, span-exact: a finding counts only
// when kind, start and end all match a label.
func evaluate(cases []corpusCase, find func(string) []Span, report func(c corpusCase, kind, what, span string)) map[string]*score {
	scores := map[string]*score{}
	for _, k := range All {
		scores[k] = &score{}
	}
	for _, c := range cases {
		got := find(c.text)
		for _, sp := range c.spans {
			scores[sp.Kind].labels++
			if slices.Contains(got, sp) {
				scores[sp.Kind].tp++
			} else {
				scores[sp.Kind].fn++
				report(c, sp.Kind, "missed", c.text[sp.Start:sp.End])
			}
		}
		for _, sp := range got {
			if s, ok := scores[sp.Kind]; ok && !slices.Contains(c.spans, sp) {
				s.fp++
				report(c, sp.Kind, "wrongly found", c.text[sp.Start:sp.End])
			}
		}
	}
	return scores
}

func TestCorpus(t *testing.T) {
	cases := loadCorpus(t)
	if len(cases) < 500 {
		t.Fatalf("corpus has %d cases; it should have hundreds", len(cases))
	}
	negatives := 0
	for _, c := range cases {
		if len(c.spans) == 0 {
			negatives++
		}
	}
	scores := evaluate(cases, func(s string) []Span { return Find(s, All) }, func(c corpusCase, kind, what, span string) {
		t.Logf("%s:%d (%s): %s %s %q in %q", c.file, c.line, c.note, kind, what, span, c.text)
	})
	for _, k := range All {
		s, min := scores[k], thresholds[k]
		t.Logf("%-6s labels %4d  tp %4d  fp %3d  fn %3d  precision %.3f  recall %.3f", k, s.labels, s.tp, s.fp, s.fn, s.precision(), s.recall())
		if s.labels < 20 {
			t.Errorf("%s: only %d labelled spans; the corpus needs more to measure anything", k, s.labels)
		}
		if s.precision() < min.precision || s.recall() < min.recall {
			t.Errorf("%s: precision %.3f recall %.3f, below the published %.2f / %.2f", k, s.precision(), s.recall(), min.precision, min.recall)
		}
	}
	if *updateDoc {
		writeDocTable(t, len(cases), negatives, scores)
	}
}

// TestCorpusMarkup: the labels themselves parse as intended.
func TestCorpusMarkup(t *testing.T) {
	text, spans, err := parseMarked("a ⟦email:zoë@x.io⟧ b ⟦phone:+1 2⟧")
	if err != nil || text != "a zoë@x.io b +1 2" || len(spans) != 2 || text[spans[0].Start:spans[0].End] != "zoë@x.io" || text[spans[1].Start:spans[1].End] != "+1 2" {
		t.Fatalf("parseMarked: %q %v %v", text, spans, err)
	}
	if _, _, err := parseMarked("⟦ssn:1⟧"); err == nil {
		t.Error("unknown kind accepted")
	}
}

const docBegin, docEnd = "<!-- redact-corpus:begin -->", "<!-- redact-corpus:end -->"

func writeDocTable(t *testing.T, n, negatives int, scores map[string]*score) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\nMeasured on the corpus in `redact/testdata/` (%d cases, %d of them hard negatives with nothing to redact), span-exact. Regenerate with `make redact-report`.\n\n",
		docBegin, n, negatives)
	b.WriteString("| kind | labelled spans | found right | wrongly found | missed | precision | recall | minimum (precision / recall) |\n|---|---|---|---|---|---|---|---|\n")
	for _, k := range All {
		s, min := scores[k], thresholds[k]
		fmt.Fprintf(&b, "| `%s` | %d | %d | %d | %d | %.3f | %.3f | %.2f / %.2f |\n", k, s.labels, s.tp, s.fp, s.fn, s.precision(), s.recall(), min.precision, min.recall)
	}
	b.WriteString(docEnd)
	replaceDocSection(t, docBegin, docEnd, strings.TrimSuffix(strings.TrimPrefix(b.String(), docBegin+"\n"), docEnd))
}

// replaceDocSection puts body between the begin and end markers of
// docs/training-data.md.
func replaceDocSection(t testing.TB, begin, end, body string) {
	t.Helper()
	path := filepath.Join("..", "docs", "training-data.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %s … %s section", path, begin, end)
	}
	s = s[:i] + begin + "\n" + strings.TrimSuffix(body, "\n") + "\n" + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
