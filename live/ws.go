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
	// {"id":…,"content":…} whose content is HTML to swap in; the fragments
	// pending at a write (up to about 32 KiB) go in one message, and id is
	// the position of the last log frame among them.
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
	// {"id":…} in ModeHTML and nothing in ModeJSON. In ModeJSON a resynced
	// client gets it before the snapshot's frames, so it knows they replace
	// what it had; in ModeHTML the page swaps the snapshot in first.
	Hello func(id string, resynced bool) []byte
	// EndCode and EndReason are the close frame sent when Request.Context
	// ends (a session signed out, say); default 1000 (normal closure).
	EndCode   int
	EndReason string
}

// Close codes the writer ends a connection with; clients reconnect after
// both and resume.
const (
	CloseServiceRestart = 1012 // the server is shutting down
	CloseTryAgainLater  = 1013 // the client fell too far behind
)

// Conn is the writing side of one WebSocket connection. It has no
// goroutine of its own: the hub's writer pool writes to it.
type Conn struct {
	t    *WS
	ws   *websocket.Conn
	l    *link
	mode Mode
	end  []byte // the close frame's payload for Request.Context's end

	mu     sync.Mutex
	direct [][]byte // guarded by mu; messages for this client only
	over   bool     // guarded by mu; direct overflowed
	pong   []byte   // guarded by mu; the payload of a ping to answer
	pinged bool     // guarded by mu; pong is set
}

// Open brings the client up to date (replay or resync, as for SSE), sends
// the hello message, and hands the connection to the writer pool: from
// then on only the pool writes to the socket. The caller owns the reading
// side: it reads on a goroutine of its own (the handler may return), and
// must call Close when its reading loop ends; the socket is closed then,
// or earlier when the writer ends the connection (the client fell behind,
// a write failed, Request.Context ended, the hub closed), which makes the
// reading loop fail.
func (t *WS) Open(ctx context.Context, ws *websocket.Conn, req WSRequest) (*Conn, error) {
	c := &Conn{t: t, ws: ws, mode: req.Mode}
	c.l = t.hub.newLink("ws", c, req.User, t.cfg.WriteTimeout, &t.conns, req.OnEnd)
	c.l.conn, c.l.readBy = ws.NetConn(), true
	code := req.EndCode
	if code == 0 {
		code = websocket.CloseNormalClosure
	}
	c.end = websocket.FormatCloseMessage(code, req.EndReason)
	// Only the writer writes: the reading side's automatic answers to a
	// ping and to a close would otherwise write from the reader's goroutine,
	// in the middle of a batch written straight to the socket.
	ws.SetPingHandler(func(data string) error {
		c.mu.Lock()
		c.pong, c.pinged = append(c.pong[:0], data...), true
		c.mu.Unlock()
		c.l.schedule()
		return nil
	})
	ws.SetCloseHandler(func(int, string) error { return nil }) // the writer answers when the caller calls Close
	epoch := t.hub.Epoch()
	var at int64
	var resynced bool
	var err error
	var snapshot []Frame // a program's, written after the hello
	c.l.sub, at, resynced, err = attach(ctx, t.hub, t.src, t.cfg.ReplayPage, req.Request, func(frames []Frame, replay bool) error {
		if !replay && req.Mode == ModeJSON {
			// A program learns from the hello that it was resynced
			// before it gets the state that replaces its own.
			snapshot = append(snapshot, frames...)
			return nil
		}
		return c.writeFrames(frames)
	})
	if errors.Is(err, ErrClosed) {
		c.l.writeDeadlined(c.goodbye(nil, endShutdown)) //nolint:errcheck // closing next
	}
	if err != nil {
		c.l.finish(endFailed, err)
		return nil, err
	}
	id := FormatID(epoch, at)
	var hello []byte
	if req.Hello != nil {
		hello = req.Hello(id, resynced)
	} else if req.Mode == ModeHTML {
		hello, _ = json.Marshal(map[string]string{"id": id})
	}
	if hello != nil {
		if err := c.l.writeDeadlined(appendTextFrame(nil, hello)); err != nil {
			c.l.finish(endFailed, err)
			return nil, err
		}
	}
	if err := c.writeFrames(snapshot); err != nil {
		c.l.finish(endFailed, err)
		return nil, err
	}
	c.l.start(nil, req.Context)
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
		c.l.schedule()
		return false
	}
	c.direct = append(c.direct, msg)
	c.mu.Unlock()
	c.l.schedule()
	return true
}

// Close ends the connection with a normal closure, closes the socket and
// waits until the writer is done with it. It is safe to call more than
// once.
func (c *Conn) Close() {
	c.l.stop(endClosed)
	<-c.l.done
}

// Done is closed when the connection has ended (the client fell behind, a
// write failed, Request.Context ended, the hub closed, or Close); the
// caller's reading loop then fails.
func (c *Conn) Done() <-chan struct{} { return c.l.done }

// writeFrames writes replayed or snapshot frames, before the connection is
// handed to the pool (attach runs on the caller's goroutine).
func (c *Conn) writeFrames(frames []Frame) error {
	msgs := make([]*message, len(frames))
	for i := range frames {
		class := State
		if frames[i].Position > 0 {
			class = Log
		}
		msgs[i] = &message{Frame: frames[i], class: class}
	}
	b := c.appendFrames(nil, msgs)
	if len(b) == 0 {
		return nil
	}
	return c.l.writeDeadlined(b)
}

// batch implements transport: the pong the client asked for, then the
// frames (ModeHTML: all in one message; ModeJSON: one message each), then
// the client's own messages, every one a frame of its own, all in one
// write.
func (c *Conn) batch(dst []byte, msgs []*message) ([]byte, error) {
	c.mu.Lock()
	direct, over := c.direct, c.over
	c.direct = nil
	if c.pinged {
		dst = appendControl(dst, websocket.PongMessage, c.pong)
		c.pinged = false
	}
	c.mu.Unlock()
	dst = c.appendFrames(dst, msgs)
	for _, msg := range direct {
		dst = appendTextFrame(dst, msg)
	}
	if over {
		return dst, errBehind
	}
	return dst, nil
}

// heartbeat implements transport: a ping.
func (c *Conn) heartbeat(dst []byte) []byte {
	return appendControl(dst, websocket.PingMessage, nil)
}

// goodbye implements transport: a close frame whose code says whether to
// come back.
func (c *Conn) goodbye(dst []byte, why ending) []byte {
	switch why {
	case endShutdown:
		return appendControl(dst, websocket.CloseMessage, websocket.FormatCloseMessage(CloseServiceRestart, "server restarting; reconnect"))
	case endBehind:
		return appendControl(dst, websocket.CloseMessage, websocket.FormatCloseMessage(CloseTryAgainLater, "too far behind; reconnect to resume"))
	case endCaller:
		return appendControl(dst, websocket.CloseMessage, c.end)
	case endClosed:
		return appendControl(dst, websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	}
	return dst
}

// appendFrames appends msgs as the client's mode reads them: in ModeJSON
// one text frame per frame that has JSON, in ModeHTML one message
// {"id":…,"content":…} for all, id the position of the last log frame.
func (c *Conn) appendFrames(dst []byte, msgs []*message) []byte {
	if len(msgs) == 0 {
		return dst
	}
	if c.mode == ModeJSON {
		for _, msg := range msgs {
			if msg.JSON != nil {
				dst = appendTextFrame(dst, msg.JSON)
			}
		}
		return dst
	}
	var id string // the newest log frame's: formatted once a batch
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].class == Log {
			id = FormatID(c.t.hub.Epoch(), msgs[i].Position)
			break
		}
	}
	n := len(`{"content":""}`)
	if id != "" {
		n += len(`"id":"",`) + len(id)
	}
	for _, msg := range msgs {
		n += len(msg.jsonHTML())
	}
	dst = appendFrameHead(dst, websocket.TextMessage, n)
	dst = append(dst, '{')
	if id != "" {
		dst = append(dst, `"id":"`...)
		dst = append(dst, id...)
		dst = append(dst, `",`...)
	}
	dst = append(dst, `"content":"`...)
	for _, msg := range msgs {
		dst = append(dst, msg.jsonHTML()...)
	}
	return append(dst, `"}`...)
}

// Wait blocks until every WebSocket writer has stopped or ctx is done.
func (t *WS) Wait(ctx context.Context) error { return t.conns.wait(ctx) }

// appendTextFrame appends payload as one unmasked, final WebSocket text
// frame (RFC 6455 section 5.2), as a server sends it.
func appendTextFrame(dst, payload []byte) []byte {
	return append(appendFrameHead(dst, websocket.TextMessage, len(payload)), payload...)
}

// appendControl appends a control frame (ping, pong, close); payload is at
// most 125 bytes.
func appendControl(dst []byte, op int, payload []byte) []byte {
	return append(appendFrameHead(dst, op, len(payload)), payload...)
}

// appendFrameHead appends the head of an unmasked, final frame of opcode op
// whose payload is n bytes long.
func appendFrameHead(dst []byte, op, n int) []byte {
	dst = append(dst, 0x80|byte(op)) // FIN, opcode
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return dst
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
