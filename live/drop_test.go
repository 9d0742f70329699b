package live

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a log destination the server's goroutines and the test
// share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestSSEDeadlineDropIsAbortive: a client that stops reading until a write
// misses its deadline is dropped with an abortive close (SO_LINGER 0), so
// the kernel frees the socket's unsent data at once instead of holding it
// until the client goes away. The peer sees a reset, not a clean end; the
// drop is counted as an eviction and logged at info with its reason.
func TestSSEDeadlineDropIsAbortive(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fx := newFixture(t, HubConfig{Log: log}, SSEConfig{WriteTimeout: 100 * time.Millisecond})
	fx.ln.shrink.Store(true)
	r, err := dialRaw(fx.srv.Listener.Addr().String(), "topics=s:big&user=stalled", 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer r.conn.Close()
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	fx.publishState("s:big", bytes.Repeat([]byte("x"), 4<<20))
	waitFor(t, "the stalled subscriber to be dropped", func() bool { return fx.subscriptions() == 0 })

	// Read what the kernel still holds, then the end.
	r.conn.SetReadDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck // the read fails then
	if _, err := io.Copy(io.Discard, r.conn); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the dropped client's read ended with %v, want a connection reset (an abortive close)", err)
	}

	if got := counterValue(t, fx.metrics.evicted); got != 1 {
		t.Errorf("beacon_subscribers_evicted_total = %v after a deadline drop, want 1", got)
	}
	waitFor(t, "the drop to be logged", func() bool { return strings.Contains(logs.String(), "level=INFO") })
	if l := logs.String(); !strings.Contains(l, "deadline") || !strings.Contains(l, "user=stalled") {
		t.Errorf("log %q does not say why (a missed write deadline) and whose", l)
	}
}

// wrappedConn is a connection as a listener that counts connections hands
// it out: its Close must run, or the count never goes down.
type wrappedConn struct {
	net.Conn
	closed atomic.Int32
}

func (c *wrappedConn) Close() error      { c.closed.Add(1); return c.Conn.Close() }
func (c *wrappedConn) NetConn() net.Conn { return c.Conn }

// TestAbortClosesTheWrapper: an abortive close resets the TCP connection
// underneath a wrapper (the per-address cap's), and still closes the
// wrapper, so whatever it holds for the connection is released.
func TestAbortClosesTheWrapper(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := &wrappedConn{Conn: server}
	abort(w)
	if n := w.closed.Load(); n != 1 {
		t.Errorf("the wrapper was closed %d times, want once", n)
	}
	client.SetReadDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck // the read fails then
	if _, err := io.Copy(io.Discard, client); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the peer's read ended with %v, want a connection reset", err)
	}
}
