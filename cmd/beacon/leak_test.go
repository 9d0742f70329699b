package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

// These tests prove the "no leaks" promise: a shutdown ends every live
// connection with a retry hint, and connections that end leave nothing
// behind on the server.

const connGauge = `beacon_live_connections{transport="sse"}`

// heldStream is one SSE connection held open by a test, and how it ended.
type heldStream struct {
	err       error     // why the stream ended: io.EOF for a clean end
	ended     time.Time // when it ended
	blocks    int
	retry     int  // milliseconds of the last retry hint
	lastRetry bool // the last block before the end was a retry hint
}

// holdStreams opens n streams of /live?topics=activity at once and returns
// when every one has received its first block (the position block, written
// after the server counted the connection). Each stream is then read until
// it ends; wait returns when all have.
func holdStreams(t *testing.T, ctx context.Context, c *http.Client, base string, n int) (streams []*heldStream, closeAll func(), wait func()) {
	t.Helper()
	streams = make([]*heldStream, n)
	bodies := make(chan *sseStream, n)
	ready := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		h := &heldStream{}
		streams[i] = h
		wg.Go(func() {
			st, err := dialSSE(ctx, c, liveURL(base, views.TopicActivity), "")
			if err != nil {
				h.err = err
				ready <- fmt.Errorf("stream %d: %w", i, err)
				return
			}
			bodies <- st
			for {
				b, err := st.Next()
				if err != nil {
					h.err, h.ended = err, time.Now()
					if h.blocks == 0 {
						ready <- fmt.Errorf("stream %d ended before its first block: %w", i, err)
					}
					return
				}
				if h.blocks++; h.blocks == 1 {
					if !isPositionBlock(b) {
						ready <- fmt.Errorf("stream %d starts with %+v, want the position block", i, b)
					} else {
						ready <- nil
					}
				}
				h.lastRetry = b.HasRetry
				if b.HasRetry {
					h.retry = b.Retry
				}
			}
		})
	}
	closeAll = func() {
		for {
			select {
			case st := <-bodies:
				st.Close()
			default:
				return
			}
		}
	}
	for range n {
		if err := <-ready; err != nil {
			// The other streams end with ctx or with the server.
			closeAll()
			t.Fatal(err)
		}
	}
	return streams, closeAll, wg.Wait
}

func TestShutdownWithManyConnections(t *testing.T) {
	const n = 1000
	in := start(t, "", "")
	c := streamClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	opened := time.Now()
	streams, closeAll, wait := holdStreams(t, ctx, c, in.URL, n)
	defer closeAll()
	t.Logf("%d streams open in %v", n, time.Since(opened).Round(time.Millisecond))
	if got, err := metricValue(c, in.URL, connGauge); err != nil || got != n {
		t.Fatalf("%s = %v (%v), want %d", connGauge, got, err, n)
	}

	stopping := time.Now()
	in.Stop(t) // fails the test unless run returns nil
	stopped := time.Since(stopping)
	wait()
	var lastEnd time.Duration
	for _, h := range streams {
		lastEnd = max(lastEnd, h.ended.Sub(stopping))
	}
	t.Logf("shutdown with %d live connections: run returned after %v, the last client saw its stream end after %v (shutdown timeout 5s)",
		n, stopped.Round(time.Millisecond), lastEnd.Round(time.Millisecond))

	bad := 0
	for i, h := range streams {
		ok := errors.Is(h.err, io.EOF) && h.lastRetry && h.retry >= 500 && h.retry <= 3000
		if !ok {
			if bad++; bad <= 10 {
				t.Errorf("stream %d ended with %v after %d blocks; last block a retry hint: %v (%d ms); want a retry hint of 500–3000 ms, then a clean end",
					i, h.err, h.blocks, h.lastRetry, h.retry)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d streams did not end with a retry hint and a clean end", bad, n)
	}
}

// TestShutdownWhileClientsConnect stops the server while clients keep
// opening streams, as browsers do during a deploy, a few times over on the
// same database. Some clients hold their stream, some close it as soon as it
// has its position block; all reconnect at once whenever a stream ends,
// until the listener refuses them. Every stream the server accepts must
// either be ended by the client or be told to come back, and the shutdown
// must be race-free (the race detector fails the test) and return nil (Stop
// fails the test).
func TestShutdownWhileClientsConnect(t *testing.T) {
	const (
		rounds  = 20
		holders = 2
		churner = 8
	)
	dbPath := ""
	var total churnResult
	for round := range rounds {
		in := start(t, dbPath, "")
		dbPath = in.DB
		// Odd rounds have no held stream, so the server often has no
		// stream at all when one more arrives: that is when a shutdown
		// that counts streams with a WaitGroup races (Add at zero while
		// Wait runs).
		r := churnThroughShutdown(t, in, holders*(1-round%2), churner)
		total.accepted += r.accepted
		total.withRetry += r.withRetry
		total.refused += r.refused
		for _, x := range r.silent {
			total.silent = append(total.silent, fmt.Sprintf("round %d: %s", round, x))
		}
	}
	t.Logf("%d rounds: %d streams accepted, %d ended by a retry hint, %d connections refused",
		rounds, total.accepted, total.withRetry, total.refused)
	if total.withRetry < rounds/2*holders {
		t.Errorf("only %d streams got a retry hint; the %d held ones of every other round should have", total.withRetry, holders)
	}
	for i, s := range total.silent {
		if i < 10 {
			t.Errorf("a stream accepted during shutdown ended without a retry hint: %s", s)
		}
	}
	if len(total.silent) > 0 {
		t.Errorf("%d streams accepted during shutdown got 200 and ended without a retry hint: the client is not told when to come back", len(total.silent))
	}
}

// churnResult counts the streams of churnThroughShutdown.
type churnResult struct {
	accepted  int      // streams answered 200
	withRetry int      // of those, ended by the server with a retry hint
	refused   int      // dials that failed: the listener was closed
	silent    []string // how the streams the server ended without a hint ended
}

// churnThroughShutdown has clients open streams one after another and
// stops in while they do: holders keep each stream until the server ends
// it, churners close theirs once it has its position block. Either kind
// opens the next stream at once, resuming from its last id, until a dial
// fails.
func churnThroughShutdown(t *testing.T, in *instance, holders, churners int) churnResult {
	t.Helper()
	c := streamClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var (
		mu  sync.Mutex
		res churnResult
		wg  sync.WaitGroup
	)
	started := make(chan struct{}, holders+churners)
	for i := range holders + churners {
		hold := i < holders
		wg.Go(func() {
			first := true
			lastID := ""
			for ctx.Err() == nil {
				// Like a browser, come back with the last id: a resuming
				// stream reads the log before it subscribes.
				st, err := dialSSE(ctx, c, liveURL(in.URL, views.TopicActivity), lastID)
				if err != nil {
					mu.Lock()
					res.refused++
					mu.Unlock()
					return // the listener is closed: the shutdown is under way
				}
				var blocks []sseBlock
				var end error
				for {
					b, err := st.Next()
					if err != nil {
						end = err
						break
					}
					blocks = append(blocks, b)
					if first && isPositionBlock(b) {
						first = false
						started <- struct{}{}
					}
					if !hold && isPositionBlock(b) {
						break // connected: close it and open the next one
					}
				}
				st.Close()
				if st.LastID != "" {
					lastID = st.LastID
				}
				mu.Lock()
				res.accepted++
				switch {
				case end == nil: // ended by the client after its position block
				case len(blocks) > 0 && blocks[len(blocks)-1].HasRetry:
					res.withRetry++
				default:
					res.silent = append(res.silent, fmt.Sprintf("%v after %d blocks", end, len(blocks)))
				}
				mu.Unlock()
			}
		})
	}
	for range holders + churners {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("clients did not connect")
		}
	}
	in.Stop(t)
	wg.Wait()
	return res
}

func TestGoroutinesReturnToBaseline(t *testing.T) {
	const n = 1000
	in := start(t, "", "")
	// No keep-alive: a finished request or a closed stream closes its
	// connection, so the test's own client keeps no idle connection (and no
	// goroutines for one) that could be mistaken for the server's.
	c := streamClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	gauge := func() float64 {
		t.Helper()
		v, err := metricValue(c, in.URL, connGauge)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Warm up every path the measured part takes (a stream opened and
	// closed, a /metrics scrape), so that whatever starts once and stays is
	// in the baseline.
	_, closeWarm, waitWarm := holdStreams(t, ctx, c, in.URL, 1)
	closeWarm()
	waitWarm()
	baseline := goroutineBaseline(t, "warm-up stream counted out", connGauge, gauge)
	t.Logf("baseline: %d goroutines", baseline)

	_, closeAll, wait := holdStreams(t, ctx, c, in.URL, n)
	if v := gauge(); v != n {
		closeAll()
		t.Fatalf("%s = %v, want %d", connGauge, v, n)
	}
	peak := runtime.NumGoroutine()
	closeAll()
	wait()
	g := waitBaseline(t, fmt.Sprintf("the clients closed %d streams", n), baseline, connGauge, gauge)
	t.Logf("with %d streams: %d goroutines; after closing them: %d", n, peak, g)
}

// goroutineBaseline returns the lowest goroutine count seen over a few
// rounds in which gauge (the metric named name) reads 0, each count taken
// before that round's scrape, as waitBaseline counts. The margin is zero: a
// count can only be higher than the steady state (a request winding down),
// so a low baseline is still reachable, and a high one could at worst hide a
// leak of a goroutine or two in all, never one per connection.
func goroutineBaseline(t *testing.T, what, name string, gauge func() float64) int {
	t.Helper()
	baseline, rounds := -1, 0
	waitFor(t, time.Minute, what, func() (bool, string) {
		g := runtime.NumGoroutine()
		v := gauge()
		if v == 0 {
			if baseline < 0 || g < baseline {
				baseline = g
			}
			rounds++
		}
		return rounds >= 5, fmt.Sprintf("%s = %v", name, v)
	})
	t.Logf("baseline: %d goroutines", baseline)
	return baseline
}

// waitBaseline waits until gauge (the metric named name) reads 0 and the
// goroutines are back to baseline, and returns their count; a minute after
// what happened it fails with every goroutine's stack.
func waitBaseline(t *testing.T, what string, baseline int, name string, gauge func() float64) int {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		// Count before scraping: the scrape's own request is over by the
		// next round.
		g := runtime.NumGoroutine()
		v := gauge()
		if v == 0 && g <= baseline {
			return g
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		}
		var dump bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&dump, 1)
		t.Fatalf("a minute after %s: %s = %v, %d goroutines, baseline %d. Goroutines:\n%s",
			what, name, v, g, baseline, dump.String())
	}
}

// TestShutdownDuringReplay stops the server while the only stream is still
// replaying a long gap (it has counted itself but, as a resuming stream,
// subscribes only after its first pass over the log). It must still be told
// to come back, and run must return nil.
func TestShutdownDuringReplay(t *testing.T) {
	const backlog = 1200 // three replay pages
	path := filepath.Join(t.TempDir(), "beacon.db")
	store, err := db.Open(t.Context(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fill sync.WaitGroup
	for w := range 8 {
		fill.Go(func() {
			for i := w; i < backlog; i += 8 {
				if _, err := store.AddActivity(t.Context(), fmt.Sprintf("backlog %d", i), "", time.Time{}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	fill.Wait()
	epoch := store.Epoch()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	in := start(t, path, "")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	st, err := dialSSE(ctx, streamClient(t), liveURL(in.URL, views.TopicActivity), epoch+"-0")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	first, err := st.Next()
	if err != nil || first.ID != epoch+"-1" {
		t.Fatalf("resuming from 0 began with %+v, %v; want the replay of event 1", first, err)
	}
	var blocks []sseBlock
	drained := make(chan error, 1)
	go func() {
		for {
			b, err := st.Next()
			if err != nil {
				drained <- err
				return
			}
			blocks = append(blocks, b)
		}
	}()
	// The stream has written its first replay page and is most likely
	// reading the next ones: stop now. (If it is done already, it is told
	// to come back all the same; the log line says which case ran.)
	in.Stop(t)
	if err := <-drained; !errors.Is(err, io.EOF) {
		t.Errorf("the replaying stream ended with %v, want a clean end", err)
	}
	positioned := slices.ContainsFunc(blocks, isPositionBlock)
	t.Logf("after the first replayed event: %d blocks; subscribed before the shutdown: %v", len(blocks), positioned)
	if n := len(blocks); n == 0 || !blocks[n-1].HasRetry {
		t.Errorf("the replaying stream was not told to come back: %d blocks after the first, the last %+v", n, blocks[max(n-1, 0):])
	}
}
