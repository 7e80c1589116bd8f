package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogpipe/hogpipe"
)

func benchEvent(i int64) hogpipe.Event {
	now := time.Now()
	return hogpipe.Event{
		UUID: fmt.Sprintf("bench-%d-%d", now.UnixNano(), i), Name: hogpipe.EventGenerationFailed,
		DistinctID: "user-1", Timestamp: now, ReceivedAt: now, Source: hogpipe.SourceWebhook,
		Properties: map[string]any{"failure_reason": "timeout", "input_prompt": "a prompt", "$lib": "web"},
	}
}

// BenchmarkIngestParallel measures durable group-committed ingest with
// many concurrent callers, as the HTTP handlers call it.
func BenchmarkIngestParallel(b *testing.B) {
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "b.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var n atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS callers
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ev := benchEvent(n.Add(1))
			if _, err := s.Ingest(context.Background(), []hogpipe.Event{ev}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	commits, ops, took := s.CommitStats()
	b.ReportMetric(float64(ops)/float64(commits), "ops/commit")
	b.ReportMetric(float64(took.Microseconds())/float64(commits), "µs/commit")
}

// BenchmarkIngestSerial is the baseline group commit is measured against:
// one caller, so one transaction and one fsync per event.
func BenchmarkIngestSerial(b *testing.B) {
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "b.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Ingest(context.Background(), []hogpipe.Event{benchEvent(int64(i))}); err != nil {
			b.Fatal(err)
		}
	}
}
