package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The standard collectors' series that every server under load exposes.
const (
	seriesRSS        = "process_resident_memory_bytes"
	seriesGoroutines = "go_goroutines"
	seriesHeapInuse  = "go_memstats_heap_inuse_bytes"
	seriesStackInuse = "go_memstats_stack_inuse_bytes"
	seriesCPU        = "process_cpu_seconds_total"
	// The Go runtime's own accounting of the collector (runtime/metrics
	// /cpu/classes/gc/total:cpu-seconds and /gc/cycles/total:gc-cycles),
	// which both servers export.
	seriesGCCPU    = "go_cpu_classes_gc_total_cpu_seconds_total"
	seriesGCCycles = "go_gc_cycles_total_gc_cycles_total"
)

// cpuMeter reads how much CPU time a server spends on a phase of a scenario:
// a figure that the other work on a shared machine hardly moves, unlike
// rates and latencies.
type cpuMeter struct {
	b                 *bench
	srv               *server
	start             float64
	gcStart, gcCycles float64 // the collector's CPU seconds and cycles at the start
	err               error
}

func (b *bench) cpuMeter(ctx context.Context, srv *server) *cpuMeter {
	m := &cpuMeter{b: b, srv: srv}
	st, err := scrape(ctx, b.ctl, srv)
	m.start, m.gcStart, m.gcCycles, m.err = st[seriesCPU], st[seriesGCCPU], st[seriesGCCycles], err
	return m
}

// per records the CPU seconds spent since the meter started, divided by n,
// as key in s.
func (m *cpuMeter) per(ctx context.Context, s *sample, key string, n int) {
	if m.err != nil || n <= 0 {
		return
	}
	st, err := scrape(ctx, m.b.ctl, m.srv)
	if err != nil {
		return
	}
	if _, ok := st[seriesCPU]; ok {
		s.set(key, (st[seriesCPU]-m.start)/float64(n))
	}
}

// serverStats is one reading of a server's /metrics: series name (with its
// labels, as written) → value.
type serverStats map[string]float64

// scrape reads srv's /metrics.
func scrape(ctx context.Context, hc *http.Client, srv *server) (serverStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+metricsPath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read %s metrics: %w", srv.Kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read %s metrics: %s", srv.Kind, resp.Status)
	}
	st, err := parseMetrics(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s metrics: %w", srv.Kind, err)
	}
	for _, want := range []string{seriesRSS, seriesGoroutines} {
		if _, ok := st[want]; !ok {
			return nil, fmt.Errorf("%s /metrics has no %s: it needs the standard process and Go collectors", srv.Kind, want)
		}
	}
	return st, nil
}

// parseMetrics reads the Prometheus text format: `name{labels} value` lines.
func parseMetrics(r io.Reader) (serverStats, error) {
	st := serverStats{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		key, val := line[:i], line[i+1:]
		if j := strings.LastIndexByte(key, ' '); j > 0 && !strings.Contains(key[j:], "}") {
			// `name value timestamp`: the value is the second field.
			key, val = key[:j], key[j+1:]
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		st[key] = v
	}
	return st, sc.Err()
}

// waitGauge polls srv's connection gauge until it reads want, or timeout.
// It returns the last reading.
func waitGauge(ctx context.Context, hc *http.Client, srv *server, want float64, timeout time.Duration) (serverStats, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, err := scrape(ctx, hc, srv)
		if err != nil {
			return nil, err
		}
		if st[srv.ConnGauge] == want || time.Now().After(deadline) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// percentile returns the p-th percentile (0–100) of sorted, by the nearest
// rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// sortedDurations sorts d in place and returns it.
func sortedDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

// median returns the median of v (the mean of the middle two when even).
func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
