package live

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Source is what a stream needs from the durable log: the frames a client
// missed, rendered as they were published, and the current state of topics
// for a client that cannot be replayed.
type Source interface {
	// Horizon returns the oldest position that can still be resumed from
	// (the oldest event kept, minus one) and the newest position.
	Horizon(ctx context.Context) (horizon, head int64, err error)
	// Since returns up to limit frames of the log topics among topics with a
	// position after after, in position order. If frames after after were
	// already pruned (after is older than the horizon), it returns ErrGap:
	// it must read the horizon and the frames in one snapshot, because
	// retention may prune between any two of its calls.
	Since(ctx context.Context, topics []string, after int64, limit int) ([]Frame, error)
	// Snapshot renders the current state of topics and returns the position it
	// was read at.
	Snapshot(ctx context.Context, topics []string) ([]Frame, int64, error)
}

// SSEConfig configures an SSE transport. Zero fields take the defaults below.
type SSEConfig struct {
	// WriteTimeout bounds every write to one client. Default 10s.
	WriteTimeout time.Duration
	// RetryMin and RetryMax bound the jittered reconnection delay sent to a
	// client that is evicted or told to come back at shutdown. Default 500ms
	// and 3s: spread out, so a restart is not met by every client at once.
	RetryMin, RetryMax time.Duration
	// ReplayPage is how many missed events are read from the log at a time.
	// Default 500.
	ReplayPage int
	// ResyncEvent names the event sent after a client got the current state
	// instead of a replay, so the page can say so. Empty sends only the id.
	ResyncEvent string
	// RetryEvent names the event that carries the retry hint before the
	// server ends a stream; empty sends a bare "retry:" block, which the
	// SSE standard honours but htmx 4 ignores.
	RetryEvent string
}

func (c *SSEConfig) fill() {
	fillWriteAndRetry(&c.WriteTimeout, &c.RetryMin, &c.RetryMax)
	if c.ReplayPage <= 0 {
		c.ReplayPage = 500
	}
}

// fillWriteAndRetry fills the defaults every transport that writes to a
// client shares: a 10 s write deadline, and a jittered retry (or reload)
// delay of 500 ms to 3 s.
func fillWriteAndRetry(writeTimeout, retryMin, retryMax *time.Duration) {
	if *writeTimeout <= 0 {
		*writeTimeout = 10 * time.Second
	}
	if *retryMin <= 0 {
		*retryMin = 500 * time.Millisecond
	}
	if *retryMax < *retryMin {
		*retryMax = max(3*time.Second, *retryMin)
	}
}

// SSE serves a hub's topics as Server-Sent Events streams.
type SSE struct {
	hub   *Hub
	src   Source
	cfg   SSEConfig
	conns tracker
}

// NewSSE returns an SSE transport of hub that resumes clients from src.
func NewSSE(hub *Hub, src Source, cfg SSEConfig) *SSE {
	cfg.fill()
	return &SSE{hub: hub, src: src, cfg: cfg}
}

// Request is what one connection asks for. The caller has authorized
// every topic.
type Request struct {
	// Topics are the topics the connection carries.
	Topics []string
	// Resume is the client's Last-Event-ID, or the position its page was
	// rendered at (same format); empty to start from now.
	Resume string
	// User names the person watching, for the active-users count; may be empty.
	User string
	// TopicField makes every event of a topic say which topic it is, in a
	// "topic:" line that EventSource and htmx ignore: for a connection that
	// carries the topics of several pages (a browser's tabs sharing one
	// connection), whose reader hands each page only its own topics' events.
	// A Program stream names its topics already and ignores it.
	TopicField bool
	// Context, when not nil, ends the connection when it is done: that is
	// how the caller ends a connection it no longer authorizes (a session
	// signed out, a widget token expired). It must not be the request's
	// context or derive from it: net/http cancels that when the handler
	// returns, which for a stream Beacon holds is right after it started.
	// Derive it from context.WithoutCancel(r.Context()) instead.
	Context context.Context
	// OnEnd, when not nil, is called once when the connection has ended,
	// however it ended, with the error that ended it (nil when the client
	// left, or the server or Context ended it). For a stream Beacon holds,
	// that is after the handler has returned: release here what the
	// connection holds.
	OnEnd func(error)
	// Program asks an SSE stream for the program format (program.go):
	// every event named by its topic, its data one JSON object. Pages
	// leave it unset.
	Program bool
}

// ErrClosed is returned by Serve when the hub is closed.
var ErrClosed = errors.New("live: hub closed")

// Serve streams req's topics to w until the client goes away, falls too far
// behind, req.Context ends, or the hub closes. Every exit that the server
// chooses sends a jittered retry hint first, so the client comes back and
// resumes.
//
// Over HTTP/1.1, once the client is up to date (its position written),
// the connection is taken from net/http (hijacked) and Serve returns nil:
// the writer pool serves the stream from then on, with no goroutine of its
// own, and req.OnEnd hears how it ends. The request and its context must
// not be used after that. Over HTTP/2, or TLS, Serve serves the stream on
// the calling goroutine until it ends, and returns the error that ended it.
func (s *SSE) Serve(w http.ResponseWriter, r *http.Request, req Request) error {
	l := s.hub.newLink("sse", sseTransport{s: s, program: req.Program, topicField: req.TopicField && !req.Program}, req.User, s.cfg.WriteTimeout, &s.conns, req.OnEnd)
	c := &conn{w: w, rc: http.NewResponseController(w), timeout: s.cfg.WriteTimeout}
	// The server's WriteTimeout would cut the stream at that age; every write
	// below sets its own deadline instead.
	if err := c.rc.SetWriteDeadline(time.Time{}); err != nil {
		l.finish(endFailed, err)
		return err
	}
	hold := holdable(r)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx and friends: do not buffer the stream
	if hold {
		h.Set("Connection", "close") // Beacon closes it when the stream ends: not for another request
	}
	w.WriteHeader(http.StatusOK)

	var err error
	if hold {
		// The handler's goroutine ends with the connect: whatever its stack
		// grows to is not kept.
		l.sub, err = s.start(r.Context(), c, req)
	} else {
		onShortLived(func() { l.sub, err = s.start(r.Context(), c, req) })
	}
	if err != nil {
		// Shutting down (ErrClosed): come back to the next process. The log
		// could not be read: come back later, rather than find an empty
		// stream that looks like a quiet one.
		err = errors.Join(err, c.write(s.comeBack(c.buf[:0])))
		if errors.Is(err, ErrClosed) {
			l.finish(endShutdown, err)
		} else {
			l.finish(endFailed, err)
		}
		return err
	}
	if hold {
		if nc, _, herr := c.rc.Hijack(); herr == nil {
			l.conn, l.chunked = nc, true
			l.start(nil, req.Context)
			return nil
		}
	}
	l.w, l.rc = w, c.rc
	l.start(r.Context(), req.Context)
	return l.err
}

// holdable reports whether r's connection can be taken from net/http once
// its stream has started: HTTP/1.1 in the clear, whose response net/http
// writes with the chunked encoding that Beacon then goes on with. (HTTP/2
// multiplexes streams on one connection; a TLS connection cannot be
// written without waiting; an HTTP/1.0 response is not chunked; a HEAD
// response has no body.)
func holdable(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.TLS == nil && r.Method != http.MethodHead
}

// sseTransport is how an SSE client reads: events, a comment as heartbeat,
// a retry hint before the server ends a stream it wants the client to
// resume.
type sseTransport struct {
	s          *SSE
	program    bool // Request.Program: the program format (program.go)
	topicField bool // Request.TopicField: every event names its topic
}

func (t sseTransport) batch(dst []byte, msgs []*message) ([]byte, error) {
	if t.program {
		epoch := t.s.hub.Epoch()
		for _, m := range msgs {
			dst = append(dst, m.program(epoch)...)
		}
		return dst, nil
	}
	for _, m := range msgs {
		dst = append(dst, m.sseFor(t.topicField)...)
	}
	return dst, nil
}

func (sseTransport) heartbeat(dst []byte) []byte { return AppendComment(dst, "") }

func (t sseTransport) goodbye(dst []byte, why ending) []byte {
	if why == endShutdown || why == endBehind {
		return t.s.comeBack(dst)
	}
	return dst
}

// start subscribes the connection and brings the client up to date (see
// attach), then writes the position the client is at now, so that even a
// quiet stream gives it an id to come back with.
func (s *SSE) start(ctx context.Context, c *conn, req Request) (*Subscriber, error) {
	epoch := s.hub.Epoch()
	sub, at, resynced, err := attach(ctx, s.hub, s.src, s.cfg.ReplayPage, req, func(frames []Frame, replay bool) error {
		buf := c.buf[:0]
		for _, f := range frames {
			id, topic := "", ""
			if replay {
				id = FormatID(epoch, f.Position)
			}
			if req.TopicField {
				topic = f.Topic
			}
			var err error
			if req.Program {
				buf, err = appendProgramEvent(buf, id, cmp.Or(f.Event, f.Topic), f)
			} else {
				buf, err = appendEvent(buf, id, f.Event, topic, f.Data)
			}
			if err != nil {
				return err
			}
		}
		return c.write(buf)
	})
	if err != nil {
		return sub, err
	}
	event := ""
	if resynced {
		event = s.cfg.ResyncEvent
	}
	if req.Program {
		return sub, c.write(appendProgramPosition(c.buf[:0], FormatID(epoch, at), event))
	}
	buf, _ := AppendEvent(c.buf[:0], FormatID(epoch, at), event, nil)
	return sub, c.write(buf)
}

// onShortLived runs fn on a goroutine that ends with it, and waits.
// Connecting reads the database and may render a snapshot: calls deep enough
// (cgo, templ) to double a goroutine's stack to 32 KiB, which the
// connection's goroutine would then keep for the stream's whole life (a GC
// shrinks a stack only while a quarter of it is in use). The caller only
// waits, so the connection still has one writer at a time, and a panic in
// fn is raised again here, where the server's recovery sees it. Measured:
// idle SSE stacks 19.7 → 11.7 KiB per connection (BENCHMARKS.md).
func onShortLived(fn func()) {
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		fn()
	}()
	if p := <-done; p != nil {
		panic(p)
	}
}

// comeBack appends the jittered retry hint a client gets before the server
// ends its stream. htmx 4's hx-sse applies "retry:" only from a block that
// also has an event or data, so with RetryEvent set the hint rides on it.
func (s *SSE) comeBack(dst []byte) []byte {
	if s.cfg.RetryEvent == "" {
		return AppendRetry(dst, s.retry())
	}
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, s.retry().Milliseconds(), 10)
	dst = append(dst, '\n')
	dst, _ = AppendEvent(dst, "", s.cfg.RetryEvent, nil)
	return dst
}

func (s *SSE) retry() time.Duration { return jittered(s.cfg.RetryMin, s.cfg.RetryMax) }

// Wait blocks until every stream has ended or ctx is done. After Hub.Close,
// streams end as soon as they have written their retry hint.
func (s *SSE) Wait(ctx context.Context) error { return s.conns.wait(ctx) }

// writeChunk is the most written under one deadline.
const writeChunk = 64 << 10

// conn writes a stream's start and its last words to one client, before
// and after the pump has it: every write has a deadline, and is flushed.
// (What the pump writes, it counts as delivered itself.)
type conn struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
}

// write sends buf in one write and one flush.
func (c *conn) write(buf []byte) error {
	c.buf = buf[:0] // keep the grown array for the next write, unless it is large
	if cap(buf) > 64<<10 {
		c.buf = nil
	}
	if len(buf) == 0 {
		return nil
	}
	return writeDeadlined(c.w, c.rc, c.timeout, buf)
}
