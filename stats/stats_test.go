package stats

import (
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

func TestSeries(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	s := NewSeries("x", "", time.Minute, 5)
	for i := range 10 {
		s.Add(Point{At: base.Add(time.Duration(i) * time.Second), Value: float64(i)})
	}
	s.Add(Point{At: base.Add(7500 * time.Millisecond), Value: 7.5}) // out of order
	got := s.Since(base.Add(10 * time.Second))
	want := []float64{6, 7, 7.5, 8, 9}
	if len(got) != len(want) {
		t.Fatalf("got %d points, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Value != want[i] {
			t.Errorf("point %d = %v, want %v", i, got[i].Value, want[i])
		}
	}
	if got := s.Since(base.Add(time.Hour)); len(got) != 0 {
		t.Errorf("points past the window: %v", got)
	}
	if p, ok := s.Latest(); !ok || p.Value != 9 {
		t.Errorf("Latest = %v %v, want 9 even past the window", p, ok)
	}
}
