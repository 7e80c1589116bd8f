package redact_test

import (
	"strings"
	"testing"

	"github.com/hogpipe/hogpipe/redact"
	"github.com/hogpipe/hogpipe/redact/internal/corpus"
)

// BenchmarkTextTypical cycles through the corpus texts of at most 300
// bytes: prompts as users write them, with and without personal data.
func BenchmarkTextTypical(b *testing.B) {
	prompts := corpus.TypicalPrompts(loadCorpus(b))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		redact.Text(prompts[i%len(prompts)], redact.All)
	}
}

// BenchmarkText32KiB is 32 KiB of corpus text (the default
// --max-prompt-bytes): a pasted document dense with personal data.
func BenchmarkText32KiB(b *testing.B) {
	p := corpus.BigPrompt(loadCorpus(b))
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		redact.Text(p, redact.All)
	}
}

// BenchmarkTextPlain32KiB is 32 KiB of prose with nothing to find.
func BenchmarkTextPlain32KiB(b *testing.B) {
	p := strings.Repeat("The model failed to summarise the quarterly report because the context was too long. ", 400)[:32<<10]
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		redact.Text(p, redact.All)
	}
}
