package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// wsRoomSize is how many members ws-idle puts in one room: Beacon's default
// --room-conns, so that scenario needs no flag.
const wsRoomSize = 1000

// roomArgs returns the flags Beacon is started with for a room of n members
// whose senders send as fast as Beacon accepts: the room holds them all, and
// the per-connection message limits (10/s, bursts of 20 by default) are
// lifted so that only storing and publishing limit the senders.
func roomArgs(n int) []string {
	return []string{"--room-conns", strconv.Itoa(max(n, wsRoomSize)), "--message-rate", "1000000", "--message-burst", "1000000"}
}

// roomNote says how the WebSocket scenarios that ran were set up, for the report.
func roomNote(c *config) string {
	var parts []string
	for _, name := range c.Scenarios {
		sc := scenarios[name]
		if sc.transport != "ws" {
			continue
		}
		flags := "no flags"
		if sc.beaconArgs != nil {
			flags = "`" + strings.Join(sc.beaconArgs(c), " ") + "`"
		}
		parts = append(parts, fmt.Sprintf("`%s` with %s", name, flags))
	}
	if len(parts) == 0 {
		return ""
	}
	return "The WebSocket rows run against Beacon and the reference's gorilla rooms. Their clients are " +
		"programs in a room (gorilla/websocket, subprotocol `beacon.v1.json`: one JSON message per frame, `?name=` for the display name); " +
		"the members that only listen share one name, so presence changes once per sender, not once per connection. " +
		"`ws-idle` puts " + thousands(wsRoomSize) + " members in a room (Beacon's default `--room-conns`). Beacon was started for " +
		strings.Join(parts, ", ") + ". A sender in `room` sends its next message when its last one has come back to it " +
		"(stored, published, delivered; the reference stores nothing), so the latency is that of a room working as fast as it can, " +
		"not of a queue in front of it. `ws-memory` reads the server's RSS with the members in the room and again once every member " +
		"has every message of one burst (after `-settle`): what a burst leaves behind."
}

// senders returns the members of f that send, in order, or an error when
// one of them failed to join.
func (f *fleet) sendersOf() ([]*sseClient, error) {
	out := make([]*sseClient, f.senders)
	for _, c := range f.clients {
		if c.sender >= 0 {
			out[c.sender] = c
		}
	}
	for i, c := range out {
		if c == nil {
			return nil, fmt.Errorf("sender %d of %d did not join the room: %v", i+1, f.senders, f.errors())
		}
	}
	return out, nil
}

// roomProblems notes messages the server refused and members it dropped.
func roomProblems(f *fleet, t tally, s *sample) {
	checkHeld(f, s)
	if t.refused > 0 {
		s.problem("the server refused %d messages, e.g. %s", t.refused, t.why)
	}
}

// runWSBurst puts N members in one room; -publishers of them send -burst
// stamped messages in all, back to back: deliveries/s = N×B ÷ (first send →
// last receipt at the last member).
func runWSBurst(ctx context.Context, b *bench, srv *server) (*sample, error) {
	return b.wsBurst(ctx, srv, "ws-burst", b.cfg.WSBurstConns, false)
}

// runWSMemory is runWSBurst into a room of -n members (10,000 by default)
// that also reads the server's RSS before the burst and once every member
// has every message (after -settle): what a burst leaves behind.
func runWSMemory(ctx context.Context, b *bench, srv *server) (*sample, error) {
	return b.wsBurst(ctx, srv, "ws-memory", b.cfg.WSMemoryConns, true)
}

// wsBurst runs a burst into a room of n members; with rss it reads the
// server's RSS before and after.
func (b *bench) wsBurst(ctx context.Context, srv *server, name string, n int, rss bool) (*sample, error) {
	srv.ConnGauge = wsGaugeOf(srv)
	s, burst := newSample(), b.cfg.Burst
	f := b.open(ctx, newRoomFleet(srv, burst, n, min(b.cfg.Publishers, burst)), n, s)
	defer f.closeAll()
	held := len(f.clients)
	snd, err := f.sendersOf()
	if err != nil {
		return nil, err
	}
	b.progress("%d members in one room in %s; %d of them send %d messages", held, f.opened.Round(time.Millisecond), len(snd), burst)
	if rss {
		settle(ctx, b.cfg.Settle)
		st, err := scrape(ctx, b.ctl, srv)
		if err != nil {
			return nil, err
		}
		s.set("rss_before", st[seriesRSS])
		s.set("heap_before", st[seriesHeapInuse])
	} else {
		settle(ctx, b.cfg.Settle/4)
	}
	cpu := b.cpuMeter(ctx, srv)
	stop := b.measure(srv, name)
	var next atomic.Int64
	var wg sync.WaitGroup
	var errOnce sync.Once
	var sendErr error
	start := time.Now()
	for _, c := range snd {
		wg.Go(func() {
			for {
				seq := next.Add(1)
				if seq > int64(burst) || ctx.Err() != nil {
					return
				}
				if err := c.send(seq, b.cfg.TextSize); err != nil {
					errOnce.Do(func() { sendErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	sent := time.Since(start)
	complete := f.waitReceived(ctx, int64(held*burst), 60*time.Second)
	stop()
	if sendErr != nil {
		return nil, sendErr
	}
	t := f.tally(burst)
	cpu.per(ctx, s, "cpu_per_delivery", t.got)
	roomProblems(f, t, s)
	if !complete || t.got != held*burst {
		s.problem("%d of %d deliveries arrived within 60s (%d members short)", t.got, held*burst, t.short)
	}
	elapsed := t.last.Sub(start)
	s.set("held", float64(held))
	s.set("delivered", float64(t.got))
	s.set("send_seconds", sent.Seconds())
	s.set("burst_seconds", elapsed.Seconds())
	if elapsed > 0 {
		s.set("deliveries_per_s", float64(t.got)/elapsed.Seconds())
	}
	setLatency(s, "latency", t.lat)
	if rss {
		settle(ctx, b.cfg.Settle)
		st, err := scrape(ctx, b.ctl, srv)
		if err != nil {
			return nil, err
		}
		s.set("rss_after", st[seriesRSS])
		s.set("heap_after", st[seriesHeapInuse])
		if before := s.Values["rss_before"]; before > 0 {
			s.set("rss_growth", st[seriesRSS]/before-1)
		}
	}
	return s, nil
}

// runRoom puts N members in one room; -senders of them send stamped
// messages for -room-duration, each its next one as soon as its last one
// came back to it (every message is stored before it is published). Every
// member, senders included, receives every message: deliveries/s and
// send → receipt latency over all of them.
func runRoom(ctx context.Context, b *bench, srv *server) (*sample, error) {
	srv.ConnGauge = wsGaugeOf(srv)
	s, n, k := newSample(), b.cfg.RoomMembers, b.cfg.Senders
	f := b.open(ctx, newRoomFleet(srv, 256, n, k), n, s)
	defer f.closeAll()
	held := len(f.clients)
	snd, err := f.sendersOf()
	if err != nil {
		return nil, err
	}
	b.progress("%d members in one room in %s; %d of them send for %s", held, f.opened.Round(time.Millisecond), k, b.cfg.RoomDuration)
	settle(ctx, b.cfg.Settle/4)
	cpu := b.cpuMeter(ctx, srv)
	stop := b.measure(srv, "room")
	start := time.Now()
	total, stalled, sendErr := sendInTurn(ctx, snd, k, start.Add(b.cfg.RoomDuration), b.cfg.TextSize)
	complete := f.waitReceived(ctx, int64(held)*total, 30*time.Second)
	stop()
	if sendErr != nil {
		return nil, sendErr
	}
	t := f.tally(int(total))
	cpu.per(ctx, s, "cpu_per_delivery", t.got)
	roomProblems(f, t, s)
	if stalled > 0 {
		s.problem("%d senders waited 10s for a message of their own in vain", stalled)
	}
	if !complete || t.got != held*int(total) {
		s.problem("%d of %d deliveries arrived within 30s of the last send (%d members short)", t.got, held*int(total), t.short)
	}
	elapsed := t.last.Sub(start)
	s.set("held", float64(held))
	s.set("messages", float64(total))
	s.set("delivered", float64(t.got))
	if elapsed > 0 {
		s.set("deliveries_per_s", float64(t.got)/elapsed.Seconds())
		s.set("messages_per_s", float64(total)/elapsed.Seconds())
	}
	setLatency(s, "latency", t.lat)
	return s, nil
}
