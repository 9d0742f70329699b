package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// TestAppendTextFrame checks the three length encodings of RFC 6455 5.2 at
// their edges; the room tests exercise the frames against a real client.
func TestAppendTextFrame(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte{'x'}, n)
		got := appendTextFrame([]byte("prefix"), payload)
		got, ok := bytes.CutPrefix(got, []byte("prefix"))
		if !ok || got[0] != 0x81 {
			t.Fatalf("n=%d: frame starts %x, want prefix kept and 0x81 (FIN, text)", n, got[:min(len(got), 2)])
		}
		var length uint64
		var rest []byte
		switch l := got[1]; {
		case l&0x80 != 0:
			t.Fatalf("n=%d: mask bit set; a server never masks", n)
		case l < 126:
			length, rest = uint64(l), got[2:]
		case l == 126:
			length, rest = uint64(binary.BigEndian.Uint16(got[2:4])), got[4:]
			if length < 126 {
				t.Fatalf("n=%d: 16-bit length %d should have been 7-bit", n, length)
			}
		default:
			length, rest = binary.BigEndian.Uint64(got[2:10]), got[10:]
			if length <= 0xFFFF {
				t.Fatalf("n=%d: 64-bit length %d should have been shorter", n, length)
			}
		}
		if length != uint64(n) || !bytes.Equal(rest, payload) {
			t.Fatalf("n=%d: length %d and %d payload bytes", n, length, len(rest))
		}
	}
}

// wsFixture is a hub, its WebSocket transport and an httptest server whose
// handler does what Beacon's room socket does with the writing side: topics
// from ?topics=, the resume point from ?after=, the user from ?user=, JSON
// mode for the beacon.v1.json subprotocol. Its reading loop only reads.
type wsFixture struct {
	hub     *Hub
	log     *memLog
	ws      *WS
	srv     *httptest.Server
	metrics *Metrics
	ln      *shrinkListener
	readers sync.WaitGroup
	request func(*WSRequest) // when set, changes every socket's request
}

const wsTestProtocol = "beacon.v1.json"

func newWSFixture(t testing.TB, hc HubConfig, wc WSConfig) *wsFixture {
	t.Helper()
	if hc.Epoch == "" {
		hc.Epoch = testEpoch
	}
	if hc.Classify == nil {
		hc.Classify = classifyTest
	}
	if hc.Metrics == nil {
		hc.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	fx := &wsFixture{hub: NewHub(hc), log: &memLog{}, metrics: hc.Metrics}
	fx.ws = NewWS(fx.hub, fx.log, wc)
	up := websocket.Upgrader{Subprotocols: []string{wsTestProtocol}}
	fx.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		q := r.URL.Query()
		mode := ModeHTML
		if conn.Subprotocol() == wsTestProtocol {
			mode = ModeJSON
		}
		req := WSRequest{
			Request: Request{Topics: strings.Split(q.Get("topics"), ","), Resume: q.Get("after"), User: q.Get("user")},
			Mode:    mode,
		}
		if fx.request != nil {
			fx.request(&req)
		}
		wc, err := fx.ws.Open(r.Context(), conn, req)
		if err != nil {
			conn.Close()
			return
		}
		// As Beacon does: the handler returns, a fresh goroutine reads.
		fx.readers.Go(func() {
			defer wc.Close()
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		})
	}))
	fx.ln = &shrinkListener{Listener: fx.srv.Listener}
	fx.srv.Listener = fx.ln
	fx.srv.Start()
	t.Cleanup(func() {
		fx.hub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := fx.ws.Wait(ctx); err != nil {
			t.Errorf("WS.Wait after Hub.Close: %v", err)
		}
		fx.readers.Wait()
		fx.srv.Close()
	})
	return fx
}

// dial opens a socket; rcvbuf, when positive, is its receive buffer.
func (fx *wsFixture) dial(t testing.TB, query string, rcvbuf int, protocols ...string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protocols, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil && rcvbuf > 0 {
			err = c.(*net.TCPConn).SetReadBuffer(rcvbuf)
		}
		return c, err
	}}
	c, resp, err := d.Dial("ws"+strings.TrimPrefix(fx.srv.URL, "http")+"/ws?"+query, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return c
}

func (fx *wsFixture) subscriptions() int {
	n, _ := fx.hub.Counts()
	return n
}

// TestWSDeadlineDropIsAbortive: as for SSE, a socket whose client stopped
// reading until a write missed its deadline is reset, counted and logged.
func TestWSDeadlineDropIsAbortive(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fx := newWSFixture(t, HubConfig{Log: log}, WSConfig{WriteTimeout: 100 * time.Millisecond})
	fx.ln.shrink.Store(true)
	c := fx.dial(t, "topics=s:big&user=stalled", 4096)
	if _, msg, err := c.ReadMessage(); err != nil || !bytes.Contains(msg, []byte(`"id"`)) {
		t.Fatalf("hello: %q, %v", msg, err)
	}
	fx.hub.Publish(Frame{Topic: "s:big", Data: bytes.Repeat([]byte("x"), 4<<20)})
	waitFor(t, "the stalled subscriber to be dropped", func() bool { return fx.subscriptions() == 0 })

	nc := c.NetConn()
	nc.SetReadDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck // the read fails then
	if _, err := io.Copy(io.Discard, nc); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the dropped client's read ended with %v, want a connection reset (an abortive close)", err)
	}
	if got := counterValue(t, fx.metrics.evicted); got != 1 {
		t.Errorf("beacon_subscribers_evicted_total = %v after a deadline drop, want 1", got)
	}
	waitFor(t, "the drop to be logged", func() bool { return strings.Contains(logs.String(), "level=INFO") })
	if l := logs.String(); !strings.Contains(l, "deadline") || !strings.Contains(l, "user=stalled") || !strings.Contains(l, "transport=ws") {
		t.Errorf("log %q does not say why (a missed write deadline), whose and which transport", l)
	}
}

// readJSON reads the next message and checks it is text.
func readJSON(t testing.TB, c *websocket.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck // the read fails then
	kind, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading the socket: %v", err)
	}
	if kind != websocket.TextMessage {
		t.Fatalf("message of kind %d", kind)
	}
	return string(msg)
}

// closeOf reads until the server closes the socket and returns its close
// frame's code and text.
func closeOf(t testing.TB, c *websocket.Conn) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitTimeout)) //nolint:errcheck // the read fails then
	for {
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Text
		}
		if err != nil {
			t.Fatalf("the socket ended without a close frame: %v", err)
		}
	}
}

func (fx *wsFixture) writes(t testing.TB) float64 {
	t.Helper()
	return counterValue(t, fx.metrics.writes.WithLabelValues("ws"))
}

// TestWSJSONBatchIsOneWrite: in JSON mode every frame is a message of its
// own, but a batch of them goes out in one write to the socket.
func TestWSJSONBatchIsOneWrite(t *testing.T) {
	const n = 20
	fx := newWSFixture(t, HubConfig{Heartbeat: time.Hour}, WSConfig{})
	c := fx.dial(t, "topics=log:a", 0, wsTestProtocol)
	waitFor(t, "the socket to subscribe", func() bool { return fx.subscriptions() == 1 })
	before := fx.writes(t)
	frames := make([]Frame, n)
	for i := range frames {
		frames[i] = fx.log.commit(Frame{Topic: "log:a", Data: []byte("<p>x</p>"), JSON: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	fx.hub.PublishBatch(frames)
	for i := range n {
		if got, want := readJSON(t, c), fmt.Sprintf(`{"n":%d}`, i); got != want {
			t.Fatalf("message %d is %s, want %s", i, got, want)
		}
	}
	// Every write is counted before the frames it carried.
	waitFor(t, "the deliveries to be counted", func() bool { return counterValue(t, fx.metrics.deliveredLog) == n })
	if got := fx.writes(t) - before; got != 1 {
		t.Fatalf("%d frames went out in %v writes, want 1", n, got)
	}
}

// TestWSHTMLMode: a page's socket gets its hello with its position, then
// every batch as one {"id","content"} message whose id is the last log
// frame's.
func TestWSHTMLMode(t *testing.T) {
	fx := newWSFixture(t, HubConfig{Heartbeat: time.Hour}, WSConfig{})
	fx.hub.SetHead(0)
	c := fx.dial(t, "topics=log:a,s:x", 0)
	if got := readJSON(t, c); got != `{"id":"5eed-0"}` {
		t.Fatalf("hello %s", got)
	}
	f := fx.log.commit(Frame{Topic: "log:a", Data: []byte(`<li>"one"</li>`)})
	fx.hub.PublishBatch([]Frame{{Topic: "s:x", Data: []byte("<b>state</b>")}, f})
	if got, want := readJSON(t, c), `{"id":"5eed-1","content":"<b>state</b><li>\"one\"</li>"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	fx.hub.Publish(Frame{Topic: "s:x", Data: []byte("again")})
	if got, want := readJSON(t, c), `{"content":"again"}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestWSResumeReplays: a socket that comes back with ?after= is replayed
// what it missed before its hello, then goes live.
func TestWSResumeReplays(t *testing.T) {
	fx := newWSFixture(t, HubConfig{Heartbeat: time.Hour}, WSConfig{})
	for i := range 3 {
		fx.hub.Publish(fx.log.commit(Frame{Topic: "log:a", JSON: fmt.Appendf(nil, `{"n":%d}`, i+1)}))
	}
	fx.request = func(r *WSRequest) {
		r.Hello = func(id string, resynced bool) []byte {
			return fmt.Appendf(nil, `{"hello":%q,"resynced":%v}`, id, resynced)
		}
	}
	c := fx.dial(t, "topics=log:a&after="+FormatID(testEpoch, 1), 0, wsTestProtocol)
	for _, want := range []string{`{"n":2}`, `{"n":3}`, `{"hello":"5eed-3","resynced":false}`} {
		if got := readJSON(t, c); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	fx.hub.Publish(fx.log.commit(Frame{Topic: "log:a", JSON: []byte(`{"n":4}`)}))
	if got := readJSON(t, c); got != `{"n":4}` {
		t.Fatalf("got %s", got)
	}
}

// TestWSPingIsAnsweredByTheWriter: the client's ping gets its pong through
// the writer pool (the reading side never writes), and the server's
// heartbeat is a ping.
func TestWSPingIsAnsweredByTheWriter(t *testing.T) {
	fx := newWSFixture(t, HubConfig{Heartbeat: 20 * time.Millisecond}, WSConfig{})
	c := fx.dial(t, "topics=s:x", 0, wsTestProtocol)
	pongs := make(chan string, 1)
	c.SetPongHandler(func(data string) error {
		select {
		case pongs <- data:
		default:
		}
		return nil
	})
	pings := make(chan struct{}, 1)
	c.SetPingHandler(func(string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return nil
	})
	if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go c.ReadMessage() //nolint:errcheck // runs the handlers until the cleanup closes the socket
	timeout := time.After(waitTimeout)
	select {
	case got := <-pongs:
		if got != "are you there" {
			t.Fatalf("pong %q", got)
		}
	case <-timeout:
		t.Fatal("no pong")
	}
	select {
	case <-pings:
	case <-timeout:
		t.Fatal("no heartbeat ping")
	}
}

// TestWSCloseCodes: every end the server chooses says whether to come back.
func TestWSCloseCodes(t *testing.T) {
	t.Run("hub closes: 1012", func(t *testing.T) {
		fx := newWSFixture(t, HubConfig{}, WSConfig{})
		c := fx.dial(t, "topics=s:x", 0, wsTestProtocol)
		waitFor(t, "the socket to subscribe", func() bool { return fx.subscriptions() == 1 })
		fx.hub.Close()
		if code, _ := closeOf(t, c); code != CloseServiceRestart {
			t.Fatalf("close %d, want %d", code, CloseServiceRestart)
		}
	})
	t.Run("opened after the hub closed: 1012", func(t *testing.T) {
		fx := newWSFixture(t, HubConfig{}, WSConfig{})
		fx.hub.Close()
		c := fx.dial(t, "topics=s:x", 0, wsTestProtocol)
		if code, _ := closeOf(t, c); code != CloseServiceRestart {
			t.Fatalf("close %d, want %d", code, CloseServiceRestart)
		}
	})
	t.Run("too far behind: 1013", func(t *testing.T) {
		fx := newWSFixture(t, HubConfig{QueueLen: 2}, WSConfig{})
		c := fx.dial(t, "topics=log:a", 0, wsTestProtocol)
		waitFor(t, "the socket to subscribe", func() bool { return fx.subscriptions() == 1 })
		frames := make([]Frame, 5)
		for i := range frames {
			frames[i] = fx.log.commit(Frame{Topic: "log:a", JSON: []byte(`{}`)})
		}
		fx.hub.PublishBatch(frames) // more than the queue holds before the writer wakes
		if code, _ := closeOf(t, c); code != CloseTryAgainLater {
			t.Fatalf("close %d, want %d", code, CloseTryAgainLater)
		}
	})
	t.Run("Request.Context ends: EndCode", func(t *testing.T) {
		fx := newWSFixture(t, HubConfig{}, WSConfig{})
		end, stop := context.WithCancel(context.Background())
		defer stop()
		fx.request = func(r *WSRequest) {
			r.Context, r.EndCode, r.EndReason = end, websocket.ClosePolicyViolation, "signed out"
		}
		c := fx.dial(t, "topics=s:x", 0, wsTestProtocol)
		waitFor(t, "the socket to subscribe", func() bool { return fx.subscriptions() == 1 })
		stop()
		if code, text := closeOf(t, c); code != websocket.ClosePolicyViolation || text != "signed out" {
			t.Fatalf("close %d %q, want %d %q", code, text, websocket.ClosePolicyViolation, "signed out")
		}
		waitFor(t, "the socket to leave", func() bool { return fx.subscriptions() == 0 })
	})
	t.Run("the client closes: 1000 back", func(t *testing.T) {
		fx := newWSFixture(t, HubConfig{}, WSConfig{})
		c := fx.dial(t, "topics=s:x", 0, wsTestProtocol)
		waitFor(t, "the socket to subscribe", func() bool { return fx.subscriptions() == 1 })
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second)) //nolint:errcheck // read below
		if code, _ := closeOf(t, c); code != websocket.CloseNormalClosure {
			t.Fatalf("close %d, want %d", code, websocket.CloseNormalClosure)
		}
		waitFor(t, "the socket to leave", func() bool { return fx.subscriptions() == 0 })
	})
}

// TestWSOneGoroutinePerSocket: a socket costs its reader's goroutine (the
// caller's) and nothing more: the pool writes.
func TestWSOneGoroutinePerSocket(t *testing.T) {
	const n = 200
	fx := newWSFixture(t, HubConfig{Heartbeat: time.Hour}, WSConfig{})
	fx.dial(t, "topics=s:x", 0, wsTestProtocol).Close()
	waitFor(t, "the warm-up socket to leave", func() bool { return fx.subscriptions() == 0 })
	baseline := runtime.NumGoroutine()
	for range n {
		fx.dial(t, "topics=s:x", 0, wsTestProtocol)
	}
	waitFor(t, "every socket to subscribe", func() bool { return fx.subscriptions() == n })
	limit := baseline + n + runtime.GOMAXPROCS(0) + 4
	var got int
	waitFor(t, fmt.Sprintf("at most %d goroutines with %d sockets", limit, n), func() bool {
		got = runtime.NumGoroutine()
		return got <= limit
	})
	t.Logf("goroutines: %d with none, %d with %d sockets", baseline, got, n)
}
