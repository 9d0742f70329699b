package stats

import (
	"runtime"
	"testing"
	"time"
)

func TestRequestsOver(t *testing.T) {
	var r Requests
	base := time.Unix(1_000_000, 0)
	// 100 requests in each of the 10 seconds before base: 1ms … 100ms.
	for s := 1; s <= 10; s++ {
		for i := 1; i <= 100; i++ {
			r.Observe(base.Add(-time.Duration(s)*time.Second), time.Duration(i)*time.Millisecond)
		}
	}
	r.Observe(base, time.Hour)                      // the current second does not count yet
	r.Observe(base.Add(-70*time.Second), time.Hour) // too old

	count, p50, p95 := r.Over(base, 60)
	if count != 1000 {
		t.Fatalf("count = %d, want 1000", count)
	}
	// Bins are ~21% wide: the estimate is the bin's upper bound.
	if p50 < 50*time.Millisecond || p50 > 61*time.Millisecond {
		t.Errorf("p50 = %v, want about 50ms", p50)
	}
	if p95 < 95*time.Millisecond || p95 > 116*time.Millisecond {
		t.Errorf("p95 = %v, want about 95ms", p95)
	}
	if c, _, _ := r.Over(base, 5); c != 500 {
		t.Errorf("count over 5s = %d, want 500", c)
	}
	if c, p50, p95 := r.Over(base.Add(2*time.Minute), 60); c != 0 || p50 != 0 || p95 != 0 {
		t.Errorf("after two minutes: %d %v %v, want zeros", c, p50, p95)
	}
}

func TestSeriesBuckets(t *testing.T) {
	base := time.Unix(1_000_000, 0).UTC() // a multiple of 10 s
	sec := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	type add struct {
		at    float64
		value float64
	}
	type want struct {
		start         float64
		n             int
		min, max, sum float64
		last          float64
	}
	for _, tc := range []struct {
		name     string
		adds     []add
		from, to float64 // seconds after base
		res      int     // 0: 1 s × 5, 1: 10 s × 3
		want     []want
	}{
		{"one sample", []add{{0.5, 7}}, 0, 10, 0, []want{{0, 1, 7, 7, 7, 7}}},
		{"two in a bucket, out of order", []add{{1.9, 5}, {1.2, 3}}, 0, 10, 0, []want{{1, 2, 3, 5, 8, 5}}},
		{"gaps are left out", []add{{0, 1}, {3, 2}}, 0, 10, 0, []want{{0, 1, 1, 1, 1, 1}, {3, 1, 2, 2, 2, 2}}},
		{"older than the ring", []add{{0, 1}, {1, 2}, {5, 3}, {6, 4}}, 0, 10, 0,
			[]want{{5, 1, 3, 3, 3, 3}, {6, 1, 4, 4, 4, 4}}}, // buckets 2–6 are kept; 0 and 1 were overwritten
		{"a late sample past the ring is dropped", []add{{9, 1}, {2, 5}}, 0, 10, 0, []want{{9, 1, 1, 1, 1, 1}}},
		{"from inside a bucket skips it", []add{{0.2, 1}, {1.5, 2}}, 0.5, 10, 0, []want{{1, 1, 2, 2, 2, 2}}},
		{"to is exclusive", []add{{0.2, 1}, {1.5, 2}}, 0, 1, 0, []want{{0, 1, 1, 1, 1, 1}}},
		{"coarse resolution", []add{{1, 1}, {9, 3}, {11, 10}}, 0, 30, 1, []want{{0, 2, 1, 3, 4, 3}, {10, 1, 10, 10, 10, 10}}},
		{"before 1970 floors", []add{{-1_000_000.5, 4}}, -1_000_001, -999_999, 0, []want{{-1_000_001, 1, 4, 4, 4, 4}}},
		{"nothing", nil, 0, 10, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSeries("x", "", Resolution{Width: time.Second, Count: 5}, Resolution{Width: 10 * time.Second, Count: 3})
			for _, a := range tc.adds {
				s.Add(Point{At: sec(a.at), Value: a.value})
			}
			got := s.Buckets(tc.res, sec(tc.from), sec(tc.to))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d buckets, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.Start.Equal(sec(w.start)) || g.N != w.n || g.Min != w.min || g.Max != w.max || g.Sum != w.sum || g.Last != w.last {
					t.Errorf("bucket %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func TestSeriesLatestAndVersion(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	s := NewSeries("x", "", Resolution{Width: time.Second, Count: 5})
	if _, ok := s.Latest(); ok || s.Version() != 0 {
		t.Fatal("a new series has a latest sample or a version")
	}
	s.Add(Point{At: base, Value: 9})
	s.Add(Point{At: base.Add(-time.Hour), Value: 1}) // older: not the latest, and past the ring
	if p, ok := s.Latest(); !ok || p.Value != 9 {
		t.Errorf("Latest = %v %v, want 9", p, ok)
	}
	if s.Version() != 2 {
		t.Errorf("version %d after two samples, want 2", s.Version())
	}
	if got := s.Buckets(0, base.Add(time.Hour), base.Add(2*time.Hour)); len(got) != 0 {
		t.Errorf("buckets an hour later: %+v", got)
	}
	if p, ok := s.Latest(); !ok || p.Value != 9 {
		t.Errorf("Latest = %v %v, want 9 even past the window", p, ok)
	}
}

// BenchmarkSeriesMemory measures what one series costs at the board's
// resolutions (5 m at 1 s, 1 h at 10 s, 24 h at 5 min, each with a few
// buckets to spare), filled: its memory is fixed whatever the sample rate.
func BenchmarkSeriesMemory(b *testing.B) {
	res := []Resolution{{time.Second, 306}, {10 * time.Second, 366}, {5 * time.Minute, 294}}
	base := time.Unix(1_000_000, 0)
	var before, after runtime.MemStats
	const n = 100
	keep := make([]*Series, 0, n)
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		s := NewSeries("queue depth", "jobs", res...)
		for i := range 24 * 3600 / 60 {
			s.Add(Point{At: base.Add(time.Duration(i) * time.Minute), Value: float64(i)})
		}
		keep = append(keep, s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	for b.Loop() {
		keep[0].Add(Point{At: base, Value: 1})
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/series")
}
