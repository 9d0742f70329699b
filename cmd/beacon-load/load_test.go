package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// smoke runs the tool as CI does, against a Beacon built from this module and
// against the reference server (this test binary, restarted as one), and
// returns its JSON report.
func smoke(t *testing.T, args ...string) *report {
	t.Helper()
	bin := builtBeacon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"-smoke", "-json", "-beacon-bin", bin}, args...), &stdout, &stderr)
	if err != nil {
		t.Fatalf("beacon-load %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("the report is not JSON: %v\n%s", err, stdout.String())
	}
	for _, r := range rep.Results {
		if r.Error != "" || r.Sample == nil {
			t.Errorf("%s on %s: %s", r.Scenario, r.Server, r.Error)
		}
	}
	if len(rep.Problems) > 0 {
		t.Errorf("sanity problems: %q", rep.Problems)
	}
	if t.Failed() {
		t.Logf("log:\n%s", stderr.String())
	}
	return &rep
}

// value returns a value measured by scenario against server.
func (r *report) value(t *testing.T, scenario, server, key string) float64 {
	t.Helper()
	for _, res := range r.Results {
		if res.Scenario == scenario && res.Server == server && res.Sample != nil {
			if v, ok := res.Sample.Values[key]; ok {
				return v
			}
		}
	}
	t.Fatalf("no %s from %s on %s", key, scenario, server)
	return 0
}

func TestSmoke(t *testing.T) {
	rep := smoke(t)
	const n, events, burst, cycles = 200, 5, 20, 200
	for _, srv := range []string{kindBeacon, kindReference} {
		t.Run(srv, func(t *testing.T) {
			v := func(scenario, key string) float64 { return rep.value(t, scenario, srv, key) }
			for _, sc := range []string{"idle", "fanout", "burst"} {
				if got := v(sc, "held"); got != n {
					t.Errorf("%s held %v connections, want %d", sc, got, n)
				}
			}
			if got := v("connect", "held"); got != n || v("connect", "failures") != 0 {
				t.Errorf("connect held %v of %d connections with %v failures", got, n, v("connect", "failures"))
			}
			if got := v("fanout", "delivered"); got != n*events {
				t.Errorf("fanout delivered %v events, want %d", got, n*events)
			}
			if got := v("burst", "delivered"); got != n*burst {
				t.Errorf("burst delivered %v events, want %d", got, n*burst)
			}
			p50, p99, mx := v("fanout", "latency_p50"), v("fanout", "latency_p99"), v("fanout", "latency_max")
			if !(0 < p50 && p50 <= p99 && p99 <= mx && mx < 10) {
				t.Errorf("fanout latency p50 %v, p99 %v, max %v: not 0 < p50 ≤ p99 ≤ max < 10s", p50, p99, mx)
			}
			if r := v("burst", "deliveries_per_s"); r <= 0 {
				t.Errorf("burst: %v deliveries/s", r)
			}
			// Beacon holds an idle stream with no goroutine; the reference
			// with two.
			lo, hi := 0.5, 10.0
			if srv == kindBeacon {
				lo, hi = -0.1, 0.1
			}
			if g := v("idle", "goroutines_per_conn"); g < lo || g > hi {
				t.Errorf("idle: %v goroutines per connection; a reading of /metrics went wrong", g)
			}
			if b := v("idle", "bytes_per_conn"); v("idle", "rss_after") <= 0 || b < -1<<20 || b > 1<<20 {
				t.Errorf("idle: %v bytes per connection; a reading of /metrics went wrong", b)
			}
			if got := v("leak", "cycles"); got != cycles {
				t.Errorf("leak ran %v cycles, want %d", got, cycles)
			}
			if d := v("leak", "goroutines_delta"); d > 2 {
				t.Errorf("%v goroutines more on the server after %d connect/disconnect cycles", d, cycles)
			}
			if v("page", "requests") < 1 {
				t.Error("page: no request answered")
			}
			if held, updated := v("stream", "held"), v("stream", "updated"); held != n || updated != n {
				t.Errorf("stream held %v viewers, %v of them updated; want %d and %d", held, updated, n, n)
			}
			if g := v("stream", "goroutines_per_conn"); g < lo || g > hi {
				t.Errorf("stream: %v goroutines per viewer; a reading of /metrics went wrong", g)
			}
			if d := v("stream", "goroutines_delta"); d > 2 {
				t.Errorf("%v goroutines more on the server after closing every stream viewer", d)
			}
		})
	}

	// The WebSocket room scenarios run against both.
	for _, srv := range []string{kindBeacon, kindReference} {
		v := func(scenario, key string) float64 { return rep.value(t, scenario, srv, key) }
		for _, sc := range []string{"ws-idle", "ws-burst", "ws-memory", "room"} {
			if got := v(sc, "held"); got != n {
				t.Errorf("%s: %s held %v room connections, want %d", srv, sc, got, n)
			}
		}
		want := 1.0 // Beacon: the reader; the reference: the reader and the writer
		if srv == kindReference {
			want = 2
		}
		if g := v("ws-idle", "goroutines_per_conn"); g < want-0.5 || g > want+0.5 {
			t.Errorf("%s: ws-idle: %v goroutines per connection, want about %v", srv, g, want)
		}
		for _, sc := range []string{"ws-burst", "ws-memory"} {
			if got := v(sc, "delivered"); got != n*burst {
				t.Errorf("%s: %s delivered %v messages, want %d", srv, sc, got, n*burst)
			}
		}
		if before, after := v("ws-memory", "rss_before"), v("ws-memory", "rss_after"); before <= 0 || after <= 0 {
			t.Errorf("%s: ws-memory read RSS %v before and %v after", srv, before, after)
		}
		if msgs := v("room", "messages"); msgs < 8 || v("room", "delivered") != n*msgs {
			t.Errorf("%s: room: %v messages sent, %v delivered; want at least one per sender, each to all %d members", srv, msgs, v("room", "delivered"), n)
		}
		if p50, p99 := v("room", "latency_p50"), v("room", "latency_p99"); !(0 < p50 && p50 <= p99 && p99 < 10) {
			t.Errorf("%s: room latency p50 %v, p99 %v: not 0 < p50 ≤ p99 < 10s", srv, p50, p99)
		}
	}
	// connect-limit (connect with Beacon's --memory-limit) is Beacon's alone.
	if got := rep.value(t, "connect-limit", kindBeacon, "held"); got != n {
		t.Errorf("connect-limit held %v connections, want %d", got, n)
	}
	if gc := rep.value(t, "connect", kindBeacon, "gc_cycles"); gc < 0 {
		t.Errorf("connect: %v garbage collections", gc)
	}
	for _, r := range rep.Results {
		if r.Server == kindReference && scenarios[r.Scenario].beaconOnly {
			t.Errorf("%s ran against the reference server", r.Scenario)
		}
	}

	seen := map[string]figureResult{}
	for _, f := range rep.Figures {
		seen[f.ID] = f
	}
	for _, fg := range figures {
		f, ok := seen[fg.ID]
		switch {
		case !ok:
			t.Errorf("figure %s is missing from the report", fg.ID)
		case fg.NotMeasured != "" && f.Status != statusNotMeasured:
			t.Errorf("figure %s: status %q, want %q", fg.ID, f.Status, statusNotMeasured)
		case fg.NotMeasured == "" && (f.Beacon == nil || (f.Reference == nil) != scenarios[fg.Scenario].beaconOnly || f.Command == ""):
			t.Errorf("figure %s has no Beacon value or command, or a reference value where there should (not) be one: %+v", fg.ID, f)
		}
	}
}

// TestSmokeR3labs runs the fidelity client, so it cannot rot either.
func TestSmokeR3labs(t *testing.T) {
	rep := smoke(t, "-client", "r3labs", "-n", "50", "-reference=false", "fanout", "burst")
	if got := rep.value(t, "fanout", kindBeacon, "delivered"); got != 50*5 {
		t.Errorf("fanout delivered %v events, want %d", got, 50*5)
	}
	if got := rep.value(t, "burst", kindBeacon, "delivered"); got != 50*20 {
		t.Errorf("burst delivered %v events, want %d", got, 50*20)
	}
}

func TestMarkdownKeepsNotes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	rep := &report{Machine: machine{CPUs: 2, LoadStart: "0.1 0.1 0.1"}, Command: "go run ./cmd/beacon-load", Runs: 1, Client: "raw"}
	cfg, err := newConfig([]string{"idle"}, &bytes.Buffer{}, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	rep.Results = []runResult{{Scenario: "idle", Server: kindBeacon, Run: 1, Sample: &sample{Values: map[string]float64{"bytes_per_conn": 7.5 * 1024}}}}
	rep.evaluate(cfg)
	if err := rep.writeMarkdown(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	notes := strings.Replace(string(b), "Written by hand; the tool keeps this part.", "Idle memory: the bufio writer dominates.", 1)
	if err := os.WriteFile(path, []byte(notes), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rep.writeMarkdown(path); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got := string(b)
	for _, want := range []string{"Idle memory: the bufio writer dominates.", "| SSE | idle memory per connection (server RSS)", "FAIL: 25% over", "no successful run"} {
		if !strings.Contains(got, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, markBegin) != 1 || strings.Count(got, markEnd) != 1 {
		t.Errorf("want one generated section:\n%s", got)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"http://127.1.2.3:8080/live", "http://127.1.2.3:8080"},
		{"http://localhost:9000", "http://127.0.0.1:9000"},
		{"http://127.0.0.1", "http://127.0.0.1:80"},
		{"http://10.0.0.1:8080", ""},
		{"http://192.168.1.10:8080", ""},
		{"http://example.com:8080", ""},
		{"http://[::1]:8080", ""},
		{"http://0.0.0.0:8080", ""},
		{"https://127.0.0.1:8443", ""},
		{"127.0.0.1:8080", ""},
		{"http://127.0.0.1:99999", ""},
	} {
		got, err := loopbackURL(tc.in)
		if tc.want == "" && err == nil {
			t.Errorf("loopbackURL(%q) = %q, want an error", tc.in, got)
		}
		if tc.want != "" && (err != nil || got != tc.want) {
			t.Errorf("loopbackURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestConfigBounds(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "19745"}, // over the open-files limit of 20,000 less the reserve
		{"-n", "0", "-cycles", "0"},
		{"-timeout", "31m"},
		{"-runs", "10"},
		{"-burst", "10001"},
		{"-target", "http://10.1.1.1:80"},
		{"-client", "curl"},
		{"nosuch"},
		{"-target", "http://127.0.0.1:8080", "-cpuprofile", "/tmp/x"},
		{"-stream-hold", "0s"},
		{"-stream-hold", "4m"},
	} {
		if _, err := newConfig(args, &bytes.Buffer{}, 20_000); err == nil {
			t.Errorf("newConfig(%q) accepted it", args)
		}
	}
	c, err := newConfig([]string{"burst", "-n", "19000", "idle"}, &bytes.Buffer{}, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Scenarios, ",") != "idle,burst" || c.ConnectConns != 19000 {
		t.Errorf("scenarios %q, connect %d", c.Scenarios, c.ConnectConns)
	}
	if got := c.commandFor("burst"); got != "go run ./cmd/beacon-load -n 19000 -burst 50 -publishers 8 -text 200 burst" {
		t.Errorf("commandFor(burst) = %q", got)
	}
	if got := c.commandFor("stream"); got != "go run ./cmd/beacon-load -n 19000 -stream-hold 1.5s stream" {
		t.Errorf("commandFor(stream) = %q", got)
	}
}

func TestStamp(t *testing.T) {
	now := time.Unix(1_800_000_000, 123456789)
	text := eventText(42, now, 200)
	if len(text) != 200 {
		t.Errorf("len(text) = %d, want 200", len(text))
	}
	line := append([]byte(`data: <li id="act-3"><span class="item-text">`), text...)
	line = append(line, `</span></li>`...)
	sent, seq, ok := parseStamp(line)
	if !ok || sent != now.UnixNano() || seq != 42 {
		t.Errorf("parseStamp = %d, %d, %v; want %d, 42, true", sent, seq, ok, now.UnixNano())
	}
	for _, bad := range []string{"data: hello", "data: beacon-load t=12", "data: beacon-load t=12 s=", "data: beacon-load t= s=3"} {
		if _, _, ok := parseStamp([]byte(bad)); ok {
			t.Errorf("parseStamp(%q) found a stamp", bad)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	st, err := parseMetrics(strings.NewReader(`# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 12
process_resident_memory_bytes 2.1286912e+07
beacon_live_connections{transport="sse"} 3
some_metric{a="x y"} 5 1700000000000
`))
	if err != nil {
		t.Fatal(err)
	}
	want := serverStats{"go_goroutines": 12, "process_resident_memory_bytes": 21286912,
		`beacon_live_connections{transport="sse"}`: 3, `some_metric{a="x y"}`: 5}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("%s = %v, want %v", k, st[k], v)
		}
	}
}

func TestPercentileMedian(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	sortedDurations(d)
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {0, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %v, want 2", got)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v, want 2.5", got)
	}
}

// TestStreamTags reads streamed widget documents as the stream viewers do,
// in pieces of every size, and counts their frames.
func TestStreamTags(t *testing.T) {
	head := `<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="stylesheet" href="/s.css"></head><body class="stream">`
	frame := func(at string) string {
		meta := ""
		if at != "" {
			meta = `<p class="meta">Measured at <time datetime="` + at + `">x</time></p>`
		}
		return `<div class="frame"><section id="metrics-panel"><dl><div class="card"><dt>Goroutines</dt><dd>9 </dd></div></dl>` + meta + `</section></div>`
	}
	const t1, t2, t3 = "2026-11-29T10:00:01Z", "2026-11-29T10:00:02Z", "2026-11-29T10:00:03Z"
	for _, tc := range []struct {
		name                             string
		doc                              string
		frames, got, stale, older, ended int
		updated                          bool
	}{
		{"first frame only", head + frame(t1), 1, 0, 0, 0, 0, false},
		{"ticks", head + frame(t1) + frame(t2) + "<!-- -->\n" + frame(t3), 3, 2, 0, 0, 0, true},
		{"the newest state again", head + frame(t1) + frame(t1), 2, 1, 1, 0, 0, false},
		{"an older state after a newer", head + frame(t2) + frame(t1) + frame(t3), 3, 2, 1, 1, 0, true},
		{"not measured yet", head + frame("") + frame(t1), 2, 1, 0, 0, 0, true},
		{"ended by the server", head + frame(t1) + frame(t2) + `<meta http-equiv="refresh" content="0"><p class="stream-end">Reconnecting…</p>`, 2, 1, 0, 0, 1, true},
	} {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"one byte at a time", iotest.OneByteReader}, {"halves", iotest.HalfReader}} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				f := &fleet{}
				c := &sseClient{f: f, ready: make(chan struct{})}
				var v viewer
				err := readTags(rd.wrap(strings.NewReader(tc.doc)), func(tag []byte) { c.streamTag(&v, tag) })
				if err != io.EOF {
					t.Fatalf("readTags: %v, want EOF", err)
				}
				if v.frames != tc.frames || c.got != tc.got || c.stale != tc.stale || c.older != tc.older || c.retries != tc.ended {
					t.Errorf("frames %d, updates %d, stale %d, older %d, ended %d; want %d, %d, %d, %d, %d",
						v.frames, c.got, c.stale, c.older, c.retries, tc.frames, tc.got, tc.stale, tc.older, tc.ended)
				}
				if got := f.updated.Load() == 1; got != tc.updated {
					t.Errorf("updated = %v, want %v", got, tc.updated)
				}
				select {
				case <-c.ready:
				default:
					t.Error("the first frame did not end the handshake")
				}
			})
		}
	}
}
