package redact

import (
	"strings"
	"testing"
)

// typicalPrompts are the corpus texts of at most 300 bytes: prompts as
// users write them, with and without personal data.
func typicalPrompts(tb testing.TB) []string {
	var out []string
	for _, c := range loadCorpus(tb) {
		if len(c.text) <= 300 {
			out = append(out, c.text)
		}
	}
	return out
}

// bigPrompt is 32 KiB of corpus text (the default --max-prompt-bytes):
// a pasted log or document with personal data here and there.
func bigPrompt(tb testing.TB) string {
	var b strings.Builder
	for b.Len() < 32<<10 {
		for _, c := range loadCorpus(tb) {
			b.WriteString(c.text)
			b.WriteString("\n")
			if b.Len() >= 32<<10 {
				break
			}
		}
	}
	return b.String()[:32<<10]
}

func BenchmarkTextTypical(b *testing.B) {
	prompts := typicalPrompts(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Text(prompts[i%len(prompts)], All)
	}
}

func BenchmarkText32KiB(b *testing.B) {
	p := bigPrompt(b)
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Text(p, All)
	}
}

// BenchmarkTextPlain32KiB is 32 KiB of prose with nothing to find.
func BenchmarkTextPlain32KiB(b *testing.B) {
	p := strings.Repeat("The model failed to summarise the quarterly report because the context was too long. ", 400)[:32<<10]
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Text(p, All)
	}
}
