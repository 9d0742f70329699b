// Package stats measures what the dashboard shows: HTTP requests per minute
// and their response times, and short time series for the chart. It is pure
// bookkeeping: no I/O, no goroutines; callers pass the time in.
package stats

import (
	"math"
	"sort"
	"sync"
	"time"
)

// Requests counts finished HTTP requests over the last minute and estimates
// their response-time percentiles. It is safe for concurrent use.
type Requests struct {
	mu   sync.Mutex
	secs [61]second // guarded by mu; ring indexed by unix second: the current one and a whole minute before it
}

type second struct {
	unix  int64
	count int
	bins  [nbins]uint32
}

// Durations are binned on a log scale from 10µs to ~30s, 12 bins per decade
// (about 21% apart), which bounds the error of a percentile to one bin.
const (
	nbins       = 80
	binsPerDec  = 12
	minDuration = 10 * time.Microsecond
)

func bin(d time.Duration) int {
	if d <= minDuration {
		return 0
	}
	b := int(math.Log10(float64(d)/float64(minDuration))*binsPerDec) + 1
	return min(b, nbins-1)
}

// binUpper is the largest duration that falls into bin b.
func binUpper(b int) time.Duration {
	return time.Duration(float64(minDuration) * math.Pow(10, float64(b)/binsPerDec))
}

// Observe records one request that took d and finished at now.
func (r *Requests) Observe(now time.Time, d time.Duration) {
	u := now.Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &r.secs[u%int64(len(r.secs))]
	if s.unix > u {
		return // older than the window the slot holds now
	}
	if s.unix != u {
		*s = second{unix: u}
	}
	s.count++
	s.bins[bin(d)]++
}

// Over returns how many requests finished in the last secs whole seconds
// before now's second (1 to 60), and their median and 95th-percentile
// durations (zero without requests).
func (r *Requests) Over(now time.Time, secs int) (count int, p50, p95 time.Duration) {
	secs = max(1, min(secs, len(r.secs)-1))
	var bins [nbins]uint32
	u := now.Unix()
	r.mu.Lock()
	for i := range r.secs {
		s := &r.secs[i]
		if s.unix >= u-int64(secs) && s.unix < u {
			count += s.count
			for b, n := range s.bins {
				bins[b] += n
			}
		}
	}
	r.mu.Unlock()
	return count, percentile(&bins, count, 0.50), percentile(&bins, count, 0.95)
}

func percentile(bins *[nbins]uint32, count int, q float64) time.Duration {
	if count == 0 {
		return 0
	}
	rank := uint32(math.Ceil(q * float64(count)))
	var seen uint32
	for b, n := range bins {
		seen += n
		if seen >= rank {
			return binUpper(b)
		}
	}
	return binUpper(nbins - 1)
}

// Point is one sample of a series.
type Point struct {
	At    time.Time
	Value float64
}

// Series keeps the samples of one measure that are younger than a window.
// It is safe for concurrent use.
type Series struct {
	Name   string
	Unit   string
	window time.Duration
	max    int

	mu     sync.Mutex
	points []Point // guarded by mu; oldest first
	last   Point   // guarded by mu; newest sample ever added, kept past the window
	any    bool    // guarded by mu; whether last is set
}

// NewSeries returns an empty series that keeps window of samples and at most
// max points (the oldest are dropped first).
func NewSeries(name, unit string, window time.Duration, max int) *Series {
	return &Series{Name: name, Unit: unit, window: window, max: max}
}

// Add records a sample. Samples older than the newest one are placed in order.
func (s *Series) Add(p Point) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := sort.Search(len(s.points), func(i int) bool { return s.points[i].At.After(p.At) })
	s.points = append(s.points, Point{})
	copy(s.points[i+1:], s.points[i:])
	s.points[i] = p
	if !s.any || !p.At.Before(s.last.At) {
		s.last, s.any = p, true
	}
	if over := len(s.points) - s.max; over > 0 {
		s.points = append(s.points[:0], s.points[over:]...)
	}
}

// Since returns a copy of the samples within the window before now, oldest
// first, and forgets older ones.
func (s *Series) Since(now time.Time) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := now.Add(-s.window)
	i := sort.Search(len(s.points), func(i int) bool { return !s.points[i].At.Before(cut) })
	s.points = append(s.points[:0], s.points[i:]...)
	return append([]Point(nil), s.points...)
}

// Latest returns the newest sample ever added, even one older than the
// window, and whether there is one.
func (s *Series) Latest() (Point, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.any
}
