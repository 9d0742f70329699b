package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// bench is what every scenario run gets.
type bench struct {
	cfg *config
	ctl *http.Client // control traffic: /metrics and publishing
	log io.Writer    // progress

	// profile, when set, is called around the measured part of a run; the
	// function it returns ends the profile.
	profile func(srv *server, scenario string) (stop func())
	// limited says that this run is connect-limit's: connect with Beacon's
	// --memory-limit.
	limited bool
}

// scenario is one kind of load. Transport names the live transport it loads:
// "sse", "http", "stream" (zero-JavaScript widget streams), or "ws"
// (WebSocket rooms, which the reference server does not have: those run
// against Beacon alone).
type scenario struct {
	name      string
	transport string
	run       func(ctx context.Context, b *bench, srv *server) (*sample, error)
	// beaconArgs, when set, returns flags Beacon is started with for it.
	beaconArgs func(c *config) []string
	// beaconOnly scenarios measure a setting of Beacon's: the reference
	// server does not run them. beaconEnv is the environment they start
	// Beacon with.
	beaconOnly bool
	beaconEnv  []string
}

var scenarios = map[string]scenario{
	"idle":      {"idle", "sse", runIdle, nil, false, nil},
	"ws-idle":   {"ws-idle", "ws", runWSIdle, nil, false, nil},
	"stream":    {"stream", "stream", runStream, nil, false, nil},
	"fanout":    {"fanout", "sse", runFanout, nil, false, nil},
	"burst":     {"burst", "sse", runBurst, nil, false, nil},
	"ws-burst":  {"ws-burst", "ws", runWSBurst, func(c *config) []string { return roomArgs(c.WSBurstConns) }, false, nil},
	"ws-memory": {"ws-memory", "ws", runWSMemory, func(c *config) []string { return roomArgs(c.WSMemoryConns) }, false, nil},
	"room":      {"room", "ws", runRoom, func(c *config) []string { return roomArgs(c.RoomMembers) }, false, nil},
	"connect":   {"connect", "sse", runConnect, nil, false, nil},
	// connect with the collector run by the memory limit alone: GOGC=off
	// and --memory-limit, the pairing the Go runtime's GC guide describes.
	"connect-limit": {"connect-limit", "sse", runConnect, func(c *config) []string { return []string{"--memory-limit", c.MemoryLimit} }, true, []string{"GOGC=off"}},
	"leak":          {"leak", "sse", runLeak, nil, false, nil},
	"page":          {"page", "http", runPage, nil, false, nil},
	"cluster":       {name: "cluster", transport: "cluster", run: runCluster, beaconArgs: clusterBeaconArgs, beaconOnly: true},
}

// sample is what one run of one scenario against one server measured.
type sample struct {
	Values   map[string]float64 `json:"values"`
	Problems []string           `json:"problems,omitempty"` // sanity failures: dropped connections, lost events
}

func newSample() *sample { return &sample{Values: map[string]float64{}} }

func (s *sample) set(key string, v float64) { s.Values[key] = v }

func (s *sample) problem(format string, a ...any) {
	s.Problems = append(s.Problems, fmt.Sprintf(format, a...))
}

func (b *bench) measure(srv *server, name string) func() {
	if b.profile == nil || srv.PID == 0 {
		return func() {}
	}
	return b.profile(srv, name)
}

func (b *bench) progress(format string, a ...any) {
	fmt.Fprintf(b.log, "  "+format+"\n", a...)
}

// openFleet opens n connections and notes every failure in s.
func (b *bench) openFleet(ctx context.Context, srv *server, n, expect int, s *sample) *fleet {
	return b.open(ctx, newFleet(srv, b.cfg.Client, expect), n, s)
}

// open opens n connections of f and notes every failure in s.
func (b *bench) open(ctx context.Context, f *fleet, n int, s *sample) *fleet {
	f.open(ctx, n, b.cfg.DialConcurrency)
	if failed := f.failed.Load(); failed > 0 {
		s.problem("%d of %d connections failed: %v", failed, n, f.errors())
	}
	return f
}

// checkHeld notes connections that ended on their own.
func checkHeld(f *fleet, s *sample) {
	if n, why := f.dropped(); n > 0 {
		s.problem("%d connections were dropped by the server: %v", n, why)
	}
}

// settle waits d, or less if ctx ends.
func settle(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// warmUp opens and closes a few connections, so the baseline that follows
// includes what a server allocates once (pools, maps, buffers).
func (b *bench) warmUp(ctx context.Context, srv *server) (serverStats, error) {
	return b.warmUpWith(ctx, srv, newFleet(srv, b.cfg.Client, 0), nil)
}

// warmUpWith is warmUp with 50 connections of f; held, when not nil, is
// called while they are open.
func (b *bench) warmUpWith(ctx context.Context, srv *server, f *fleet, held func(*fleet)) (serverStats, error) {
	f.open(ctx, 50, 50)
	if held != nil {
		held(f)
	}
	f.closeAll()
	if _, err := waitGauge(ctx, b.ctl, srv, 0, 10*time.Second); err != nil {
		return nil, err
	}
	settle(ctx, b.cfg.Settle/2)
	return scrape(ctx, b.ctl, srv)
}

// runIdle holds N connections open and reads the server's memory and
// goroutines before and after: the cost of one idle connection.
func runIdle(ctx context.Context, b *bench, srv *server) (*sample, error) {
	return b.idle(ctx, srv, "idle", b.cfg.IdleConns, func() *fleet { return newFleet(srv, b.cfg.Client, 0) })
}

// runWSIdle is runIdle with WebSocket room members, wsRoomSize to a room
// (Beacon's default --room-conns).
func runWSIdle(ctx context.Context, b *bench, srv *server) (*sample, error) {
	srv.ConnGauge = wsGaugeOf(srv)
	return b.idle(ctx, srv, "ws-idle", b.cfg.WSIdleConns, func() *fleet { return newRoomFleet(srv, 0, wsRoomSize, 0) })
}

// idle measures n idle connections of the fleets that newFleet returns.
func (b *bench) idle(ctx context.Context, srv *server, name string, n int, newFleet func() *fleet) (*sample, error) {
	s := newSample()
	before, err := b.warmUpWith(ctx, srv, newFleet(), nil)
	if err != nil {
		return nil, err
	}
	stop := b.measure(srv, name)
	f := b.open(ctx, newFleet(), n, s)
	defer f.closeAll()
	b.progress("%d connections open in %s; settling %s", len(f.clients), f.opened.Round(time.Millisecond), b.cfg.Settle)
	settle(ctx, b.cfg.Settle)
	after, err := scrape(ctx, b.ctl, srv)
	stop()
	if err != nil {
		return nil, err
	}
	checkHeld(f, s)
	held := float64(len(f.clients))
	if g := after[srv.ConnGauge]; g != held {
		s.problem("the server counts %.0f live connections; %0.f are open", g, held)
	}
	per := func(series string) float64 { return (after[series] - before[series]) / held }
	s.set("held", held)
	s.set("bytes_per_conn", per(seriesRSS))
	s.set("goroutines_per_conn", per(seriesGoroutines))
	s.set("heap_per_conn", per(seriesHeapInuse))
	s.set("stack_per_conn", per(seriesStackInuse))
	s.set("rss_before", before[seriesRSS])
	s.set("rss_after", after[seriesRSS])
	return s, nil
}

// publisher posts stamped events to a server.
type publisher struct {
	hc   *http.Client
	url  string
	size int
}

// post publishes event seq, stamped with the time just before it is sent.
func (p *publisher) post(ctx context.Context, seq int64) error {
	body := make([]byte, 0, p.size+16)
	body = append(body, `{"text":"`...)
	body = append(body, eventText(seq, time.Now(), p.size)...)
	body = append(body, `"}`...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+loadToken)
	resp, err := p.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("POST %s: %s: %s", publishPath, resp.Status, bytes.TrimSpace(msg))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (b *bench) publisher(srv *server) *publisher {
	return &publisher{hc: b.ctl, url: srv.URL + publishPath, size: b.cfg.TextSize}
}

// setLatency records the p50, p99 and max of lat under prefix.
func setLatency(s *sample, prefix string, lat []time.Duration) {
	sortedDurations(lat)
	s.set(prefix+"_p50", percentile(lat, 50).Seconds())
	s.set(prefix+"_p99", percentile(lat, 99).Seconds())
	s.set(prefix+"_max", percentile(lat, 100).Seconds())
}

// runFanout publishes K events one at a time to N subscribers, each once
// the previous one reached every subscriber, and measures publish → receipt
// at every subscriber.
func runFanout(ctx context.Context, b *bench, srv *server) (*sample, error) {
	s, n, k := newSample(), b.cfg.FanoutConns, b.cfg.Events
	f := b.openFleet(ctx, srv, n, k, s)
	defer f.closeAll()
	held := len(f.clients)
	b.progress("%d subscribers open in %s; publishing %d events one at a time", held, f.opened.Round(time.Millisecond), k)
	settle(ctx, b.cfg.Settle/4)
	pub := b.publisher(srv)
	cpu := b.cpuMeter(ctx, srv)
	stop := b.measure(srv, "fanout")
	late := 0
	for seq := 1; seq <= k && ctx.Err() == nil; seq++ {
		if err := pub.post(ctx, int64(seq)); err != nil {
			stop()
			return nil, err
		}
		if !f.waitReceived(ctx, int64(held*seq), 10*time.Second) {
			late++
		}
		settle(ctx, b.cfg.Gap)
	}
	stop()
	t := f.tally(k)
	cpu.per(ctx, s, "cpu_per_delivery", t.got)
	checkHeld(f, s)
	if late > 0 || t.got != held*k {
		s.problem("%d of %d deliveries arrived (%d events did not reach every subscriber within 10s; %d subscribers short)", t.got, held*k, late, t.short)
	}
	if t.disorder > 0 {
		s.problem("%d events arrived after a later one", t.disorder)
	}
	if t.retries > 0 {
		s.problem("%d subscribers were told to come back (evicted)", t.retries)
	}
	s.set("held", float64(held))
	s.set("delivered", float64(t.got))
	setLatency(s, "latency", t.lat)
	return s, nil
}

// runBurst publishes B events as fast as the server accepts them to N
// subscribers: deliveries/s = N×B ÷ (first POST → last receipt at the last
// subscriber).
func runBurst(ctx context.Context, b *bench, srv *server) (*sample, error) {
	s, n, burst := newSample(), b.cfg.BurstConns, b.cfg.Burst
	f := b.openFleet(ctx, srv, n, burst, s)
	defer f.closeAll()
	held := len(f.clients)
	b.progress("%d subscribers open in %s; publishing %d events from %d publishers", held, f.opened.Round(time.Millisecond), burst, b.cfg.Publishers)
	settle(ctx, b.cfg.Settle/4)
	pub := b.publisher(srv)
	cpu := b.cpuMeter(ctx, srv)
	stop := b.measure(srv, "burst")
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var postErr error
	start := time.Now()
	for range min(b.cfg.Publishers, burst) {
		wg.Go(func() {
			for {
				seq := next.Add(1)
				if seq > int64(burst) {
					return
				}
				if err := pub.post(ctx, seq); err != nil {
					errOnce.Do(func() { postErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	posted := time.Since(start)
	complete := f.waitReceived(ctx, int64(held*burst), 60*time.Second)
	stop()
	if postErr != nil {
		return nil, postErr
	}
	t := f.tally(burst)
	cpu.per(ctx, s, "cpu_per_delivery", t.got)
	checkHeld(f, s)
	if !complete || t.got != held*burst {
		s.problem("%d of %d deliveries arrived within 60s (%d subscribers short)", t.got, held*burst, t.short)
	}
	if t.retries > 0 {
		s.problem("%d subscribers were told to come back (evicted)", t.retries)
	}
	elapsed := t.last.Sub(start)
	s.set("held", float64(held))
	s.set("delivered", float64(t.got))
	s.set("post_seconds", posted.Seconds())
	s.set("burst_seconds", elapsed.Seconds())
	if elapsed > 0 {
		s.set("deliveries_per_s", float64(t.got)/elapsed.Seconds())
	}
	setLatency(s, "latency", t.lat)
	return s, nil
}

// runConnect opens N connections as fast as the server takes them, holds
// them, and checks that every one is still open and what the server's
// memory is then.
func runConnect(ctx context.Context, b *bench, srv *server) (*sample, error) {
	s, n, name := newSample(), b.cfg.ConnectConns, "connect"
	if b.limited {
		name = "connect-limit"
	}
	if _, err := b.warmUp(ctx, srv); err != nil {
		return nil, err
	}
	cpu := b.cpuMeter(ctx, srv)
	stop := b.measure(srv, name)
	f := b.openFleet(ctx, srv, n, 0, s)
	stop()
	defer f.closeAll()
	held := len(f.clients)
	cpu.per(ctx, s, "cpu_per_connect", held)
	b.progress("%d of %d connections open in %s; holding %s", held, n, f.opened.Round(time.Millisecond), b.cfg.Hold)
	settle(ctx, b.cfg.Hold)
	st, err := scrape(ctx, b.ctl, srv)
	if err != nil {
		return nil, err
	}
	// The collector's share, from the Go runtime's own accounting (while
	// connecting and holding).
	if gc, ok := st[seriesGCCPU]; ok && cpu.err == nil && held > 0 {
		s.set("gc_cpu_per_connect", (gc-cpu.gcStart)/float64(held))
		s.set("gc_cycles", st[seriesGCCycles]-cpu.gcCycles)
	}
	s.set("heap", st[seriesHeapInuse])
	dropped, _ := f.dropped()
	checkHeld(f, s)
	if g := st[srv.ConnGauge]; g != float64(held-dropped) {
		s.problem("the server counts %.0f live connections; %d are open", g, held-dropped)
	}
	hs := sortedDurations(f.handshakes())
	s.set("held", float64(held-dropped))
	s.set("failures", float64(int(f.failed.Load())+dropped))
	s.set("connects_per_s", float64(held)/f.opened.Seconds())
	s.set("handshake_p50", percentile(hs, 50).Seconds())
	s.set("handshake_p99", percentile(hs, 99).Seconds())
	s.set("rss", st[seriesRSS])
	s.set("goroutines", st[seriesGoroutines])
	return s, nil
}

// runLeak connects and disconnects C times, then checks that the server's
// goroutines and memory are back to where they were.
func runLeak(ctx context.Context, b *bench, srv *server) (*sample, error) {
	s, cycles := newSample(), b.cfg.Cycles
	base, err := b.warmUp(ctx, srv)
	if err != nil {
		return nil, err
	}
	f := newFleet(srv, b.cfg.Client, 0)
	cpu := b.cpuMeter(ctx, srv)
	stop := b.measure(srv, "leak")
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range min(b.cfg.CycleWorkers, cycles) {
		wg.Go(func() {
			for next.Add(1) <= int64(cycles) && ctx.Err() == nil {
				if err := f.cycle(ctx); err != nil {
					failed.Add(1)
					f.noteErr(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	cpu.per(ctx, s, "cpu_per_cycle", cycles)
	if f.hc != nil {
		f.hc.CloseIdleConnections()
	}
	b.progress("%d cycles in %s; waiting for the server to let go", cycles, elapsed.Round(time.Millisecond))
	if failed.Load() > 0 {
		s.problem("%d of %d cycles failed: %v", failed.Load(), cycles, f.errors())
	}
	st, err := b.letGo(ctx, srv, base, s)
	if err != nil {
		return nil, err
	}
	s.set("cycles", float64(cycles))
	s.set("cycles_per_s", float64(cycles)/elapsed.Seconds())
	s.set("goroutines_base", base[seriesGoroutines])
	s.set("goroutines_after", st[seriesGoroutines])
	s.set("goroutines_delta", st[seriesGoroutines]-base[seriesGoroutines])
	s.set("rss_base", base[seriesRSS])
	s.set("rss_after", st[seriesRSS])
	s.set("rss_delta", st[seriesRSS]-base[seriesRSS])
	s.set("heap_delta", st[seriesHeapInuse]-base[seriesHeapInuse])
	return s, nil
}

// letGo waits, after the last connection closed, until the server counts
// none (10s at most: a problem after that) and its goroutines are back to
// base (5s at most: the figure shows the difference), and returns a reading
// of its metrics taken -settle/2 later.
func (b *bench) letGo(ctx context.Context, srv *server, base serverStats, s *sample) (serverStats, error) {
	st, err := waitGauge(ctx, b.ctl, srv, 0, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if g := st[srv.ConnGauge]; g != 0 {
		s.problem("the server still counts %.0f live connections 10s after the last one closed", g)
	}
	// Goroutines end a moment after their connection; give them a few seconds.
	deadline := time.Now().Add(5 * time.Second)
	for st[seriesGoroutines] > base[seriesGoroutines] && time.Now().Before(deadline) {
		settle(ctx, 200*time.Millisecond)
		if st, err = scrape(ctx, b.ctl, srv); err != nil {
			return nil, err
		}
	}
	settle(ctx, b.cfg.Settle/2)
	return scrape(ctx, b.ctl, srv)
}

// runPage requests the dashboard from C keep-alive connections for D, like
// `wrk -t2 -c64 -d10s`, after publishing 20 activity items so the feed has
// something to render.
func runPage(ctx context.Context, b *bench, srv *server) (*sample, error) {
	s := newSample()
	pub := b.publisher(srv)
	for seq := int64(1); seq <= 20; seq++ {
		if err := pub.post(ctx, seq); err != nil {
			return nil, err
		}
	}
	conns := b.cfg.PageConns
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	url := srv.URL + pagePath
	lats := make([][]time.Duration, conns)
	var errs, bytesRead atomic.Int64
	var firstErr atomic.Value
	cpu := b.cpuMeter(ctx, srv)
	stop := b.measure(srv, "page")
	start := time.Now()
	end := start.Add(b.cfg.PageDuration)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				n, err := getPage(ctx, hc, url)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					settle(ctx, 10*time.Millisecond) // do not spin on a server that is gone
					continue
				}
				lats[w] = append(lats[w], time.Since(t0))
				bytesRead.Add(n)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	cpu.per(ctx, s, "cpu_per_request", len(all))
	if e := errs.Load(); e > 0 {
		s.problem("%d of %d requests failed: %v", e, int64(len(all))+e, firstErr.Load())
	}
	if len(all) == 0 {
		return s, nil
	}
	s.set("requests", float64(len(all)))
	s.set("req_per_s", float64(len(all))/elapsed.Seconds())
	s.set("page_bytes", float64(bytesRead.Load())/float64(len(all)))
	setLatency(s, "latency", all)
	return s, nil
}

func getPage(ctx context.Context, hc *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return n, err
}
