package main

import (
	"fmt"
	"math"
	"strings"
)

// unit says how a figure's value (always in bytes, seconds, per second or a
// plain count) is shown.
type unit int

const (
	unitKiB      unit = iota // bytes, shown in KiB
	unitMB                   // bytes, shown in MB (10^6)
	unitDuration             // seconds, shown in ms
	unitRate                 // per second
	unitCount
	unitDecimal // a count with a fraction (goroutines per connection)
	unitMicros  // seconds, shown in µs
	unitPercent // a fraction, shown in %
)

// figure is one row of the report: one number the issue asks for, or one
// that explains another.
type figure struct {
	ID        string
	Scenario  string // which scenario measures it
	Transport string // "sse", "ws" or "http"
	Key       string // the sample value
	Title     string
	Unit      unit
	Lower     bool                    // lower is better
	Target    string                  // as the issue words it; "" for a figure that has none
	Limit     func(c *config) float64 // the target as a number; nil when there is none
	// Ratio, when set, is the target as a multiple of the reference's
	// figure in the same run (Limit is then not used): 0.6 with Lower is
	// "at most 0.6× the reference", 2 without is "at least twice".
	Ratio float64
	Size  func(c *config) (int, int) // the load it was measured at, and the load the target is for
	// NotMeasured, when set, says why the figure has no value yet.
	NotMeasured string
}

// goroutineNoise is how far a goroutines-per-connection figure may be off
// its target for nothing: a server starts and ends goroutines of its own
// (a request being served, a timer), a few among thousands of connections.
const goroutineNoise = 0.005

func fixed(v float64) func(*config) float64 { return func(*config) float64 { return v } }

func conns(get func(c *config) int, target int) func(c *config) (int, int) {
	return func(c *config) (int, int) { return get(c), target }
}

var (
	idleSize     = conns(func(c *config) int { return c.IdleConns }, 10_000)
	fanoutSize   = conns(func(c *config) int { return c.FanoutConns }, 10_000)
	burstSize    = conns(func(c *config) int { return c.BurstConns }, 5_000)
	connectSize  = conns(func(c *config) int { return c.ConnectConns }, 19_000)
	leakSize     = conns(func(c *config) int { return c.Cycles }, 10_000)
	pageSize     = conns(func(c *config) int { return c.PageConns }, 64)
	wsIdleSize   = conns(func(c *config) int { return c.WSIdleConns }, 10_000)
	wsBurstSize  = conns(func(c *config) int { return c.WSBurstConns }, 5_000)
	roomSize     = conns(func(c *config) int { return c.RoomMembers }, 1_000)
	wsMemorySize = conns(func(c *config) int { return c.WSMemoryConns }, 10_000)
)

// figures lists every row of the report in order. The reference server
// runs every scenario but connect-limit (Beacon with --memory-limit).
var figures = []figure{
	{ID: "idle.sse.memory", Scenario: "idle", Transport: "sse", Key: "bytes_per_conn", Unit: unitKiB, Lower: true,
		Title: "idle memory per connection (server RSS)", Target: "≤ 6 KiB", Limit: fixed(6 << 10), Size: idleSize},
	{ID: "idle.sse.heap", Scenario: "idle", Transport: "sse", Key: "heap_per_conn", Unit: unitKiB, Lower: true,
		Title: "… of which Go heap in use", Size: idleSize},
	{ID: "idle.sse.stack", Scenario: "idle", Transport: "sse", Key: "stack_per_conn", Unit: unitKiB, Lower: true,
		Title: "… of which goroutine stacks", Size: idleSize},
	{ID: "idle.sse.goroutines", Scenario: "idle", Transport: "sse", Key: "goroutines_per_conn", Unit: unitDecimal, Lower: true,
		Title: "goroutines per idle connection", Target: "0", Limit: fixed(goroutineNoise), Size: idleSize},
	{ID: "idle.ws.memory", Scenario: "ws-idle", Transport: "ws", Key: "bytes_per_conn", Unit: unitKiB, Lower: true,
		Title: "idle memory per room connection (server RSS)", Target: "≤ 12 KiB", Limit: fixed(12 << 10), Size: wsIdleSize},
	{ID: "idle.ws.heap", Scenario: "ws-idle", Transport: "ws", Key: "heap_per_conn", Unit: unitKiB, Lower: true,
		Title: "… of which Go heap in use", Size: wsIdleSize},
	{ID: "idle.ws.stack", Scenario: "ws-idle", Transport: "ws", Key: "stack_per_conn", Unit: unitKiB, Lower: true,
		Title: "… of which goroutine stacks", Size: wsIdleSize},
	{ID: "idle.ws.goroutines", Scenario: "ws-idle", Transport: "ws", Key: "goroutines_per_conn", Unit: unitDecimal, Lower: true,
		Title: "goroutines per idle room connection", Target: "≤ 1", Limit: fixed(1 + goroutineNoise), Size: wsIdleSize},

	{ID: "stream.memory", Scenario: "stream", Transport: "stream", Key: "bytes_per_conn", Unit: unitKiB, Lower: true,
		Title: "memory per /stream/metrics viewer (server RSS)"},
	{ID: "stream.heap", Scenario: "stream", Transport: "stream", Key: "heap_per_conn", Unit: unitKiB, Lower: true,
		Title: "… of which Go heap in use"},
	{ID: "stream.stack", Scenario: "stream", Transport: "stream", Key: "stack_per_conn", Unit: unitKiB, Lower: true,
		Title: "… of which goroutine stacks"},
	{ID: "stream.goroutines", Scenario: "stream", Transport: "stream", Key: "goroutines_per_conn", Unit: unitDecimal, Lower: true,
		Title: "goroutines per viewer"},
	{ID: "stream.updated", Scenario: "stream", Transport: "stream", Key: "updated", Unit: unitCount,
		Title: "viewers shown a newer board than their first", Target: "all", Limit: func(c *config) float64 { return float64(c.StreamConns) }},
	{ID: "stream.stale", Scenario: "stream", Transport: "stream", Key: "stale_per_viewer", Unit: unitDecimal, Lower: true,
		Title: "stale frames per viewer (nothing newer than it had)"},
	{ID: "stream.frame", Scenario: "stream", Transport: "stream", Key: "frame_bytes", Unit: unitKiB, Lower: true,
		Title: "bytes appended to the document per update"},
	{ID: "stream.cpu", Scenario: "stream", Transport: "stream", Key: "cpu_per_update", Unit: unitMicros, Lower: true,
		Title: "server CPU per update frame delivered"},
	{ID: "stream.goroutines.after", Scenario: "stream", Transport: "stream", Key: "goroutines_delta", Unit: unitCount, Lower: true,
		Title: "goroutines after closing every viewer − baseline", Target: "≤ 2 (baseline)", Limit: fixed(2)},

	{ID: "fanout.p50", Scenario: "fanout", Transport: "sse", Key: "latency_p50", Unit: unitDuration, Lower: true,
		Title: "one 200-byte event, publish → receipt p50", Target: "≤ 0.6× reference (≤ 40 ms quiet)", Ratio: 0.6, Size: fanoutSize},
	{ID: "fanout.p99", Scenario: "fanout", Transport: "sse", Key: "latency_p99", Unit: unitDuration, Lower: true,
		Title: "one 200-byte event, publish → receipt p99", Target: "≤ 0.6× reference (≤ 80 ms quiet)", Ratio: 0.6, Size: fanoutSize},
	{ID: "fanout.max", Scenario: "fanout", Transport: "sse", Key: "latency_max", Unit: unitDuration, Lower: true,
		Title: "one 200-byte event, publish → receipt max", Size: fanoutSize},
	{ID: "fanout.cpu", Scenario: "fanout", Transport: "sse", Key: "cpu_per_delivery", Unit: unitMicros, Lower: true,
		Title: "one 200-byte event: server CPU per delivery", Size: fanoutSize},

	{ID: "burst.sse.rate", Scenario: "burst", Transport: "sse", Key: "deliveries_per_s", Unit: unitRate,
		Title: "burst of 50 events: deliveries/s", Target: "≥ 1.5M/s", Limit: fixed(1.5e6), Size: burstSize},
	{ID: "burst.sse.p99", Scenario: "burst", Transport: "sse", Key: "latency_p99", Unit: unitDuration, Lower: true,
		Title: "burst of 50 events: publish → receipt p99", Size: burstSize},
	{ID: "burst.sse.cpu", Scenario: "burst", Transport: "sse", Key: "cpu_per_delivery", Unit: unitMicros, Lower: true,
		Title: "burst of 50 events: server CPU per delivery", Size: burstSize},
	{ID: "burst.ws.rate", Scenario: "ws-burst", Transport: "ws", Key: "deliveries_per_s", Unit: unitRate,
		Title: "burst of 50 messages to one room: deliveries/s", Target: "≥ 700k/s", Limit: fixed(700e3), Size: wsBurstSize},
	{ID: "burst.ws.p99", Scenario: "ws-burst", Transport: "ws", Key: "latency_p99", Unit: unitDuration, Lower: true,
		Title: "burst of 50 messages: send → receipt p99", Size: wsBurstSize},
	{ID: "burst.ws.cpu", Scenario: "ws-burst", Transport: "ws", Key: "cpu_per_delivery", Unit: unitMicros, Lower: true,
		Title: "burst of 50 messages: server CPU per delivery", Size: wsBurstSize},

	{ID: "ws-memory.growth", Scenario: "ws-memory", Transport: "ws", Key: "rss_growth", Unit: unitPercent, Lower: true,
		Title: "RSS after a burst of 50 messages to one room, once delivered, against before", Target: "≤ +10%", Limit: fixed(0.10), Size: wsMemorySize},
	{ID: "ws-memory.before", Scenario: "ws-memory", Transport: "ws", Key: "rss_before", Unit: unitMB, Lower: true,
		Title: "… RSS with the members in the room, before the burst", Size: wsMemorySize},
	{ID: "ws-memory.after", Scenario: "ws-memory", Transport: "ws", Key: "rss_after", Unit: unitMB, Lower: true,
		Title: "… RSS once every member has every message", Size: wsMemorySize},
	{ID: "ws-memory.heap.before", Scenario: "ws-memory", Transport: "ws", Key: "heap_before", Unit: unitMB, Lower: true,
		Title: "… Go heap in use before the burst", Size: wsMemorySize},
	{ID: "ws-memory.heap.after", Scenario: "ws-memory", Transport: "ws", Key: "heap_after", Unit: unitMB, Lower: true,
		Title: "… Go heap in use once every member has every message", Size: wsMemorySize},

	{ID: "room.rate", Scenario: "room", Transport: "ws", Key: "deliveries_per_s", Unit: unitRate,
		Title: "1,000-member room, 8 senders, every message stored: deliveries/s", Target: "≥ 300k/s", Limit: fixed(300e3), Size: roomSize},
	{ID: "room.p50", Scenario: "room", Transport: "ws", Key: "latency_p50", Unit: unitDuration, Lower: true,
		Title: "1,000-member room, 8 senders: send → receipt p50", Size: roomSize},
	{ID: "room.p99", Scenario: "room", Transport: "ws", Key: "latency_p99", Unit: unitDuration, Lower: true,
		Title: "1,000-member room, 8 senders: send → receipt p99", Target: "≤ 25 ms", Limit: fixed(0.025), Size: roomSize},
	{ID: "room.messages", Scenario: "room", Transport: "ws", Key: "messages_per_s", Unit: unitRate,
		Title: "1,000-member room, 8 senders: messages stored/s", Size: roomSize},
	{ID: "room.cpu", Scenario: "room", Transport: "ws", Key: "cpu_per_delivery", Unit: unitMicros, Lower: true,
		Title: "1,000-member room: server CPU per delivery", Size: roomSize},

	{ID: "connect.held", Scenario: "connect", Transport: "sse", Key: "held", Unit: unitCount,
		Title: "concurrent connections held", Target: "all", Limit: func(c *config) float64 { return float64(c.ConnectConns) }, Size: connectSize},
	{ID: "connect.failures", Scenario: "connect", Transport: "sse", Key: "failures", Unit: unitCount, Lower: true,
		Title: "connection failures", Target: "0", Limit: fixed(0), Size: connectSize},
	{ID: "connect.rss", Scenario: "connect", Transport: "sse", Key: "rss", Unit: unitMB, Lower: true,
		Title: "server RSS with every connection open", Target: "≤ 150 MB", Limit: fixed(150e6), Size: connectSize},
	{ID: "connect.rate", Scenario: "connect", Transport: "sse", Key: "connects_per_s", Unit: unitRate,
		Title: "connects/s", Target: "≥ 2× reference", Ratio: 2, Size: connectSize},
	{ID: "connect.p50", Scenario: "connect", Transport: "sse", Key: "handshake_p50", Unit: unitDuration, Lower: true,
		Title: "handshake (dial → first id block) p50", Size: connectSize},
	{ID: "connect.p99", Scenario: "connect", Transport: "sse", Key: "handshake_p99", Unit: unitDuration, Lower: true,
		Title: "handshake (dial → first id block) p99", Size: connectSize},
	{ID: "connect.cpu", Scenario: "connect", Transport: "sse", Key: "cpu_per_connect", Unit: unitMicros, Lower: true,
		Title: "server CPU per connect", Size: connectSize},
	{ID: "connect.gc", Scenario: "connect", Transport: "sse", Key: "gc_cpu_per_connect", Unit: unitMicros, Lower: true,
		Title: "… of which the garbage collector's", Size: connectSize},
	{ID: "connect.gc.cycles", Scenario: "connect", Transport: "sse", Key: "gc_cycles", Unit: unitCount, Lower: true,
		Title: "garbage collections while connecting and holding", Size: connectSize},
	{ID: "connect.heap", Scenario: "connect", Transport: "sse", Key: "heap", Unit: unitMB, Lower: true,
		Title: "Go heap in use with every connection open", Size: connectSize},

	{ID: "connect-limit.held", Scenario: "connect-limit", Transport: "sse", Key: "held", Unit: unitCount,
		Title: "with --memory-limit and GOGC=off: concurrent connections held", Target: "all", Limit: func(c *config) float64 { return float64(c.ConnectConns) }, Size: connectSize},
	{ID: "connect-limit.rss", Scenario: "connect-limit", Transport: "sse", Key: "rss", Unit: unitMB, Lower: true,
		Title: "with --memory-limit and GOGC=off: server RSS with every connection open", Size: connectSize},
	{ID: "connect-limit.rate", Scenario: "connect-limit", Transport: "sse", Key: "connects_per_s", Unit: unitRate,
		Title: "with --memory-limit and GOGC=off: connects/s", Size: connectSize},
	{ID: "connect-limit.cpu", Scenario: "connect-limit", Transport: "sse", Key: "cpu_per_connect", Unit: unitMicros, Lower: true,
		Title: "with --memory-limit and GOGC=off: server CPU per connect", Size: connectSize},
	{ID: "connect-limit.gc", Scenario: "connect-limit", Transport: "sse", Key: "gc_cpu_per_connect", Unit: unitMicros, Lower: true,
		Title: "with --memory-limit and GOGC=off: … of which the garbage collector's", Size: connectSize},
	{ID: "connect-limit.gc.cycles", Scenario: "connect-limit", Transport: "sse", Key: "gc_cycles", Unit: unitCount, Lower: true,
		Title: "with --memory-limit and GOGC=off: garbage collections while connecting and holding", Size: connectSize},

	{ID: "page.rate", Scenario: "page", Transport: "http", Key: "req_per_s", Unit: unitRate,
		Title: "dashboard page, 64 keep-alive connections, 10 s: requests/s", Target: "≥ 2× reference", Ratio: 2, Size: pageSize},
	{ID: "page.p99", Scenario: "page", Transport: "http", Key: "latency_p99", Unit: unitDuration, Lower: true,
		Title: "dashboard page: latency p99", Target: "≤ 20 ms", Limit: fixed(0.020), Size: pageSize},
	{ID: "page.bytes", Scenario: "page", Transport: "http", Key: "page_bytes", Unit: unitKiB, Lower: true,
		Title: "dashboard page: size", Size: pageSize},
	{ID: "page.cpu", Scenario: "page", Transport: "http", Key: "cpu_per_request", Unit: unitMicros, Lower: true,
		Title: "dashboard page: server CPU per request", Size: pageSize},

	{ID: "leak.goroutines", Scenario: "leak", Transport: "sse", Key: "goroutines_delta", Unit: unitCount, Lower: true,
		Title: "leak guard: goroutines after the cycles − baseline", Target: "≤ 2 (baseline)", Limit: fixed(2), Size: leakSize},
	{ID: "leak.rss", Scenario: "leak", Transport: "sse", Key: "rss_delta", Unit: unitMB, Lower: true,
		Title: "leak guard: RSS after the cycles − baseline", Target: "≤ 8 MB (baseline)", Limit: fixed(8e6), Size: leakSize},
	{ID: "leak.rate", Scenario: "leak", Transport: "sse", Key: "cycles_per_s", Unit: unitRate,
		Title: "leak guard: connect/disconnect cycles/s", Size: leakSize},
	{ID: "leak.cpu", Scenario: "leak", Transport: "sse", Key: "cpu_per_cycle", Unit: unitMicros, Lower: true,
		Title: "leak guard: server CPU per connect/disconnect cycle", Size: leakSize},
}

// format shows v in u.
func (u unit) format(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	switch u {
	case unitKiB:
		return fmt.Sprintf("%.1f KiB", v/1024)
	case unitMB:
		return fmt.Sprintf("%.1f MB", v/1e6)
	case unitDuration:
		ms := v * 1000
		switch {
		case math.Abs(ms) >= 100:
			return fmt.Sprintf("%.0f ms", ms)
		case math.Abs(ms) >= 10:
			return fmt.Sprintf("%.1f ms", ms)
		default:
			return fmt.Sprintf("%.2f ms", ms)
		}
	case unitRate:
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2fM/s", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1fk/s", v/1e3)
		default:
			return fmt.Sprintf("%.0f/s", v)
		}
	case unitDecimal:
		return fmt.Sprintf("%.2f", v)
	case unitMicros:
		return fmt.Sprintf("%.1f µs", v*1e6)
	case unitPercent:
		return fmt.Sprintf("%+.1f%%", v*100)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// figureResult is one row of the report with its numbers.
type figureResult struct {
	ID          string    `json:"id"`
	Scenario    string    `json:"scenario,omitempty"`
	Transport   string    `json:"transport"`
	Title       string    `json:"title"`
	Target      string    `json:"target,omitempty"`
	Beacon      *float64  `json:"beacon,omitempty"` // median of the runs
	Reference   *float64  `json:"reference,omitempty"`
	BeaconRuns  []float64 `json:"beacon_runs,omitempty"`
	RefRuns     []float64 `json:"reference_runs,omitempty"`
	Ratio       *float64  `json:"ratio,omitempty"` // Beacon ÷ reference
	Status      string    `json:"status"`          // pass, fail, info, not measured
	Miss        string    `json:"miss,omitempty"`  // how far from the target
	Note        string    `json:"note,omitempty"`  // e.g. measured at another size than the target's
	Command     string    `json:"command,omitempty"`
	Value       string    `json:"beacon_text,omitempty"`
	RefValue    string    `json:"reference_text,omitempty"`
	LowerBetter bool      `json:"lower_is_better"`
}

// Statuses of a figure.
const (
	statusPass        = "pass"
	statusFail        = "FAIL"
	statusInfo        = "info"
	statusNotMeasured = "not measured"
)

// evaluate turns the samples of the runs into a row.
func (fg figure) evaluate(c *config, beacon, ref []float64) figureResult {
	r := figureResult{ID: fg.ID, Scenario: fg.Scenario, Transport: fg.Transport, Title: fg.Title, Target: fg.Target, LowerBetter: fg.Lower}
	if fg.NotMeasured != "" {
		r.Status, r.Note = statusNotMeasured, fg.NotMeasured
		return r
	}
	r.Command = c.commandFor(fg.Scenario)
	if len(beacon) == 0 {
		r.Status, r.Note = statusNotMeasured, "no successful run"
		return r
	}
	mb := median(beacon)
	r.Beacon, r.BeaconRuns, r.Value = &mb, beacon, fg.Unit.format(mb)
	if len(ref) > 0 {
		mr := median(ref)
		r.Reference, r.RefRuns, r.RefValue = &mr, ref, fg.Unit.format(mr)
		if mr > 0 && mb >= 0 { // a ratio of differences that may be negative means nothing
			ratio := mb / mr
			r.Ratio = &ratio
		}
	}
	if fg.Size != nil {
		if at, want := fg.Size(c); at != want {
			r.Note = fmt.Sprintf("measured at %s, the target is for %s", thousands(at), thousands(want))
		}
	}
	var limit float64
	switch {
	case fg.Ratio > 0 && r.Reference != nil:
		limit = fg.Ratio * *r.Reference
	case fg.Ratio > 0:
		r.Status, r.Note = statusNotMeasured, "its target is relative to the reference server, which did not run"
		return r
	case fg.Limit == nil:
		r.Status = statusInfo
		return r
	default:
		limit = fg.Limit(c)
	}
	pass := mb >= limit
	if fg.Lower {
		pass = mb <= limit
	}
	if pass {
		r.Status = statusPass
		return r
	}
	r.Status = statusFail
	switch {
	case fg.Ratio > 0:
		r.Miss = fmt.Sprintf("×%.2f the reference, the target ×%.2f", mb / *r.Reference, fg.Ratio)
	case limit == 0:
		r.Miss = fmt.Sprintf("%s instead of 0", fg.Unit.format(mb))
	case fg.Lower:
		r.Miss = fmt.Sprintf("%.0f%% over the target", (mb/limit-1)*100)
	default:
		r.Miss = fmt.Sprintf("%.0f%% short of the target (%.2f×)", (1-mb/limit)*100, mb/limit)
	}
	return r
}

// thousands writes n with thousands separators: 19000 → "19,000".
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
