package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// extraScenarios are run only when named: not part of the default suite
// (the cluster scenario alone holds 57,000 connections with three Beacons).
var extraScenarios = []string{"cluster"}

// clusterInstances is how many Beacons the cluster scenario starts, each
// with an embedded NATS server routed to the others' (the log kept on all
// three, R3), as docs/cluster.md runs them.
const clusterInstances = 3

// Defaults of the cluster scenario.
const (
	defaultClusterConns = 57_000 // 19,000 to each instance: what one process holds here
	defaultClusterRoom  = 1_000
	defaultChatters     = 64 // chat senders per instance
	maxChatters         = 256
)

// clusterLoad is the cluster scenario's settings.
type clusterLoad struct {
	Conns        int           // SSE connections over all instances, a third to each
	Room         int           // members of the one room spread over the instances
	Chatters     int           // chat senders per instance, each in a room of its own
	ChatDuration time.Duration // how long they send
}

func (l *clusterLoad) flags(fs *flag.FlagSet) {
	fs.IntVar(&l.Conns, "cluster-n", defaultClusterConns, "cluster (a scenario run only when named: beacon-load cluster): SSE connections over its three instances, a third to each, each third held by a worker process of its own; -n sets it too")
	fs.IntVar(&l.Chatters, "chatters", defaultChatters, "cluster: chat senders per instance (the same number on the one instance it is compared with), each in a room of its own")
	fs.DurationVar(&l.ChatDuration, "chat-duration", 5*time.Second, "cluster: how long the chat senders send")
}

// scale applies -n and -smoke, and sizes the room: a third of the
// connections at most, 1,000 at least.
func (l *clusterLoad) scale(c *config, set map[string]bool) {
	if c.Conns > 0 && !set["cluster-n"] {
		l.Conns = c.Conns
	}
	l.Room = min(defaultClusterRoom, l.Conns/clusterInstances)
	if !set["chatters"] {
		l.Chatters = min(defaultChatters, max(l.Conns/clusterInstances/4, 1))
	}
	if c.Smoke && !set["chat-duration"] {
		l.ChatDuration = time.Second
	}
}

func (l *clusterLoad) validate(c *config) []error {
	if !slices.Contains(c.Scenarios, "cluster") {
		return nil
	}
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	per := (l.Conns + clusterInstances - 1) / clusterInstances
	check(l.Conns >= 3*clusterInstances && per <= c.maxConns, "-cluster-n %d: between %d and %d (a third to each instance, each held by one process under the open-files limit)",
		l.Conns, 3*clusterInstances, c.maxConns*clusterInstances)
	check(l.Room > c.Senders, "cluster: the room of %d members (a third of -cluster-n, at most 1,000) must exceed -senders %d", l.Room, c.Senders)
	check(l.Chatters >= 1 && l.Chatters <= maxChatters, "-chatters must be between 1 and %d", maxChatters)
	check(l.ChatDuration > 0 && l.ChatDuration <= time.Minute, "-chat-duration must be positive and at most 1m")
	check(c.Target == "", "cluster: needs Beacons this tool starts (no -target)")
	return errs
}

// clusterBeaconArgs are the flags every Beacon of the cluster scenario,
// and the one it is compared with, starts with: rooms that hold the room
// and the chat senders, and no per-connection message limit.
func clusterBeaconArgs(c *config) []string {
	return roomArgs(max(c.Cluster.Room, clusterInstances*c.Cluster.Chatters))
}

// clusterCommand is the command that runs the cluster scenario alone with
// this invocation's settings.
func (c *config) clusterCommand() string {
	a := []string{"go", "run", "./cmd/beacon-load"}
	if c.Runs != 1 {
		a = append(a, "-runs", strconv.Itoa(c.Runs))
	}
	a = append(a, "-cluster-n", strconv.Itoa(c.Cluster.Conns), "-events", strconv.Itoa(c.Events), "-senders", strconv.Itoa(c.Senders),
		"-room-duration", c.RoomDuration.String(), "-chatters", strconv.Itoa(c.Cluster.Chatters), "-chat-duration", c.Cluster.ChatDuration.String(), "cluster")
	return strings.Join(a, " ")
}

// runCluster measures three Beacons that share one log on their embedded
// NATS servers, and the one plain Beacon srv beside them, the same way:
// SSE connections held (a third of -cluster-n by each instance) and what
// they cost in memory; one event published on the first instance to all
// of them; a room spread over the instances with -senders senders; and
// chat messages stored per second, with -chatters senders on each
// instance. Every instance's clients are held by a worker process of its
// own. The sample holds single_* and cluster_* values.
func runCluster(ctx context.Context, b *bench, srv *server) (*sample, error) {
	if srv.Bin == "" {
		return nil, errors.New("cluster: needs a Beacon this tool started")
	}
	s := newSample()
	dir, err := os.MkdirTemp(filepath.Dir(srv.Log), "cluster-")
	if err != nil {
		return nil, err
	}
	ws := make([]*workerProc, clusterInstances)
	defer func() {
		for _, w := range ws {
			if w != nil {
				if err := w.stop(); err != nil && ctx.Err() == nil { // killed when ctx ended
					s.problem("%v", err)
				}
			}
		}
	}()
	for i := range ws {
		if ws[i], err = startWorker(ctx, dir, fmt.Sprintf("worker-%d", i+1)); err != nil {
			return nil, err
		}
	}

	b.progress("one instance: %s", srv.URL)
	if err := b.clusterPhases(ctx, s, "single", []*server{srv}, ws[:1]); err != nil {
		return s, err
	}
	// The one instance is done: its memory and its board's ticks are not
	// the cluster's to share. (runOnce stops it again, and reports how.)
	srv.Stop() //nolint:errcheck // runOnce reports it
	b.progress("starting %d instances with embedded NATS (R3)", clusterInstances)
	in, err := startClusterInstances(ctx, b.cfg, srv.Bin, dir)
	if err != nil {
		return s, err
	}
	defer func() {
		if err := stopAll(in); err != nil {
			s.problem("%v", err)
		}
	}()
	urls := make([]string, len(in))
	for i, x := range in {
		urls[i] = x.URL
	}
	b.progress("cluster: %s", strings.Join(urls, " "))
	return s, b.clusterPhases(ctx, s, "cluster", in, ws)
}

// startClusterInstances starts the instances together (JetStream needs a
// majority of its servers before any of them can open the log), each with
// its database and NATS store in a directory of its own under dir. Their
// NATS servers listen on 127.0.3.x, addresses no client of this tool dials
// from, so that a port found free stays free; still, an attempt that
// loses a port to another program is tried again, twice at most.
func startClusterInstances(ctx context.Context, cfg *config, bin, dir string) ([]*server, error) {
	var err error
	for attempt := 1; attempt <= 3 && ctx.Err() == nil; attempt++ {
		var in []*server
		if in, err = startClusterOnce(ctx, cfg, bin, filepath.Join(dir, fmt.Sprintf("try-%d", attempt))); err == nil {
			return in, nil
		}
		if !strings.Contains(err.Error(), "address already in use") {
			return nil, err
		}
	}
	return nil, err
}

func startClusterOnce(ctx context.Context, cfg *config, bin, dir string) ([]*server, error) {
	n := clusterInstances
	clientAddrs, routeAddrs := make([]string, n), make([]string, n)
	routes := make([]string, n)
	for i := range n {
		var err error
		ip := fmt.Sprintf("127.0.3.%d", i+1)
		if clientAddrs[i], err = freeLoopbackAddr(ip); err != nil {
			return nil, err
		}
		if routeAddrs[i], err = freeLoopbackAddr(ip); err != nil {
			return nil, err
		}
		routes[i] = "nats://" + routeAddrs[i]
	}
	// One instance that cannot start ends the wait for the others.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]*server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("b%d", i+1)
			rundir := filepath.Join(dir, name)
			if errs[i] = os.MkdirAll(rundir, 0o755); errs[i] != nil {
				cancel()
				return
			}
			args := append(plainBeaconArgs(filepath.Join(rundir, "beacon.db")), clusterBeaconArgs(cfg)...)
			args = append(args, "--nats-embed", "--nats-name", name, "--nats-store", filepath.Join(rundir, "nats"),
				"--nats-listen", clientAddrs[i], "--nats-cluster", routeAddrs[i], "--nats-routes", strings.Join(routes, ","))
			if out[i], errs[i] = startChild(ctx, kindBeacon, sseGauge, rundir, bin, beaconEnv(), args...); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, errors.Join(err, stopAll(out))
	}
	return out, nil
}

// sseGauge counts Beacon's open SSE connections.
const sseGauge = `beacon_live_connections{transport="sse"}`

// plainBeaconArgs are the flags beaconLauncher starts Beacon with.
func plainBeaconArgs(db string) []string {
	return []string{"--addr", "127.0.0.1:0", "--db", db, "--log-level", "warn",
		"--live-rate", "0", "--api-rate", "0", "--conns-per-address", "0", "--guests", "--dashboard", "public"}
}

// beaconEnv is the environment beaconLauncher starts Beacon with.
func beaconEnv() []string {
	return []string{"BEACON_BOOTSTRAP_TOKEN=" + loadToken, "BEACON_SECRET=" + loadSecret}
}

// stopAll stops every server that started, together.
func stopAll(srvs []*server) error {
	errs := make([]error, len(srvs))
	var wg sync.WaitGroup
	for i, x := range srvs {
		if x != nil {
			wg.Go(func() { errs[i] = x.Stop() })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freeLoopbackAddr returns ip (a loopback address) with a port free a
// moment ago.
func freeLoopbackAddr(ip string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// split returns how many of n go to part i of parts: n/parts, the first
// n%parts one more.
func split(n, parts, i int) int {
	q := n / parts
	if i < n%parts {
		q++
	}
	return q
}

// clusterPhases measures srvs (one instance or the cluster's), worker i
// holding the clients of srvs[i], and records the values under prefix.
func (b *bench) clusterPhases(ctx context.Context, s *sample, prefix string, srvs []*server, ws []*workerProc) error {
	key := func(k string) string { return prefix + "_" + k }
	per := func(i int) int { return split(b.cfg.Cluster.Conns, clusterInstances, i) }
	for _, x := range srvs {
		x.ConnGauge = sseGauge
	}
	open := func(req func(i int) workerRequest) ([]workerReply, int, error) {
		reps, err := callAll(ws, req)
		if err != nil {
			return nil, 0, err
		}
		held := 0
		for i, r := range reps {
			held += r.Held
			if r.Failed > 0 {
				s.problem("%s: %d connections to %s failed: %v", prefix, r.Failed, srvs[i].URL, r.Errors)
			}
		}
		return reps, held, nil
	}
	closeAll := func() error {
		_, err := callAll(ws, func(int) workerRequest { return workerRequest{Op: "close"} })
		return err
	}

	// Memory: a baseline after 50 connections came and went, then every
	// connection held.
	if _, _, err := open(func(i int) workerRequest {
		return workerRequest{Op: "open", Kind: "sse", Addr: srvs[i].Addr, N: 50, DialConcurrency: 50}
	}); err != nil {
		return err
	}
	if err := closeAll(); err != nil {
		return err
	}
	before := make([]serverStats, len(srvs))
	for _, x := range srvs {
		if _, err := waitGauge(ctx, b.ctl, x, 0, 10*time.Second); err != nil {
			return err
		}
	}
	settle(ctx, b.cfg.Settle/2)
	for i, x := range srvs {
		var err error
		if before[i], err = scrape(ctx, b.ctl, x); err != nil {
			return err
		}
	}
	k := b.cfg.Events
	reps, held, err := open(func(i int) workerRequest {
		return workerRequest{Op: "open", Kind: "sse", Addr: srvs[i].Addr, N: per(i), Expect: k, DialConcurrency: b.cfg.DialConcurrency}
	})
	if err != nil {
		return err
	}
	var opened time.Duration
	for _, r := range reps {
		opened = max(opened, r.Opened)
	}
	b.progress("%s: %d SSE connections open in %s; settling %s", prefix, held, opened.Round(time.Millisecond), b.cfg.Settle)
	settle(ctx, b.cfg.Settle)
	var grew, rss, heap, stacks float64
	for i, x := range srvs {
		after, err := scrape(ctx, b.ctl, x)
		if err != nil {
			return err
		}
		if g := after[x.ConnGauge]; g != float64(reps[i].Held) {
			s.problem("%s: %s counts %.0f live connections; %d are open", prefix, x.URL, g, reps[i].Held)
		}
		grew += after[seriesRSS] - before[i][seriesRSS]
		heap += after[seriesHeapInuse] - before[i][seriesHeapInuse]
		stacks += after[seriesStackInuse] - before[i][seriesStackInuse]
		rss += after[seriesRSS]
		s.set(key(fmt.Sprintf("rss_%d", i+1)), after[seriesRSS])
	}
	s.set(key("held"), float64(held))
	if held > 0 {
		s.set(key("bytes_per_conn"), grew/float64(held))
		s.set(key("heap_per_conn"), heap/float64(held))
		s.set(key("stack_per_conn"), stacks/float64(held))
		s.set(key("rss_per_conn"), rss/float64(held))
	}

	// One event at a time, published on the first instance, to every
	// connection of every instance.
	pub := b.publisher(srvs[0])
	cpu0, err := cpuSeconds(ctx, b.ctl, srvs)
	if err != nil {
		return err
	}
	late := 0
	for seq := 1; seq <= k && ctx.Err() == nil; seq++ {
		if err := pub.post(ctx, int64(seq)); err != nil {
			return err
		}
		waits, err := callAll(ws, func(i int) workerRequest {
			return workerRequest{Op: "wait", Want: int64(reps[i].Held * seq), Timeout: 10 * time.Second}
		})
		if err != nil {
			return err
		}
		for _, w := range waits {
			if !w.Complete {
				late++
				break
			}
		}
		settle(ctx, b.cfg.Gap)
	}
	t, err := tallyAll(ws, k)
	if err != nil {
		return err
	}
	if cpu, err := cpuSeconds(ctx, b.ctl, srvs); err != nil {
		return err
	} else if t.got > 0 {
		s.set(key("fanout_cpu_per_delivery"), sumDiff(cpu, cpu0)/float64(t.got))
	}
	if late > 0 || t.got != held*k {
		s.problem("%s: %d of %d deliveries arrived (%d events did not reach every subscriber within 10s; %d subscribers short)", prefix, t.got, held*k, late, t.short)
	}
	t.check(s, prefix)
	if t.disorder > 0 {
		s.problem("%s: %d events arrived after a later one", prefix, t.disorder)
	}
	s.set(key("delivered"), float64(t.got))
	setLatency(s, key("fanout"), t.lat)
	if err := closeAll(); err != nil {
		return err
	}
	// An instance holding 19,000 connections has few files left: the
	// room's members wait until it has let go of them (a server that
	// notices a departed client at its next write, a heartbeat at the
	// latest, takes up to that long).
	for _, x := range srvs {
		st, err := waitGauge(ctx, b.ctl, x, 0, 30*time.Second)
		if err != nil {
			return err
		}
		if g := st[x.ConnGauge]; g != 0 {
			s.problem("%s: %s still counts %.0f live connections 30s after the last one closed", prefix, x.URL, g)
		}
	}

	// A room spread over the instances: member j on instance j mod n; the
	// first -senders members send.
	m, snd := b.cfg.Cluster.Room, b.cfg.Senders
	if err := b.sendPhase(ctx, s, key("room"), srvs, ws, func(i int) workerRequest {
		return workerRequest{Op: "open", Kind: "ws", Addr: srvs[i].Addr, N: split(m, len(ws), i), Expect: 256,
			First: i, Stride: len(ws), RoomSize: m, Senders: snd, DialConcurrency: b.cfg.DialConcurrency}
	}, m, b.cfg.RoomDuration); err != nil {
		return err
	}

	// Chat: -chatters senders per instance (all of them on the one
	// instance), each alone in a room of its own, so that what comes back
	// to it is its own message: stored, applied and published.
	c := b.cfg.Cluster.Chatters * clusterInstances
	return b.sendPhase(ctx, s, key("chat"), srvs, ws, func(i int) workerRequest {
		return workerRequest{Op: "open", Kind: "ws", Addr: srvs[i].Addr, N: split(c, len(ws), i), Expect: 64,
			First: i, Stride: len(ws), RoomSize: 1, Senders: c, DialConcurrency: b.cfg.DialConcurrency}
	}, c, b.cfg.Cluster.ChatDuration)
}

// sendPhase opens the WebSocket members that open asks every worker for
// (want of them, all senders joined), lets their senders send for d, waits
// until every member has every message of its room, and records under
// prefix: members held, messages sent, messages/s, deliveries/s, the
// send → receipt latency, and the servers' CPU per message.
func (b *bench) sendPhase(ctx context.Context, s *sample, prefix string, srvs []*server, ws []*workerProc, open func(i int) workerRequest, want int, d time.Duration) error {
	reps, err := callAll(ws, open)
	if err != nil {
		return err
	}
	held, senders := 0, 0
	for _, r := range reps {
		held += r.Held
		senders += r.Senders
		if r.Failed > 0 {
			s.problem("%s: %d members failed to join: %v", prefix, r.Failed, r.Errors)
		}
	}
	if senders != open(0).Senders || held != want {
		return fmt.Errorf("%s: %d of %d members joined, %d of %d senders", prefix, held, want, senders, open(0).Senders)
	}
	roomSize := open(0).RoomSize
	b.progress("%s: %d members (rooms of %d), %d senders, sending for %s", prefix, held, roomSize, senders, d)
	settle(ctx, b.cfg.Settle/4)
	cpu0, err := cpuSeconds(ctx, b.ctl, srvs)
	if err != nil {
		return err
	}
	start := time.Now()
	sent, err := callAll(ws, func(int) workerRequest { return workerRequest{Op: "send", Duration: d, TextSize: b.cfg.TextSize} })
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	var total, stalled int64
	for _, r := range sent {
		total += r.Sent
		stalled += r.Stalled
	}
	if stalled > 0 {
		s.problem("%s: %d senders waited 10s for a message of their own in vain", prefix, stalled)
	}
	// Every member of a room gets every message sent in it: in rooms of
	// one, a sender its own; in one room, every member all of them.
	wantOf := func(i int) int64 {
		if roomSize == 1 {
			return sent[i].Sent
		}
		return int64(reps[i].Held) * total
	}
	if _, err := callAll(ws, func(i int) workerRequest {
		return workerRequest{Op: "wait", Want: wantOf(i), Timeout: 30 * time.Second}
	}); err != nil {
		return err
	}
	// Every message is stored, applied everywhere and delivered: what the
	// servers spent (their embedded NATS included) is its cost.
	cpu, err := cpuSeconds(ctx, b.ctl, srvs)
	if err != nil {
		return err
	}
	if total > 0 {
		busiest := 0.0
		for i := range cpu {
			busiest = max(busiest, cpu[i]-cpu0[i])
		}
		s.set(prefix+"_cpu_per_msg", sumDiff(cpu, cpu0)/float64(total))
		s.set(prefix+"_cpu_per_msg_busiest", busiest/float64(total))
		if busiest > 0 {
			s.set(prefix+"_capacity", float64(runtime.NumCPU())*float64(total)/busiest)
		}
	}
	wantEach := int(total)
	if roomSize == 1 {
		wantEach = 1
	}
	t, err := tallyAll(ws, wantEach)
	if err != nil {
		return err
	}
	t.check(s, prefix)
	expected := held * int(total)
	if roomSize == 1 {
		expected = int(total)
	}
	if t.got != expected {
		s.problem("%s: %d of %d deliveries arrived within 30s of the last send (%d members short)", prefix, t.got, expected, t.short)
	}
	if t.refused > 0 {
		s.problem("%s: the server refused %d messages, e.g. %s", prefix, t.refused, t.why)
	}
	s.set(prefix+"_held", float64(held))
	s.set(prefix+"_messages", float64(total))
	s.set(prefix+"_delivered", float64(t.got))
	if elapsed > 0 {
		s.set(prefix+"_messages_per_s", float64(total)/elapsed.Seconds())
		s.set(prefix+"_deliveries_per_s", float64(t.got)/elapsed.Seconds())
	}
	setLatency(s, prefix, t.lat)
	_, err = callAll(ws, func(int) workerRequest { return workerRequest{Op: "close"} })
	return err
}

// cpuSeconds reads every server's CPU time so far (process_cpu_seconds_total:
// Beacon's, its embedded NATS server's included).
func cpuSeconds(ctx context.Context, hc *http.Client, srvs []*server) ([]float64, error) {
	out := make([]float64, len(srvs))
	for i, x := range srvs {
		st, err := scrape(ctx, hc, x)
		if err != nil {
			return nil, err
		}
		out[i] = st[seriesCPU]
	}
	return out, nil
}

// sumDiff returns the sum of after[i] - before[i].
func sumDiff(after, before []float64) float64 {
	d := 0.0
	for i := range after {
		d += after[i] - before[i]
	}
	return d
}

// workerTally is what every worker's fleet received, together.
type workerTally struct {
	tally
	dropped int
	drops   []string
}

// tallyAll asks every worker for its tally (want events per connection).
func tallyAll(ws []*workerProc, want int) (workerTally, error) {
	reps, err := callAll(ws, func(int) workerRequest { return workerRequest{Op: "tally", Want: int64(want)} })
	if err != nil {
		return workerTally{}, err
	}
	var t workerTally
	for _, r := range reps {
		t.got += r.Got
		t.disorder += r.Disorder
		t.retries += r.Retries
		t.refused += r.Refused
		t.short += r.Short
		if t.why == "" {
			t.why = r.Why
		}
		t.dropped += r.Dropped
		t.drops = append(t.drops, r.Drops...)
		for _, l := range r.Lat {
			t.lat = append(t.lat, time.Duration(l))
		}
		if last := time.Unix(0, r.Last); r.Last > 0 && last.After(t.last) {
			t.last = last
		}
	}
	return t, nil
}

// check notes connections the servers dropped or told to come back.
func (t workerTally) check(s *sample, prefix string) {
	if t.dropped > 0 {
		s.problem("%s: %d connections were dropped by the server: %v", prefix, t.dropped, t.drops[:min(len(t.drops), 3)])
	}
	if t.retries > 0 {
		s.problem("%s: %d connections were told to come back (evicted)", prefix, t.retries)
	}
}

// clusterFigure is one row of the cluster section: a value of the cluster
// beside the same value of one instance.
type clusterFigure struct {
	ID, Key, Title string
	Unit           unit
	Lower          bool
	Target         string
	// pass says whether the cluster's value c meets the target, beside
	// one instance's value one; nil: the row only informs.
	pass func(cfg *config, c, one float64) bool
	// noRatio: the values count different things (the cluster holds three
	// instances' connections).
	noRatio bool
}

// clusterFigures lists the cluster section's rows.
var clusterFigures = []clusterFigure{
	{ID: "cluster.held", Key: "held", Title: "SSE connections held (a third by each instance)", Unit: unitCount, Target: "all",
		pass: func(cfg *config, c, _ float64) bool { return c == float64(cfg.Cluster.Conns) }, noRatio: true},
	{ID: "cluster.fanout.p50", Key: "fanout_p50", Title: "one event, published on one instance, to every connection: p50", Unit: unitDuration, Lower: true},
	{ID: "cluster.fanout.p99", Key: "fanout_p99", Title: "one event to every connection: p99", Unit: unitDuration, Lower: true, Target: "≤ 2× one instance",
		pass: func(_ *config, c, one float64) bool { return one > 0 && c <= 2*one }},
	{ID: "cluster.fanout.max", Key: "fanout_max", Title: "one event to every connection: max", Unit: unitDuration, Lower: true},
	{ID: "cluster.fanout.cpu", Key: "fanout_cpu_per_delivery", Title: "one event to every connection: the servers' CPU per delivery (all instances, their NATS included)", Unit: unitMicros, Lower: true},
	{ID: "cluster.room.p50", Key: "room_p50", Title: "room spread over the instances, 8 senders: send → receipt p50", Unit: unitDuration, Lower: true},
	{ID: "cluster.room.p99", Key: "room_p99", Title: "room spread over the instances: send → receipt p99", Unit: unitDuration, Lower: true, Target: "≤ 2× one instance",
		pass: func(_ *config, c, one float64) bool { return one > 0 && c <= 2*one }},
	{ID: "cluster.room.rate", Key: "room_deliveries_per_s", Title: "room: deliveries/s", Unit: unitRate},
	{ID: "cluster.chat.rate", Key: "chat_messages_per_s", Title: "chat messages stored/s (each acknowledged: stored, applied, back to its sender)", Unit: unitRate, Target: "≥ 5,000/s",
		pass: func(_ *config, c, _ float64) bool { return c >= 5000 }},
	{ID: "cluster.chat.p99", Key: "chat_p99", Title: "chat: send → acknowledgement p99", Unit: unitDuration, Lower: true},
	{ID: "cluster.chat.cpu", Key: "chat_cpu_per_msg", Title: "chat: the servers' CPU per stored message (all instances, their NATS included)", Unit: unitMicros, Lower: true},
	{ID: "cluster.chat.cpu.busiest", Key: "chat_cpu_per_msg_busiest", Title: "chat: CPU per stored message of the busiest instance", Unit: unitMicros, Lower: true},
	{ID: "cluster.chat.capacity", Key: "chat_capacity", Title: "chat: messages/s the busiest instance would store with this machine's CPUs to itself (CPUs ÷ its CPU per message: a projection for one instance per machine, not a measurement)", Unit: unitRate},
	{ID: "cluster.memory", Key: "bytes_per_conn", Title: "memory per connection (RSS growth ÷ connections, per instance)", Unit: unitKiB, Lower: true, Target: "≤ 1.1× one instance",
		pass: func(_ *config, c, one float64) bool { return one > 0 && c <= 1.1*one }},
	{ID: "cluster.memory.heap", Key: "heap_per_conn", Title: "… of which Go heap in use (no GC forced: noisy)", Unit: unitKiB, Lower: true},
	{ID: "cluster.memory.stack", Key: "stack_per_conn", Title: "… of which goroutine stacks", Unit: unitKiB, Lower: true},
	{ID: "cluster.rss", Key: "rss_per_conn", Title: "RSS ÷ connections (baseline included: NATS, JetStream)", Unit: unitKiB, Lower: true},
}

// evaluateCluster fills the cluster rows from the cluster scenario's runs.
func (r *report) evaluateCluster(c *config) {
	r.Cluster = r.Cluster[:0]
	if !slices.Contains(c.Scenarios, "cluster") {
		return
	}
	for _, fg := range clusterFigures {
		var cl, one []float64
		for _, res := range r.Results {
			if res.Scenario != "cluster" || res.Sample == nil {
				continue
			}
			v1, ok1 := res.Sample.Values["single_"+fg.Key]
			vc, okc := res.Sample.Values["cluster_"+fg.Key]
			if ok1 && okc {
				one, cl = append(one, v1), append(cl, vc)
			}
		}
		f := figureResult{ID: fg.ID, Scenario: "cluster", Transport: "cluster", Title: fg.Title, Target: fg.Target,
			LowerBetter: fg.Lower, Command: c.clusterCommand()}
		if len(cl) == 0 {
			f.Status, f.Note = statusNotMeasured, "no successful run"
			r.Cluster = append(r.Cluster, f)
			continue
		}
		mc, m1 := median(cl), median(one)
		f.Beacon, f.BeaconRuns, f.Value = &mc, cl, fg.Unit.format(mc)
		f.Reference, f.RefRuns, f.RefValue = &m1, one, fg.Unit.format(m1)
		if m1 > 0 && mc >= 0 && !fg.noRatio {
			ratio := mc / m1
			f.Ratio = &ratio
		}
		switch {
		case fg.pass == nil:
			f.Status = statusInfo
		case fg.pass(c, mc, m1):
			f.Status = statusPass
		default:
			f.Status = statusFail
		}
		if c.Cluster.Conns != defaultClusterConns {
			f.Note = fmt.Sprintf("measured at %s connections, the target is for %s", thousands(c.Cluster.Conns), thousands(defaultClusterConns))
		}
		r.Cluster = append(r.Cluster, f)
	}
}

// ranSuite reports whether a scenario of the suite ran (not only cluster).
func (r *report) ranSuite() bool {
	for _, res := range r.Results {
		if !slices.Contains(extraScenarios, res.Scenario) {
			return true
		}
	}
	return false
}

// writeClusterTable prints the cluster rows for a person.
func (r *report) writeClusterTable(w io.Writer) {
	if len(r.Cluster) == 0 {
		return
	}
	fmt.Fprintf(w, "\nCluster: %d Beacons with embedded NATS (R3) beside one plain Beacon\n\n", clusterInstances)
	for _, f := range r.Cluster {
		title := f.Title
		if f.Note != "" && f.Status != statusNotMeasured {
			title += " (" + f.Note + ")"
		}
		fmt.Fprintf(w, "  %-80s  target %-20s  cluster %-10s  one %-10s  %s  %s\n", title, dash(f.Target), dash(f.Value), dash(f.RefValue), ratioText(f), statusText(f))
	}
}

// The cluster section of BENCHMARKS.md lies between these markers: a run
// of the cluster scenario alone rewrites it and keeps the suite's section,
// and a run of the suite alone keeps it.
const (
	clusterMarkBegin = "<!-- beacon-load:cluster:begin: generated by cmd/beacon-load cluster; everything up to the end marker is rewritten -->"
	clusterMarkEnd   = "<!-- beacon-load:cluster:end -->"
)

// writeClusterMarkdown rewrites the cluster section of path (after the
// suite's section when there is none yet), if the cluster scenario ran.
func (r *report) writeClusterMarkdown(path string) error {
	if len(r.Cluster) == 0 {
		return nil
	}
	var gen strings.Builder
	r.clusterMarkdown(&gen)
	section := clusterMarkBegin + "\n" + gen.String() + clusterMarkEnd
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	switch i, j := strings.Index(s, clusterMarkBegin), strings.Index(s, clusterMarkEnd); {
	case i >= 0 && j > i:
		s = s[:i] + section + s[j+len(clusterMarkEnd):]
	case strings.Contains(s, markEnd):
		k := strings.Index(s, markEnd) + len(markEnd)
		s = s[:k] + "\n\n" + section + s[k:]
	case s == "":
		s = "# Benchmarks\n\n" + section + "\n"
	default:
		s = strings.TrimRight(s, "\n") + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func (r *report) clusterMarkdown(w *strings.Builder) {
	fmt.Fprintf(w, "\n## Cluster: three instances on one machine\n\nTaken %s with `%s` (%s).\n\n", r.Started.Format("2006-01-02 15:04 MST"), r.Command, r.Duration)
	if r.Smoke || (len(r.Cluster) > 0 && r.Cluster[0].Note != "") {
		w.WriteString("**Scaled down**: the figures show that the tool works, not how a cluster performs at full size.\n\n")
	}
	if r.Machine.busy() {
		w.WriteString("**Taken on a shared, busy machine**: the ratios are the steadier numbers.\n\n")
	}
	fmt.Fprintf(w, "%d Beacons on this machine's %d CPUs, each with an embedded NATS server routed to the others' (`--nats-embed`, the log "+
		"kept on all three, R3; ports and temporary directories of their own), and, in the same run, one plain Beacon (SQLite alone), "+
		"measured the same way with the same per-instance load: a third of the SSE connections (one instance holds what one instance of the cluster holds); "+
		"one event at a time published through the first instance's API (`POST /api/activity`) to every connection; a room of %s members "+
		"(a third of the connections when that is fewer) spread over the instances (member j on instance j mod 3) with 8 senders, each sending its next message once its last came back; "+
		"chat senders (the same number in all on the one instance), each alone in a room, each message acknowledged when it comes back to its sender "+
		"(stored in the log, applied by its instance, published); memory is the instances' RSS growth while the connections are held ÷ connections; "+
		"CPU is what the instances' processes (their embedded NATS included) spent during the phase, from their `process_cpu_seconds_total`, ÷ messages or deliveries, "+
		"and the capacity row divides this machine's CPUs by the busiest instance's CPU per message: a projection of one instance per machine, not a measurement. "+
		"The load tool's clients of each instance are held by a worker process of their own (this program again): one process may open 20,000 files. "+
		"The ratio is cluster ÷ one instance.\n\n", clusterInstances, r.Machine.CPUs, thousands(defaultClusterRoom))
	w.WriteString("| figure | target | cluster | one instance | ratio | status | command |\n|---|---|---|---|---|---|---|\n")
	for _, f := range r.Cluster {
		title := f.Title
		if f.Note != "" && f.Status != statusNotMeasured {
			title += " (" + f.Note + ")"
		}
		val := f.Value
		if len(f.BeaconRuns) > 1 {
			val += " " + clusterRunsText(f)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | `%s` |\n", title, dash(f.Target), dash(val), dash(f.RefValue), ratioText(f), statusText(f), f.Command)
	}
	var probs []string
	for _, p := range r.Problems {
		if strings.HasPrefix(p, "cluster ") {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		w.WriteString("\nProblems seen (sanity checks: every connection held, every event delivered):\n\n")
		for _, p := range probs {
			fmt.Fprintf(w, "- %s\n", p)
		}
	}
	w.WriteString("\n")
}

// clusterRunsText lists every run's value of a cluster row.
func clusterRunsText(f figureResult) string {
	u := unitCount
	for _, fg := range clusterFigures {
		if fg.ID == f.ID {
			u = fg.Unit
		}
	}
	parts := make([]string, len(f.BeaconRuns))
	for i, v := range f.BeaconRuns {
		parts[i] = u.format(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
