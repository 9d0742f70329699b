package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"
)

// stampPrefix starts the text of every event the tool publishes:
// "beacon-load t=<unix nanoseconds at send> s=<sequence> xxx…". A client finds
// it in the data line it receives, so latency needs no shared state between
// publisher and readers, and every event is counted exactly once.
const stampPrefix = "beacon-load t="

// eventText returns the text of event seq, stamped with now, padded to size bytes.
func eventText(seq int64, now time.Time, size int) []byte {
	b := make([]byte, 0, size)
	b = fmt.Appendf(b, "%s%d s=%d ", stampPrefix, now.UnixNano(), seq)
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

// parseStamp finds a stamp in b and returns its send time and sequence.
func parseStamp(b []byte) (sent, seq int64, ok bool) {
	i := bytes.Index(b, []byte(stampPrefix))
	if i < 0 {
		return 0, 0, false
	}
	b = b[i+len(stampPrefix):]
	sent, b = parseDigits(b)
	if !bytes.HasPrefix(b, []byte(" s=")) {
		return 0, 0, false
	}
	seq, b = parseDigits(b[3:])
	return sent, seq, sent > 0 && seq > 0
}

func parseDigits(b []byte) (int64, []byte) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i < 19; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, b[i:]
}

// sources counts the connections dialed by this process, to pick the source
// address of the next one.
var sources atomic.Uint64

// dialLoopback dials a loopback address from a source address of its own:
// each connection comes from the next of 127.1.0.0–127.1.255.255, so a
// suite that opens and closes hundreds of thousands of connections never
// reuses the 4-tuple of one still in TIME_WAIT (which the kernel may answer
// by dropping the SYN: a 31-second stall in SYN retransmissions that a
// connect-rate figure would blame on the server). Linux routes all of
// 127.0.0.0/8 to the loopback interface.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	n := sources.Add(1)
	d := net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: -1,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 1, byte(n>>8), byte(n))},
	}
	return d.DialContext(ctx, network, addr)
}

// fleet is a set of live connections to one server, opened by one scenario.
// It counts what they receive.
type fleet struct {
	srv    *server
	kind   string // "raw" or "r3labs" (SSE), "ws" (WebSocket room members) or "stream" (widget stream viewers)
	expect int    // events each connection should receive; sizes its latency buffer

	// WebSocket room members: connection i joins room roomPrefix<i/roomSize>;
	// the first senders of them also send (see sender).
	roomSize int
	senders  int
	wsDialer *websocket.Dialer
	// first and stride number this fleet's members among all the load's
	// when several worker processes share it (cluster): member i of the
	// fleet is member first+i×stride of the load. Zero: 0, 1, 2, …
	first, stride int

	request []byte       // the raw client's HTTP request
	hc      *http.Client // the r3labs client's transport

	received atomic.Int64 // stamped events received by all connections (stream viewers: update frames)
	updated  atomic.Int64 // stream viewers shown a newer board than their first
	failed   atomic.Int64 // connections that never completed their handshake
	errMu    sync.Mutex
	errs     []string // guarded by errMu; the first few failures, for the report

	clients []*sseClient // the connections that completed their handshake
	opened  time.Duration
}

func newFleet(srv *server, kind string, expect int) *fleet {
	f := &fleet{srv: srv, kind: kind, expect: expect}
	f.request = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: beacon-load\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n", livePath, srv.Addr)
	if kind == "r3labs" {
		f.hc = &http.Client{Transport: &http.Transport{
			DialContext:         dialLoopback,
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true,
		}}
	}
	return f
}

// newRoomFleet returns a fleet of WebSocket room members, roomSize to a room,
// the first senders of which also send.
func newRoomFleet(srv *server, expect, roomSize, senders int) *fleet {
	f := newFleet(srv, "ws", expect)
	f.roomSize, f.senders = max(roomSize, 1), senders
	f.wsDialer = &websocket.Dialer{
		NetDialContext:   dialLoopback,
		HandshakeTimeout: 20 * time.Second,
		Subprotocols:     []string{wsSubprotocol},
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
	}
	return f
}

func (f *fleet) noteErr(err error) {
	f.failed.Add(1)
	f.errMu.Lock()
	if len(f.errs) < 5 {
		f.errs = append(f.errs, err.Error())
	}
	f.errMu.Unlock()
}

// errors returns the first few failures.
func (f *fleet) errors() []string {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return slices.Clone(f.errs)
}

// sseClient is one live connection.
type sseClient struct {
	f     *fleet
	start time.Time
	ready chan struct{} // closed at the first block that has an id, or when the connection fails before it
	done  chan struct{} // closed when the reading goroutine has ended
	close func()        // ends the connection; set before the reading goroutine starts

	closing atomic.Bool // set before the tool ends the connection itself

	// Written by the reading goroutine; read after ready (handshake, readyErr)
	// or done (err) is closed.
	handshake time.Duration
	readyErr  error
	err       error
	readyOnce sync.Once // the r3labs client ends the handshake from two goroutines

	// WebSocket members only: ws is set before ready is closed; echo, for a
	// sender, gets the sequence of every message of its own that comes back.
	ws     *websocket.Conn
	sender int // which sender this member is; -1 when it only listens
	echo   chan int64

	mu       sync.Mutex
	lat      []time.Duration // guarded by mu; publish → receipt of every stamped event
	refused  int             // guarded by mu; error messages from the server (a message not accepted)
	why      string          // guarded by mu; the first of them
	got      int             // guarded by mu; stamped events received
	lastSeq  int64           // guarded by mu
	disorder int             // guarded by mu; events that came after a later one
	lastAt   time.Time       // guarded by mu; receipt of the last stamped event
	retries  int             // guarded by mu; retry hints: the server asked us to come back

	// Stream viewers only, guarded by mu; got counts their update frames.
	stale, older int   // update frames that showed nothing newer; of which an older board
	spanned      int64 // bytes of the document after the first frame, once it ended …
	spanFrames   int   // … and how many update frames they hold
}

// dial starts connection i and returns at once; c.ready tells when its
// handshake is over.
func (f *fleet) dial(ctx context.Context, i int) *sseClient {
	c := &sseClient{f: f, start: time.Now(), ready: make(chan struct{}), done: make(chan struct{}), sender: -1}
	if f.expect > 0 {
		c.lat = make([]time.Duration, 0, f.expect)
	}
	switch f.kind {
	case "r3labs":
		c.dialR3labs(ctx)
		return c
	case "ws":
		c.dialWS(ctx, i)
		return c
	}
	conn, err := dialLoopback(ctx, "tcp", f.srv.Addr)
	if err != nil {
		c.close = func() {}
		c.setReady(err)
		c.err = err
		close(c.done)
		return c
	}
	c.close = func() { conn.Close() }
	if f.kind == "stream" {
		go c.readStream(conn)
	} else {
		go c.readRaw(conn)
	}
	return c
}

// setReady ends the handshake, with err when it failed.
func (c *sseClient) setReady(err error) {
	c.readyOnce.Do(func() {
		c.handshake, c.readyErr = time.Since(c.start), err
		close(c.ready)
	})
}

// end records why the connection ended.
func (c *sseClient) end(err error) {
	if err == nil {
		err = io.EOF
	}
	c.setReady(err)
	c.err = err
}

// get sends the fleet's request on conn and returns the response if it is
// 200 with contentType; otherwise it ends the client with the reason and
// returns nil. path only names the request in that reason.
func (c *sseClient) get(conn net.Conn, path, contentType string) *http.Response {
	if _, err := conn.Write(c.f.request); err != nil {
		c.end(err)
		return nil
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), nil)
	if err != nil {
		c.end(err)
		return nil
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), contentType) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		c.end(fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body)))
		return nil
	}
	return resp
}

// readRaw is the scale client: one goroutine, one 1 KiB buffer for the
// socket and one 4 KiB buffer for lines, no allocation per event. It reads
// the response with net/http's parser (chunked encoding included), then
// the stream line by line.
func (c *sseClient) readRaw(conn net.Conn) {
	defer close(c.done)
	defer conn.Close()
	resp := c.get(conn, livePath, "text/event-stream")
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	lines := bufio.NewReaderSize(resp.Body, 4096)
	var hasID, hasRetry, longLine bool
	for {
		line, err := lines.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: only its start can hold a stamp.
			if !longLine {
				c.dataLine(line)
			}
			longLine = true
			continue
		}
		if err != nil {
			c.end(err)
			return
		}
		if longLine {
			longLine = false
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0: // end of a block
			if hasID {
				c.setReady(nil)
			}
			if hasRetry {
				c.mu.Lock()
				c.retries++
				c.mu.Unlock()
			}
			hasID, hasRetry = false, false
		case bytes.HasPrefix(line, []byte("data:")):
			c.dataLine(line)
		case bytes.HasPrefix(line, []byte("id:")):
			hasID = true
		case bytes.HasPrefix(line, []byte("retry:")):
			hasRetry = true
		}
	}
}

// dataLine records a stamped event found in b and returns its sequence, or
// 0 when b has no stamp.
func (c *sseClient) dataLine(b []byte) int64 {
	sent, seq, ok := parseStamp(b)
	if !ok {
		return 0
	}
	now := time.Now()
	c.mu.Lock()
	c.lat = append(c.lat, time.Duration(now.UnixNano()-sent))
	c.got++
	if seq <= c.lastSeq {
		c.disorder++
	}
	c.lastSeq, c.lastAt = seq, now
	c.mu.Unlock()
	c.f.received.Add(1)
	return seq
}

// dialR3labs is the fidelity client: github.com/r3labs/sse/v2 with no
// reconnection, so a dropped connection shows as one.
func (c *sseClient) dialR3labs(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	c.close = cancel
	cl := sse.NewClient(c.f.srv.URL+livePath, func(cl *sse.Client) {
		cl.Connection = c.f.hc
		cl.ReconnectStrategy = &backoff.StopBackOff{}
	})
	// The client calls OnConnect after it read the first block: the position
	// block, which has an id and no data.
	cl.OnConnect(func(*sse.Client) { c.setReady(nil) })
	go func() {
		defer close(c.done)
		err := cl.SubscribeRawWithContext(ctx, func(ev *sse.Event) {
			if len(ev.Retry) > 0 {
				c.mu.Lock()
				c.retries++
				c.mu.Unlock()
			}
			c.dataLine(ev.Data)
		})
		c.end(err)
	}()
}

// open opens n connections to f's server, at most conc handshakes at a time,
// and returns once every one has completed its handshake or failed.
func (f *fleet) open(ctx context.Context, n, conc int) {
	start := time.Now()
	clients := make([]*sseClient, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c := f.dial(ctx, f.member(i))
				timer := time.NewTimer(20 * time.Second)
				select {
				case <-c.ready:
					timer.Stop()
					if c.readyErr != nil {
						f.noteErr(c.readyErr)
						continue
					}
					clients[i] = c
				case <-timer.C:
					c.closing.Store(true)
					c.close()
					<-c.done
					f.noteErr(errNoHandshake)
				case <-ctx.Done():
					timer.Stop()
					c.closing.Store(true)
					c.close()
					<-c.done
				}
			}
		})
	}
	wg.Wait()
	f.opened = time.Since(start)
	for _, c := range clients {
		if c != nil {
			f.clients = append(f.clients, c)
		}
	}
}

var errNoHandshake = errors.New("no id block (SSE), welcome (WebSocket) or first frame (stream) within 20s of dialing")

// cycle opens one connection, waits for its handshake and closes it.
func (f *fleet) cycle(ctx context.Context) error {
	c := f.dial(ctx, f.senders)
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	var err error
	select {
	case <-c.ready:
		err = c.readyErr
	case <-timer.C:
		err = errNoHandshake
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.closing.Store(true)
	c.close()
	<-c.done
	return err
}

// dropped returns the connections that ended without being closed by the
// tool, and a sample of why.
func (f *fleet) dropped() (n int, why []string) {
	for _, c := range f.clients {
		select {
		case <-c.done:
			if !c.closing.Load() {
				n++
				if len(why) < 3 {
					why = append(why, c.err.Error())
				}
			}
		default:
		}
	}
	return n, why
}

// closeAll closes every connection and waits for their goroutines.
func (f *fleet) closeAll() {
	for _, c := range f.clients {
		c.closing.Store(true)
		c.close()
	}
	for _, c := range f.clients {
		<-c.done
	}
	if f.hc != nil {
		f.hc.CloseIdleConnections()
	}
}

// handshakes returns the handshake time of every open connection.
func (f *fleet) handshakes() []time.Duration {
	out := make([]time.Duration, 0, len(f.clients))
	for _, c := range f.clients {
		out = append(out, c.handshake)
	}
	return out
}

// tally sums what the connections received.
type tally struct {
	got, disorder, retries int
	refused                int    // error messages from the server (WebSocket)
	why                    string // the first of them
	lat                    []time.Duration
	last                   time.Time // the last receipt at any connection
	short                  int       // connections that received fewer than want events
}

func (f *fleet) tally(want int) tally {
	var t tally
	for _, c := range f.clients {
		c.mu.Lock()
		t.got += c.got
		t.disorder += c.disorder
		t.retries += c.retries
		t.refused += c.refused
		if t.why == "" {
			t.why = c.why
		}
		t.lat = append(t.lat, c.lat...)
		if c.lastAt.After(t.last) {
			t.last = c.lastAt
		}
		if c.got < want {
			t.short++
		}
		c.mu.Unlock()
	}
	return t
}

// waitReceived waits until the fleet has received want stamped events in
// all, or timeout.
func (f *fleet) waitReceived(ctx context.Context, want int64, timeout time.Duration) bool {
	return f.waitCount(ctx, &f.received, want, timeout)
}

// wsSubprotocol makes Beacon's room socket speak JSON, one object per message.
const wsSubprotocol = "beacon.v1.json"

// Markers of Beacon's JSON room messages.
var (
	wsWelcome = []byte(`"type":"welcome"`)
	wsError   = []byte(`"type":"error"`)
)

// member returns the index among all the load's members of the fleet's
// connection i.
func (f *fleet) member(i int) int { return f.first + i*max(f.stride, 1) }

// roomOf returns the room of member i: load-0, load-1, …
func (f *fleet) roomOf(i int) string { return fmt.Sprintf("load-%d", i/f.roomSize) }

// dialWS starts room member i: a program in a room over a WebSocket (JSON
// subprotocol, ?name= for its display name). Its handshake ends at the
// welcome message, which Beacon sends once the member is subscribed. Every
// listener of a room has the same name, so presence changes once per sender,
// not once per connection.
func (c *sseClient) dialWS(ctx context.Context, i int) {
	f := c.f
	name := "load"
	if i < f.senders {
		c.sender, c.echo = i, make(chan int64, 64)
		name = fmt.Sprintf("sender-%d", i+1)
	}
	u := fmt.Sprintf("ws://%s/rooms/%s/ws?name=%s", f.srv.Addr, f.roomOf(i), name)
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	var conn *websocket.Conn
	closed := false
	c.close = func() {
		cancel()
		mu.Lock()
		closed = true
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
	}
	go func() {
		defer close(c.done)
		defer cancel()
		ws, resp, err := f.wsDialer.DialContext(ctx, u, nil)
		if err != nil {
			if resp != nil {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				resp.Body.Close()
				err = fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
			}
			c.end(err)
			return
		}
		mu.Lock()
		conn = ws
		stop := closed
		mu.Unlock()
		defer ws.Close()
		if stop {
			c.end(net.ErrClosed)
			return
		}
		if ws.Subprotocol() != wsSubprotocol {
			c.end(fmt.Errorf("GET %s: the server chose subprotocol %q, not %s", u, ws.Subprotocol(), wsSubprotocol))
			return
		}
		c.ws = ws
		c.readWS(ws)
	}()
}

// readWS reads a member's messages into one reused buffer: the welcome ends
// the handshake, a stamped message is a delivery (and, for a sender, maybe
// its own message back), an error message is a message refused.
func (c *sseClient) readWS(ws *websocket.Conn) {
	var buf bytes.Buffer
	welcomed := false
	for {
		_, r, err := ws.NextReader()
		if err != nil {
			c.end(err)
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			c.end(err)
			return
		}
		b := buf.Bytes()
		switch {
		case bytes.Contains(b, wsError):
			if !welcomed {
				c.end(fmt.Errorf("refused: %s", b))
				return
			}
			c.mu.Lock()
			if c.refused++; c.why == "" {
				c.why = string(b)
			}
			c.mu.Unlock()
		case !welcomed:
			if bytes.Contains(b, wsWelcome) {
				welcomed = true
				c.setReady(nil)
			}
		default:
			if seq := c.dataLine(b); seq > 0 && c.echo != nil && int((seq-1)%int64(c.f.senders)) == c.sender {
				select {
				case c.echo <- seq:
				default:
				}
			}
		}
	}
}

// send sends one stamped chat message of size bytes from a sender.
func (c *sseClient) send(seq int64, size int) error {
	msg := make([]byte, 0, size+40)
	msg = append(msg, `{"type":"chat","content":"`...)
	msg = append(msg, eventText(seq, time.Now(), size)...)
	msg = append(msg, `"}`...)
	c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // the write fails then
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}
