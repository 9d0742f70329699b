package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// testLogger shows warnings when CLUSTER_LOG is set (everything when it is
// "debug"), nothing otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("CLUSTER_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	level := slog.LevelWarn
	if os.Getenv("CLUSTER_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// node is one embedded server of a test, restartable on the same ports and
// store.
type node struct {
	t   testing.TB
	cfg ServerConfig
	srv *Server
}

// startNode starts a one-node server on a free port.
func startNode(t testing.TB) *node {
	t.Helper()
	n := &node{t: t, cfg: ServerConfig{
		Name:     "n1",
		StoreDir: t.TempDir(),
		Listen:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		Logger:   testLogger(),
	}}
	n.start()
	t.Cleanup(n.stop)
	return n
}

// startCluster starts size nodes routed to each other on loopback ports.
func startCluster(t testing.TB, size int) []*node {
	t.Helper()
	ports := make([]int, size)
	var routes []string
	for i := range ports {
		ports[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	nodes := make([]*node, size)
	for i := range nodes {
		nodes[i] = &node{t: t, cfg: ServerConfig{
			Name:          fmt.Sprintf("n%d", i+1),
			StoreDir:      t.TempDir(),
			Listen:        fmt.Sprintf("127.0.0.1:%d", freePort(t)),
			ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Routes:        routes,
			ClusterName:   "test",
			Logger:        testLogger(),
		}}
		nodes[i].start()
		t.Cleanup(nodes[i].stop)
	}
	return nodes
}

func (n *node) start() {
	n.t.Helper()
	s, err := StartServer(n.cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	n.srv = s
}

func (n *node) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv = nil
	}
}

func (n *node) url() string { return "nats://" + n.cfg.Listen }

// urls lists the client URLs of nodes.
func urls(nodes ...*node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.url())
	}
	return out
}

// dial connects a client to the given URLs, closed when the test ends.
func dial(t testing.TB, urls ...string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, ClientConfig{URLs: urls, ReconnectWait: 50 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// ctxFor returns a context that ends with the test, or after d.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after limit. It
// synchronises on a condition; the interval only paces the polling.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replicaLast is the last sequence of stream in n's own store (0 when n
// holds no replica of it).
func (n *node) replicaLast(stream string) uint64 {
	if n.srv == nil {
		return 0
	}
	acc, err := n.srv.srv.JszAccount(&server.JSzOptions{Account: "$G", Streams: true})
	if err != nil {
		return 0
	}
	for _, s := range acc.Streams {
		if s.Name == stream {
			return s.State.LastSeq
		}
	}
	return 0
}

// appendN appends n entries with ids prefix-1… and returns their sequences.
func appendN(t testing.TB, ctx context.Context, l *Log, prefix string, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := 1; i <= n; i++ {
		seq, err := l.Append(ctx, fmt.Sprintf("%s-%d", prefix, i), fmt.Appendf(nil, "%s %d", prefix, i))
		if err != nil {
			t.Fatalf("append %s-%d: %v", prefix, i, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// readUntil reads r until it has returned entry last, checking that every
// sequence comes exactly once, in order.
func readUntil(t testing.TB, ctx context.Context, r *Reader, last uint64) []Entry {
	t.Helper()
	var got []Entry
	want := r.Position()
	for want <= last {
		batch, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("next at %d: %v", want, err)
		}
		for _, e := range batch {
			if e.Seq != want {
				t.Fatalf("got seq %d, want %d", e.Seq, want)
			}
			want++
		}
		got = append(got, batch...)
	}
	return got
}
