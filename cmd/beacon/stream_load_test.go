package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/beacon-live/beacon/widget"
)

const streamGauge = `beacon_live_connections{transport="stream"}`

// holdWidgetStreams opens n /stream/metrics viewers at once and returns when
// each has its first frame. Each is then read until it ends; updated counts
// the viewers that have received a frame after their first.
func holdWidgetStreams(t *testing.T, ctx context.Context, c *http.Client, u string, n int) (closeAll func(), updated func() int) {
	t.Helper()
	var (
		mu     sync.Mutex
		bodies []func()
		frames int
		wg     sync.WaitGroup
	)
	ready := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			resp, err := c.Do(req)
			if err != nil {
				ready <- fmt.Errorf("viewer %d: %w", i, err)
				return
			}
			mu.Lock()
			bodies = append(bodies, func() { resp.Body.Close() })
			mu.Unlock()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			sc.Split(splitFrames)
			first, counted := true, false
			for sc.Scan() {
				if first {
					first = false
					ready <- nil
					continue
				}
				if !counted {
					counted = true
					mu.Lock()
					frames++
					mu.Unlock()
				}
			}
			if first {
				ready <- fmt.Errorf("viewer %d: the stream ended before its first frame: %v", i, sc.Err())
			}
		})
	}
	closeAll = func() {
		mu.Lock()
		for _, f := range bodies {
			f()
		}
		mu.Unlock()
		wg.Wait()
	}
	for range n {
		if err := <-ready; err != nil {
			closeAll()
			t.Fatal(err)
		}
	}
	return closeAll, func() int { mu.Lock(); defer mu.Unlock(); return frames }
}

var frameStart = []byte(`<div class="frame">`)

// splitFrames splits a stream at the start of each frame: a token is
// everything up to the next frame.
func splitFrames(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.Index(data, frameStart); i >= 0 {
		if j := bytes.Index(data[i+len(frameStart):], frameStart); j >= 0 {
			end := i + len(frameStart) + j
			return end, data[:end], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// TestStreamViewersLeaveNothing opens 500 zero-JavaScript viewers (100 with
// -short), checks that they all get updates, closes them, and checks that
// the server's goroutines return to their baseline. With
// BEACON_STREAM_HOLD=60s it holds them that long first and reports the heap
// per viewer (the figure in BENCHMARKS.md).
func TestStreamViewersLeaveNothing(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 100
	}
	hold := time.Duration(0)
	if v := os.Getenv("BEACON_STREAM_HOLD"); v != "" {
		var err error
		if hold, err = time.ParseDuration(v); err != nil {
			t.Fatalf("BEACON_STREAM_HOLD: %v", err)
		}
	}
	in := startEmbed(t)
	c := streamClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute+hold)
	defer cancel()
	u := in.URL + "/stream/metrics?token=" + sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{"http://127.0.0.1:1"}, Expires: time.Now().Add(time.Hour).Unix()})
	gauge := func() float64 {
		t.Helper()
		v, err := metricValue(c, in.URL, streamGauge)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	warm, _ := holdWidgetStreams(t, ctx, c, u, 1)
	warm()
	baseline := goroutineBaseline(t, "warm-up viewer counted out", streamGauge, gauge)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	opened := time.Now()
	closeAll, updated := holdWidgetStreams(t, ctx, c, u, n)
	t.Logf("%d viewers open in %v", n, time.Since(opened).Round(time.Millisecond))
	if v := gauge(); v != float64(n) {
		closeAll()
		t.Fatalf("%s = %v, want %d", streamGauge, v, n)
	}
	if hold > 0 {
		t.Logf("holding them for %v", hold)
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
	}
	// Every viewer stays live: all of them get updates (the board ticks).
	waitFor(t, time.Minute, "every viewer to get an update", func() (bool, string) {
		return updated() == n, fmt.Sprintf("%d of %d viewers updated", updated(), n)
	})
	if v := gauge(); v != float64(n) {
		t.Errorf("after the updates %s = %v, want %d: a viewer dropped", streamGauge, v, n)
	}
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	peak := runtime.NumGoroutine()
	// Client and server share this process: the figure counts both ends.
	t.Logf("%d viewers for %v, all updated; heap in use %+.1f KiB per viewer (both ends), %d goroutines",
		n, time.Since(opened).Round(time.Second), float64(int64(during.HeapInuse)-int64(before.HeapInuse))/float64(n)/1024, peak)
	closeAll()
	g := waitBaseline(t, fmt.Sprintf("closing %d viewers", n), baseline, streamGauge, gauge)
	t.Logf("with %d viewers: %d goroutines; after closing them: %d (baseline %d)", n, peak, g, baseline)
}
