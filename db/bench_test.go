package db

import (
	"context"
	"strconv"
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

// BenchmarkApplyMessages measures what every instance of a cluster does
// for each chat message in the log: decode the command and apply it, in
// groups of 32 per transaction (what the apply loop takes at a few
// thousand messages a second).
func BenchmarkApplyMessages(b *testing.B) {
	s := openTest(b, Options{})
	const group = 32
	entries := make([]Entry, 0, group)
	pos := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pos++
		data, err := EncodeCommand(Command{ID: "bench-" + strconv.FormatInt(pos, 10), At: toMilli(time.Time{}),
			Op: &addMessage{Room: "room-" + strconv.FormatInt(pos%64, 10), User: "guest-1", Content: "a message of a typical length, some forty characters"}})
		if err != nil {
			b.Fatal(err)
		}
		entries = append(entries, Entry{Position: pos, Data: data})
		if len(entries) == group || i == b.N-1 {
			if _, _, err := s.applyShared(entries); err != nil {
				b.Fatal(err)
			}
			entries = entries[:0]
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "messages/s")
}
