// Package corpus reads the labelled redaction corpus in redact/testdata and
// scores a detector on it, span-exact. It is shared by redact's tests and
// the comparison module in redact/compare.
package corpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hogpipe/hogpipe/redact"
)

// Case is one labelled text: spans to replace are written ⟦kind:value⟧ in
// the file; Text is the plain text, Spans the labels.
type Case struct {
	File, Note string
	Line       int
	Text       string
	Spans      []redact.Span
}

// ParseMarked turns "a ⟦email:x@y.io⟧" into its text and labelled spans.
func ParseMarked(s string) (string, []redact.Span, error) {
	var b strings.Builder
	var spans []redact.Span
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
		if !slices.Contains(redact.All, kind) {
			return "", nil, fmt.Errorf("unknown kind %q", kind)
		}
		start := b.Len()
		b.WriteString(s[colon+1 : end])
		spans = append(spans, redact.Span{Kind: kind, Start: start, End: b.Len()})
		s = s[end+len("⟧"):]
	}
	return b.String(), spans, nil
}

// Load reads every *.jsonl file of dir: one {"text","note"} object a line.
func Load(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no corpus in %s: %v", dir, err)
	}
	var cases []Case
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			var raw struct{ Text, Note string }
			if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
				fh.Close()
				return nil, fmt.Errorf("%s:%d: %w", f, n, err)
			}
			text, spans, err := ParseMarked(raw.Text)
			if err != nil {
				fh.Close()
				return nil, fmt.Errorf("%s:%d: %w", f, n, err)
			}
			cases = append(cases, Case{File: filepath.Base(f), Line: n, Note: raw.Note, Text: text, Spans: spans})
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return cases, nil
}

// Score counts one kind's findings against its labels.
type Score struct{ TP, FP, FN, Labels int }

// Precision is the share of findings that match a label (1 with none).
func (s Score) Precision() float64 {
	if s.TP+s.FP == 0 {
		return 1
	}
	return float64(s.TP) / float64(s.TP+s.FP)
}

// Recall is the share of labels found (1 with none).
func (s Score) Recall() float64 {
	if s.TP+s.FN == 0 {
		return 1
	}
	return float64(s.TP) / float64(s.TP+s.FN)
}

// Evaluate scores find on the cases, span-exact: a finding counts only when
// kind, start and end all match a label. report, when set, hears of every
// miss and every wrong finding.
func Evaluate(cases []Case, find func(string) []redact.Span, report func(c Case, kind, what, span string)) map[string]*Score {
	scores := map[string]*Score{}
	for _, k := range redact.All {
		scores[k] = &Score{}
	}
	for _, c := range cases {
		got := find(c.Text)
		for _, sp := range c.Spans {
			scores[sp.Kind].Labels++
			if slices.Contains(got, sp) {
				scores[sp.Kind].TP++
			} else {
				scores[sp.Kind].FN++
				if report != nil {
					report(c, sp.Kind, "missed", c.Text[sp.Start:sp.End])
				}
			}
		}
		for _, sp := range got {
			if s, ok := scores[sp.Kind]; ok && !slices.Contains(c.Spans, sp) {
				s.FP++
				if report != nil {
					report(c, sp.Kind, "wrongly found", c.Text[sp.Start:sp.End])
				}
			}
		}
	}
	return scores
}

// TypicalPrompts are the texts of at most 300 bytes.
func TypicalPrompts(cases []Case) []string {
	var out []string
	for _, c := range cases {
		if len(c.Text) <= 300 {
			out = append(out, c.Text)
		}
	}
	return out
}

// BigPrompt is 32 KiB of corpus text, one case a line.
func BigPrompt(cases []Case) string {
	var b strings.Builder
	for b.Len() < 32<<10 && len(cases) > 0 {
		for _, c := range cases {
			b.WriteString(c.Text)
			b.WriteString("\n")
		}
	}
	return b.String()[:32<<10]
}

// ReplaceDocSection puts body between the begin and end markers of the
// file at path.
func ReplaceDocSection(path, begin, end, body string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s section", path, begin, end)
	}
	s = s[:i] + begin + "\n" + strings.TrimSuffix(body, "\n") + "\n" + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
