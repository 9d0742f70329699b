package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Mode is what a WebSocket client reads.
type Mode uint8

const (
	// ModeHTML is for pages (htmx's hx-ws): every message is a JSON object
	// {"id":…,"content":…} whose content is HTML to swap in; all pending
	// fragments go in one message, and id is the position of the last log
	// frame among them.
	ModeHTML Mode = iota
	// ModeJSON is for programs (subprotocol beacon.v1.json): every message is
	// one frame's JSON.
	ModeJSON
)

// WSConfig configures a WebSocket transport. Zero fields take the defaults.
type WSConfig struct {
	// WriteTimeout bounds every write to one client. Default 10s.
	WriteTimeout time.Duration
	// ReplayPage is how many missed events are read from the log at a time.
	// Default 500.
	ReplayPage int
	// Queue bounds the direct messages (answers to the client's own input)
	// waiting for one client. Default 64.
	Queue int
}

// WS serves a hub's topics over WebSocket connections that the caller has
// upgraded. The caller owns the reading side; WS owns the writing side.
type WS struct {
	hub   *Hub
	src   Source
	cfg   WSConfig
	conns tracker
}

// NewWS returns a WebSocket transport of hub that resumes clients from src.
func NewWS(hub *Hub, src Source, cfg WSConfig) *WS {
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ReplayPage <= 0 {
		cfg.ReplayPage = 500
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	return &WS{hub: hub, src: src, cfg: cfg}
}

// WSRequest is what one WebSocket connection asks for.
type WSRequest struct {
	Request
	Mode Mode
	// Hello returns the message sent once the client is up to date, given
	// the id of the position it is at ("<epoch>-<position>"). Nil sends
	// {"id":…} in ModeHTML and nothing in ModeJSON.
	Hello func(id string, resynced bool) []byte
}

// Close codes the writer ends a connection with; clients reconnect after
// both and resume.
const (
	CloseServiceRestart = 1012 // the server is shutting down
	CloseTryAgainLater  = 1013 // the client fell too far behind
)

// Conn is the writing side of one WebSocket connection.
type Conn struct {
	t    *WS
	ws   *websocket.Conn
	sub  *Subscriber
	mode Mode
	user string
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the writer has stopped

	frames []byte // the writer's buffer of encoded JSON-mode frames

	mu     sync.Mutex
	direct [][]byte // guarded by mu; messages for this client only
	over   bool     // guarded by mu; direct overflowed
	pong   *string  // guarded by mu; the payload of a ping to answer
}

// Open brings the client up to date (replay or resync, as for SSE), sends
// the hello message, and starts the connection's writer. The caller must
// call Close when its reading loop ends.
func (t *WS) Open(ctx context.Context, ws *websocket.Conn, req WSRequest) (*Conn, error) {
	c := &Conn{t: t, ws: ws, mode: req.Mode, user: req.User, stop: make(chan struct{}), done: make(chan struct{})}
	// Only the writer writes: the reading side's automatic answers to a
	// ping and to a close would otherwise write from the reader's goroutine,
	// in the middle of a batch written straight to the socket.
	ws.SetPingHandler(func(data string) error {
		c.mu.Lock()
		c.pong = &data
		c.mu.Unlock()
		if c.sub != nil {
			c.sub.signal()
		}
		return nil
	})
	ws.SetCloseHandler(func(int, string) error { return nil }) // the writer answers when the caller calls Close
	epoch := t.hub.Epoch()
	var sub *Subscriber
	var at int64
	var resynced bool
	var err error
	onShortLived(func() { // see SSE.Serve: the caller's goroutine reads for the connection's life
		sub, at, resynced, err = attach(ctx, t.hub, t.src, t.cfg.ReplayPage, req.Request, func(frames []Frame, replay bool) error {
			return c.writeFrames(frames)
		})
	})
	if errors.Is(err, ErrClosed) {
		c.closeWith(CloseServiceRestart, "server restarting; reconnect")
	}
	if err != nil {
		if sub != nil {
			t.hub.Unsubscribe(sub)
		}
		return nil, err
	}
	c.sub = sub
	id := FormatID(epoch, at)
	var hello []byte
	if req.Hello != nil {
		hello = req.Hello(id, resynced)
	} else if req.Mode == ModeHTML {
		hello, _ = json.Marshal(map[string]string{"id": id})
	}
	if hello != nil {
		if err := c.writeMessage(hello); err != nil {
			t.hub.Unsubscribe(sub)
			return nil, err
		}
	}
	t.conns.add()
	t.hub.cfg.Metrics.connections.WithLabelValues("ws").Inc()
	go c.run()
	return c, nil
}

// Send queues a message for this client alone (an answer to its input). It
// never blocks; it returns false when the client is not reading its
// messages, and the connection is then closed.
func (c *Conn) Send(msg []byte) bool {
	c.mu.Lock()
	if c.over || len(c.direct) >= c.t.cfg.Queue {
		c.over = true
		c.mu.Unlock()
		c.sub.signal()
		return false
	}
	c.direct = append(c.direct, msg)
	c.mu.Unlock()
	c.sub.signal()
	return true
}

// Close stops the writer, closes the socket and waits for the writer to end.
// It is safe to call more than once.
func (c *Conn) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// Done is closed when the writer has stopped (the client fell behind, a
// write failed, or the hub closed); the caller's reading loop then fails.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) run() {
	m := c.t.hub.cfg.Metrics
	var err error
	defer func() {
		c.t.hub.Unsubscribe(c.sub)
		if stalled(err) {
			abort(c.ws.NetConn())
			c.t.hub.drop("ws", c.user, err)
		} else {
			c.ws.Close()
		}
		m.connections.WithLabelValues("ws").Dec()
		c.t.conns.done()
		close(c.done)
	}()
	var batch []*message
	for {
		select {
		case <-c.stop:
			c.closeWith(websocket.CloseNormalClosure, "")
			return
		case <-c.t.hub.shutdown:
			c.closeWith(CloseServiceRestart, "server restarting; reconnect")
			return
		case <-c.sub.wake:
		}
		var ping, evicted bool
		batch, ping, evicted = c.sub.take(batch[:0])
		c.mu.Lock()
		direct, over, pong := c.direct, c.over, c.pong
		c.direct, c.pong = nil, nil
		c.mu.Unlock()
		if pong != nil {
			if err = c.ws.WriteControl(websocket.PongMessage, []byte(*pong), time.Now().Add(c.t.cfg.WriteTimeout)); err != nil {
				return
			}
		}
		if err = c.writeBatch(batch); err != nil {
			return
		}
		m.delivered(batch)
		clear(batch)
		for _, msg := range direct {
			if err = c.writeMessage(msg); err != nil {
				return
			}
		}
		if evicted || over {
			c.closeWith(CloseTryAgainLater, "too far behind; reconnect to resume")
			return
		}
		if ping {
			if err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.t.cfg.WriteTimeout)); err != nil {
				return
			}
		}
	}
}

// writeFrames writes replayed or snapshot frames.
func (c *Conn) writeFrames(frames []Frame) error {
	msgs := make([]*message, len(frames))
	for i := range frames {
		class := State
		if frames[i].Position > 0 {
			class = Log
		}
		msgs[i] = &message{Frame: frames[i], class: class}
	}
	return c.writeBatch(msgs)
}

// writeBatch writes frames: in ModeHTML as one message, in ModeJSON as one
// message each.
func (c *Conn) writeBatch(batch []*message) error {
	if len(batch) == 0 {
		return nil
	}
	if c.mode == ModeJSON {
		// Every frame is a message of its own, but all of them go out in one
		// write: gorilla would flush (one write(2)) per message.
		buf := c.frames[:0]
		for _, msg := range batch {
			if msg.JSON != nil {
				buf = appendTextFrame(buf, msg.JSON)
			}
		}
		c.frames = buf[:0]
		if cap(buf) > 64<<10 {
			c.frames = nil
		}
		if len(buf) == 0 {
			return nil
		}
		nc := c.ws.NetConn()
		if err := nc.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout)); err != nil {
			return err
		}
		_, err := nc.Write(buf)
		return err
	}
	var last int64
	for _, msg := range batch {
		if msg.class == Log {
			last = msg.Position
		}
	}
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout)); err != nil {
		return err
	}
	w, err := c.ws.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 256)
	buf = append(buf, '{')
	if last > 0 {
		buf = append(buf, `"id":"`...)
		buf = append(buf, FormatID(c.t.hub.Epoch(), last)...)
		buf = append(buf, `",`...)
	}
	buf = append(buf, `"content":"`...)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	for _, msg := range batch {
		if _, err := w.Write(msg.jsonHTML()); err != nil {
			return err
		}
	}
	if _, err := w.Write([]byte(`"}`)); err != nil {
		return err
	}
	return w.Close()
}

func (c *Conn) writeMessage(msg []byte) error {
	if err := c.ws.SetWriteDeadline(time.Now().Add(c.t.cfg.WriteTimeout)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

func (c *Conn) closeWith(code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)) //nolint:errcheck // best effort: the socket closes next
}

// Wait blocks until every WebSocket writer has stopped or ctx is done.
func (t *WS) Wait(ctx context.Context) error { return t.conns.wait(ctx) }

// appendTextFrame appends payload as one unmasked, final WebSocket text
// frame (RFC 6455 section 5.2), as a server sends it.
func appendTextFrame(dst, payload []byte) []byte {
	dst = append(dst, 0x81) // FIN, text
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// jsonString returns b as the inside of a JSON string (without the quotes).
func jsonString(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // markup stays readable and small; JSON needs no more
	enc.Encode(string(b))    //nolint:errcheck // a string always encodes
	q := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return q[1 : len(q)-1]
}
