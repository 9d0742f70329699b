// Package stats measures what the dashboard shows: HTTP requests per minute
// and their response times, and time series kept at a few resolutions in
// fixed memory for the charts. It is pure
// bookkeeping: no I/O, no goroutines; callers pass the time in.
package stats

import (
	"math"
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

// Resolution is how finely a Series keeps one span of time: the newest
// Count buckets of Width each, aligned to multiples of Width since the Unix
// epoch (so every series, and every instance, cuts time at the same
// instants).
type Resolution struct {
	Width time.Duration
	Count int
}

// Bucket sums up the samples of a series that fell into one bucket of one
// resolution.
type Bucket struct {
	Start         time.Time // the bucket holds samples at or after Start and before Start+Width
	N             int       // how many samples; Buckets returns none with 0
	Min, Max, Sum float64
	Last          float64   // the value of the newest sample
	LastAt        time.Time // and its time
}

// slot is one bucket of a ring, by index: the bucket that starts at
// idx×Width. A slot whose idx is not the one asked for is stale.
type slot struct {
	idx           int64
	n             uint32
	min, max, sum float64
	last          float64
	lastAt        int64 // unix ms
}

// Series keeps one measure at a few resolutions, in fixed memory: a ring of
// buckets per resolution, whatever the rate of its samples. It is safe for
// concurrent use.
type Series struct {
	Name string
	Unit string
	res  []Resolution

	mu      sync.Mutex
	rings   [][]slot // guarded by mu; per resolution, slot idx%Count
	newest  []int64  // guarded by mu; per resolution, the newest idx added
	last    Point    // guarded by mu; newest sample ever added, kept past every window
	any     bool     // guarded by mu; whether last is set
	version uint64   // guarded by mu; counts Adds, so a reader can tell nothing changed
}

// NewSeries returns an empty series kept at the resolutions res (each with a
// positive Width and Count).
func NewSeries(name, unit string, res ...Resolution) *Series {
	s := &Series{Name: name, Unit: unit, res: res, rings: make([][]slot, len(res)), newest: make([]int64, len(res))}
	for i, r := range res {
		s.rings[i] = make([]slot, r.Count)
		s.newest[i] = math.MinInt64
	}
	return s
}

// bucketIndex is the index of the bucket of width w that holds t.
func bucketIndex(t time.Time, w time.Duration) int64 {
	ms, wms := t.UnixMilli(), w.Milliseconds()
	i := ms / wms
	if ms%wms < 0 {
		i-- // floor, for times before 1970
	}
	return i
}

// Add records a sample. A sample older than a resolution's newest Count
// buckets is left out of that resolution; samples may come in any order.
func (s *Series) Add(p Point) {
	ms := p.At.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	if !s.any || !p.At.Before(s.last.At) {
		s.last, s.any = p, true
	}
	for r, res := range s.res {
		idx := bucketIndex(p.At, res.Width)
		count := int64(res.Count)
		if s.newest[r] != math.MinInt64 && idx <= s.newest[r]-count {
			continue // older than what this resolution keeps
		}
		s.newest[r] = max(s.newest[r], idx)
		sl := &s.rings[r][((idx%count)+count)%count]
		if sl.idx != idx || sl.n == 0 {
			*sl = slot{idx: idx, min: p.Value, max: p.Value, lastAt: math.MinInt64}
		}
		sl.n++
		sl.min, sl.max, sl.sum = min(sl.min, p.Value), max(sl.max, p.Value), sl.sum+p.Value
		if ms >= sl.lastAt {
			sl.last, sl.lastAt = p.Value, ms
		}
	}
}

// Buckets returns the buckets of resolution r (an index into the
// resolutions the series was made with) that start at or after from and
// before to and hold a sample, oldest first.
func (s *Series) Buckets(r int, from, to time.Time) []Bucket {
	res := s.res[r]
	lo, hi := bucketIndex(from, res.Width), bucketIndex(to, res.Width)
	if !from.Equal(time.UnixMilli(lo * res.Width.Milliseconds())) {
		lo++ // the bucket that holds from starts before it
	}
	count := int64(res.Count)
	s.mu.Lock()
	defer s.mu.Unlock()
	lo = max(lo, s.newest[r]-count+1)
	hi = min(hi, s.newest[r]+1)
	var out []Bucket
	for idx := lo; idx < hi; idx++ {
		sl := s.rings[r][((idx%count)+count)%count]
		if sl.idx != idx || sl.n == 0 {
			continue
		}
		out = append(out, Bucket{
			Start: time.UnixMilli(idx * res.Width.Milliseconds()).UTC(),
			N:     int(sl.n), Min: sl.min, Max: sl.max, Sum: sl.sum,
			Last: sl.last, LastAt: time.UnixMilli(sl.lastAt).UTC(),
		})
	}
	return out
}

// Version counts the samples added so far: a reader that drew the series
// at one version need not draw it again while the version is the same and
// its time window did not move.
func (s *Series) Version() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// Latest returns the newest sample ever added, even one older than every
// resolution's window, and whether there is one.
func (s *Series) Latest() (Point, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.any
}
