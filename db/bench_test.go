package db

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAddActivity measures write throughput with many concurrent
// writers (16 goroutines per GOMAXPROCS), as the ingest API would see it.
func BenchmarkAddActivity(b *testing.B) {
	s := openTest(b, Options{})
	ctx := context.Background()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.AddActivity(ctx, "benchmark activity", "https://example.com/", time.Time{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
	b.ReportMetric(float64(b.N)/float64(s.groups.Load()), "writes/tx")
}
