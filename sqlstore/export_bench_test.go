package sqlstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
	"github.com/hogpipe/hogpipe/trainingfile"
)

// exportFixture fills a store with n training examples (once per run).
func exportFixture(b *testing.B, n int) *Store {
	b.Helper()
	dir := b.TempDir()
	s, err := OpenSQLite(context.Background(), filepath.Join(dir, "x.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	reasons := []string{"timeout", "rate_limited", "content_policy", "model_error"}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	const per = 1000
	sem := make(chan struct{}, 4)
	for i := 0; i < n; i += per {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			evs := make([]hogpipe.Event, 0, per)
			for j := i; j < min(i+per, n); j++ {
				ts := start.Add(time.Duration(j) * time.Second)
				evs = append(evs, hogpipe.Event{UUID: "e" + strconv.Itoa(j), Name: hogpipe.EventGenerationFailed, DistinctID: "u" + strconv.Itoa(j%5000),
					Timestamp: ts, ReceivedAt: ts, Source: hogpipe.SourceWebhook,
					Properties: map[string]any{"failure_reason": reasons[j%4], "input_prompt": fmt.Sprintf("generate a picture of item %d in watercolour", j%20000), "model": "m1"}})
			}
			if _, err := s.Ingest(context.Background(), evs); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	return s
}

// BenchmarkExport1M measures exporting 1,000,000 examples (the target is
// under 5 s on 2 cores) in each format, and with a split, against a
// baseline of reading the same rows without writing anything.
// Run: go test ./sqlstore -run XXX -bench Export1M -benchtime 1x -timeout 30m
func BenchmarkExport1M(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("HOGPIPE_BENCH_EXAMPLES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	s := exportFixture(b, n)
	b.Run("read-only-baseline", func(b *testing.B) {
		for b.Loop() {
			var after int64
			rows := 0
			for {
				batch, err := s.ExamplesAfter(context.Background(), after, 4096)
				if err != nil {
					b.Fatal(err)
				}
				if len(batch) == 0 {
					break
				}
				rows += len(batch)
				after = batch[len(batch)-1].Seq
			}
			if rows != n {
				b.Fatalf("%d rows", rows)
			}
		}
		b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "examples/s")
	})
	for _, tc := range []struct {
		name string
		opt  trainingfile.Options
		sp   bool
	}{
		{"v1", trainingfile.Options{Format: trainingfile.FormatV1}, false},
		{"original", trainingfile.Options{Format: trainingfile.FormatOriginal}, false},
		{"classification", trainingfile.Options{Format: trainingfile.FormatClassification}, false},
		{"v1-split", trainingfile.Options{Format: trainingfile.FormatV1}, true},
		{"classification-dedupe", trainingfile.Options{Format: trainingfile.FormatClassification, DedupeContent: true}, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				var split *trainingfile.Split
				if tc.sp {
					split = &trainingfile.Split{Fraction: 0.9, Train: io.Discard, Validation: io.Discard}
				}
				if _, err := trainingfile.ExportWith(context.Background(), s, tc.opt, io.Discard, split); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/(b.Elapsed().Seconds()/float64(b.N)), "examples/s")
		})
	}
}
