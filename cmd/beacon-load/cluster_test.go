package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCluster runs the cluster scenario small: 300 SSE connections over
// three Beacons with embedded NATS (100 each, by three worker processes),
// and the same against one Beacon; every connection is held, every event
// and message delivered, and every row has both values. Figures are not
// judged: speed is a benchmark's business.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("three Beacons with NATS: not in -short")
	}
	const n, events, senders = 300, 5, 8
	rep := smoke(t, "-n", strconv.Itoa(n), "-cluster-n", strconv.Itoa(n), "-events", strconv.Itoa(events), "-senders", strconv.Itoa(senders), "cluster")
	for _, r := range rep.Results {
		if r.Scenario != "cluster" || r.Server != kindBeacon {
			t.Errorf("ran %s on %s; want only cluster, on Beacon", r.Scenario, r.Server)
		}
	}
	room, chatters := n/3, min(defaultChatters, n/3/4)
	for _, p := range []string{"single", "cluster"} {
		t.Run(p, func(t *testing.T) {
			v := func(key string) float64 { return rep.value(t, "cluster", kindBeacon, p+"_"+key) }
			// The one instance holds what each instance of the cluster holds.
			held := n
			if p == "single" {
				held = n / 3
			}
			if got := v("held"); got != float64(held) {
				t.Errorf("held %v SSE connections, want %d", got, held)
			}
			if got := v("delivered"); got != float64(held*events) {
				t.Errorf("delivered %v events, want %d", got, held*events)
			}
			if p50, p99, mx := v("fanout_p50"), v("fanout_p99"), v("fanout_max"); !(0 < p50 && p50 <= p99 && p99 <= mx && mx < 10) {
				t.Errorf("fan-out latency p50 %v, p99 %v, max %v: not 0 < p50 ≤ p99 ≤ max < 10s", p50, p99, mx)
			}
			if b := v("bytes_per_conn"); b < -1<<20 || b > 1<<20 || v("rss_per_conn") <= 0 {
				t.Errorf("%v bytes per connection, %v RSS per connection: a reading of /metrics went wrong", b, v("rss_per_conn"))
			}
			if got := v("room_held"); got != float64(room) {
				t.Errorf("the room held %v members, want %d", got, room)
			}
			if msgs := v("room_messages"); msgs < senders || v("room_delivered") != float64(room)*msgs {
				t.Errorf("room: %v messages sent, %v delivered; want at least one per sender, each to all %d members", msgs, v("room_delivered"), room)
			}
			if p50, p99 := v("room_p50"), v("room_p99"); !(0 < p50 && p50 <= p99 && p99 < 10) {
				t.Errorf("room latency p50 %v, p99 %v: not 0 < p50 ≤ p99 < 10s", p50, p99)
			}
			if got := v("chat_held"); got != float64(3*chatters) {
				t.Errorf("%v chat senders, want %d", got, 3*chatters)
			}
			if msgs := v("chat_messages"); msgs < float64(3*chatters) || v("chat_delivered") != msgs || v("chat_messages_per_s") <= 0 {
				t.Errorf("chat: %v messages sent, %v acknowledged, %v/s; want at least one per sender, each acknowledged", msgs, v("chat_delivered"), v("chat_messages_per_s"))
			}
			// CPU is every instance's: the busiest alone spends less than all
			// of them (each applies every message), one instance all of it.
			all, busiest := v("chat_cpu_per_msg"), v("chat_cpu_per_msg_busiest")
			if !(0 < busiest && busiest <= all && (p == "single") == (busiest == all)) || v("chat_capacity") <= 0 {
				t.Errorf("chat CPU per message: all instances %v s, busiest %v s, capacity %v/s", all, busiest, v("chat_capacity"))
			}
			if c := v("fanout_cpu_per_delivery"); !(0 < c && c < 0.01) {
				t.Errorf("fan-out CPU per delivery %v s: not a reading of every instance's process_cpu_seconds_total", c)
			}
		})
	}
	if len(rep.Cluster) != len(clusterFigures) {
		t.Fatalf("%d cluster rows, want %d", len(rep.Cluster), len(clusterFigures))
	}
	for _, f := range rep.Cluster {
		if f.Beacon == nil || f.Reference == nil || f.Status == statusNotMeasured {
			t.Errorf("row %s lacks a value: %+v", f.ID, f)
		}
	}

	// The cluster's section joins BENCHMARKS.md beside the suite's, and a
	// second run replaces it.
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := os.WriteFile(path, []byte("# Benchmarks\n\n"+markBegin+"\nsuite\n"+markEnd+"\n\n## Notes\n\nby hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := rep.writeMarkdown(path); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	got := string(b)
	for _, want := range []string{"suite", "by hand", "| one event to every connection: p99", "## Cluster"} {
		if !strings.Contains(got, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, clusterMarkBegin) != 1 || strings.Count(got, markBegin) != 1 {
		t.Errorf("want one suite section and one cluster section:\n%s", got)
	}
	var table bytes.Buffer
	rep.writeTable(&table)
	if !strings.Contains(table.String(), "Cluster: 3 Beacons") {
		t.Errorf("the table lacks the cluster rows:\n%s", table.String())
	}
}

func TestClusterConfig(t *testing.T) {
	for _, args := range [][]string{
		{"-cluster-n", "60000", "cluster"}, // 20,000 to an instance: over the open-files limit less the reserve
		{"-cluster-n", "8", "cluster"},
		{"-chatters", "0", "cluster"},
		{"-chatters", "257", "cluster"},
		{"-chat-duration", "0s", "cluster"},
		{"-cluster-n", "24", "-senders", "8", "cluster"}, // a room of 8 with 8 senders
		{"-target", "http://127.0.0.1:8080", "cluster"},
	} {
		if _, err := newConfig(args, &bytes.Buffer{}, 20_000); err == nil {
			t.Errorf("newConfig(%q) accepted it", args)
		}
	}
	c, err := newConfig(nil, &bytes.Buffer{}, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(c.Scenarios, "cluster") {
		t.Errorf("the default suite runs the cluster scenario: %q", c.Scenarios)
	}
	if c.Cluster.Conns != 57_000 || c.Cluster.Room != 1_000 || c.Cluster.Chatters != 64 {
		t.Errorf("defaults: %+v", c.Cluster)
	}
	c, err = newConfig([]string{"-n", "3000", "cluster"}, &bytes.Buffer{}, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.Conns != 3000 || c.Cluster.Room != 1000 || c.Cluster.Chatters != 64 || !slices.Equal(c.Scenarios, []string{"cluster"}) {
		t.Errorf("-n 3000 cluster: %+v, scenarios %q", c.Cluster, c.Scenarios)
	}
	if got, want := c.clusterCommand(), "go run ./cmd/beacon-load -cluster-n 3000 -events 10 -senders 8 -room-duration 3s -chatters 64 -chat-duration 5s cluster"; got != want {
		t.Errorf("clusterCommand() = %q, want %q", got, want)
	}
	if got := split(57_000, 3, 0) + split(57_000, 3, 1) + split(57_000, 3, 2); got != 57_000 || split(1000, 3, 0) != 334 || split(1000, 3, 2) != 333 {
		t.Errorf("split: %d in all, %d, %d", got, split(1000, 3, 0), split(1000, 3, 2))
	}
}

// TestWorkerRefuses: a worker answers every line, refuses what it cannot
// do with the reason, and dials loopback addresses only.
func TestWorkerRefuses(t *testing.T) {
	in := strings.Join([]string{
		`not json`,
		`{"op":"wait","want":1}`,
		`{"op":"open","kind":"sse","addr":"10.0.0.1:80","n":1}`,
		`{"op":"open","kind":"carrier-pigeon","addr":"127.0.0.1:9","n":1}`,
		`{"op":"close"}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	if err := serveWorker(t.Context(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&out)
	for _, want := range []string{"bad request", "no fleet open", "not a loopback address", "kind", ""} {
		var rep workerReply
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("reply for %q: %v", want, err)
		}
		if !strings.Contains(rep.Error, want) || (want == "") != (rep.Error == "") {
			t.Errorf("error %q, want one with %q", rep.Error, want)
		}
	}
}
