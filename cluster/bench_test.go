package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchLog opens a log on a fresh one- or three-node cluster.
func benchLog(b *testing.B, nodes int) *Log {
	b.Helper()
	var url string
	if nodes == 1 {
		url = startNode(b).url()
	} else {
		url = startCluster(b, nodes)[0].url()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := dial(b, url).OpenLog(ctx, LogConfig{})
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkAppend measures stored commands per second with 64 concurrent
// publishers of 300-byte commands, each waiting for its acknowledgement.
func BenchmarkAppend(b *testing.B) {
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			l := benchLog(b, nodes)
			ctx := context.Background()
			data := make([]byte, 300)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := range 64 {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := l.Append(ctx, fmt.Sprintf("w%d-%d", w, i), data); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
		})
	}
}

// BenchmarkRead measures how fast a Reader delivers a log that is already
// stored, in batches of DefaultMaxBatch.
func BenchmarkRead(b *testing.B) {
	l := benchLog(b, 1)
	ctx := context.Background()
	data := make([]byte, 300)
	for i := range b.N {
		if _, err := l.Append(ctx, fmt.Sprint(i), data); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	r := l.Read(1, ReaderConfig{})
	defer r.Close()
	for got := 0; got < b.N; {
		batch, err := r.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		got += len(batch)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}
