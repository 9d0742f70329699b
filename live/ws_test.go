package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
		wc, err := fx.ws.Open(r.Context(), conn, WSRequest{
			Request: Request{Topics: strings.Split(q.Get("topics"), ","), Resume: q.Get("after"), User: q.Get("user")},
			Mode:    mode,
		})
		if err != nil {
			conn.Close()
			return
		}
		defer wc.Close()
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
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
