package live

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// Chunked writes one HTML response in flushed chunks, each under a write
// deadline of its own, for pages that show what is ready before the rest
// (the dashboard's first render) and for streams that never end on their
// own (GET /stream/…). It is an io.Writer that buffers until Flush; a
// failed write or flush is kept, and every later call returns it, so a
// renderer stops at the first error.
//
// Its headers keep every hop from holding the chunks back: no proxy
// buffering (X-Accel-Buffering), no caching or transformation (a
// compressing proxy or middleware waits for a whole block before it writes
// one), and Content-Encoding identity for middleware that compresses
// whatever is not encoded yet.
type Chunked struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	status  int
	started bool
	buf     []byte
	err     error
}

// NewChunked prepares w for a chunked HTML response with status, written at
// the first Flush. It clears the server's WriteTimeout, which would cut a
// long response at that age: every chunk gets a deadline of timeout instead.
func NewChunked(w http.ResponseWriter, status int, timeout time.Duration) (*Chunked, error) {
	c := &Chunked{w: w, rc: http.NewResponseController(w), timeout: timeout, status: status}
	if err := c.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-transform")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Content-Encoding", "identity")
	h.Del("Content-Length")
	return c, nil
}

// Write adds p to the next chunk.
func (c *Chunked) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

// Flush sends what was written since the last Flush. It implements
// http.Flusher, which is what templ.Flush calls; Err reports its failure.
func (c *Chunked) Flush() {
	if c.err != nil {
		return
	}
	if !c.started {
		c.started = true
		c.w.WriteHeader(c.status)
	}
	c.err = writeDeadlined(c.w, c.rc, c.timeout, c.buf)
	if cap(c.buf) > writeChunk {
		c.buf = nil // a large first page need not stay with a long stream
	} else {
		c.buf = c.buf[:0]
	}
}

// Err returns the first error of a write or flush, or nil.
func (c *Chunked) Err() error { return c.err }

// writeDeadlined writes buf and flushes it, setting a deadline of timeout
// before each 64 KiB chunk: a slow link that keeps reading can take a long
// response, one that stops reading is cut after one timeout. A writer that
// cannot have deadlines (httptest's recorder) is written without.
func writeDeadlined(w http.ResponseWriter, rc *http.ResponseController, timeout time.Duration, buf []byte) error {
	for len(buf) > 0 {
		n := min(len(buf), writeChunk)
		if err := rc.SetWriteDeadline(time.Now().Add(timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// StreamConfig configures the chunked HTML streams. Zero fields take the
// defaults below.
type StreamConfig struct {
	// WriteTimeout bounds every write to one client. Default 10s.
	WriteTimeout time.Duration
	// Lifetime is how long one stream lasts before it tells the page to
	// reload: a page without JavaScript cannot reconnect on its own, and a
	// response that never ends is a burden on every proxy. Default 5m.
	Lifetime time.Duration
	// RetryMin and RetryMax bound the jittered reload delay sent at
	// shutdown, as for SSE. Default 500ms and 3s.
	RetryMin, RetryMax time.Duration
}

func (c *StreamConfig) fill() {
	fillWriteAndRetry(&c.WriteTimeout, &c.RetryMin, &c.RetryMax)
	if c.Lifetime <= 0 {
		c.Lifetime = 5 * time.Minute
	}
}

// Streams serves a hub's topics as chunked HTML documents that need no
// JavaScript: every update is appended to the document as a new element
// (the page's CSS shows only the newest), an HTML comment is the heartbeat,
// and at the end a last element reloads the page. Over HTTP/1.1 a stream
// is taken from net/http once its first element is out and the writer pool
// serves it, like an SSE stream; it is counted like SSE connections so that
// shutdown waits for it.
type Streams struct {
	hub   *Hub
	cfg   StreamConfig
	conns tracker
}

// NewStreams returns the chunked HTML transport of hub.
func NewStreams(hub *Hub, cfg StreamConfig) *Streams {
	cfg.fill()
	return &Streams{hub: hub, cfg: cfg}
}

// StreamPage is one stream: the topics it follows (authorized by the
// caller) and how its parts are written. live knows nothing of the markup.
type StreamPage struct {
	// Topics are the topics whose frames make the page write an update.
	Topics []string
	// User names the viewer for the active-users count; may be empty.
	User string
	// Lifetime, when positive and shorter than the configured one, ends
	// this stream sooner (when its credential expires, say).
	Lifetime time.Duration
	// Context, when not nil, ends the stream when it is done, with no last
	// element; see Request.Context for what it must not be.
	Context context.Context
	// OnEnd, when not nil, is called once when the stream has ended, with
	// the error that ended it; see Request.OnEnd.
	OnEnd func(error)
	// Start writes the document up to and including its first element:
	// the widget as it is now. It runs on the handler's goroutine, with the
	// request's context.
	Start func(ctx context.Context, w io.Writer) error
	// Update writes one new element after frames were published. State
	// frames are conflated: a slow reader gets only the newest of each. It
	// runs on a writer of the pool, after the handler returned: ctx carries
	// the request's values, not its cancellation.
	Update func(ctx context.Context, w io.Writer, frames []Frame) error
	// End writes the last element, which reloads the page after reload,
	// and closes the document.
	End func(w io.Writer, reload time.Duration) error
}

// heartbeat is written to an idle stream every HubConfig.Heartbeat: an HTML
// comment shows nothing and keeps proxies and NAT tables from closing it.
var heartbeat = []byte("<!-- -->\n")

// Serve streams p to w until the client goes away, the lifetime ends, the
// reader falls too far behind on a log topic, p.Context ends, or the hub
// closes. Every end the server chooses writes p.End, so the page reloads
// and starts over. As SSE.Serve, it returns once the stream is in the
// writer pool (HTTP/1.1), or when it has ended (HTTP/2, TLS).
func (s *Streams) Serve(w http.ResponseWriter, r *http.Request, p StreamPage) error {
	t := &streamTransport{s: s, p: p, ctx: context.WithoutCancel(r.Context())}
	l := s.hub.newLink("stream", t, p.User, s.cfg.WriteTimeout, &s.conns, p.OnEnd)
	cw, err := NewChunked(w, http.StatusOK, s.cfg.WriteTimeout)
	if err != nil {
		l.finish(endFailed, err)
		return err
	}
	ctx := r.Context()
	l.sub = s.hub.Subscribe(p.Topics, p.User)
	if l.sub != nil {
		// Start renders the current state, so what the hub queued on
		// subscribing (its newest state frames, or log frames committed
		// before Start reads) is already in it, or older: sending it too
		// would show every viewer its first state twice, or step back.
		batch, _, _ := l.sub.take(nil)
		clear(batch)
	}
	hold := holdable(r)
	if hold {
		w.Header().Set("Connection", "close") // Beacon closes it when the stream ends: not for another request
		err = p.Start(ctx, cw)                // the handler's goroutine ends soon: its stack is not kept
	} else {
		onShortLived(func() { err = p.Start(ctx, cw) }) // see SSE.Serve
	}
	if err != nil {
		l.finish(endFailed, err)
		return err
	}
	if l.sub == nil {
		err = errors.Join(ErrClosed, s.end(cw, p, s.retry()))
		l.finish(endShutdown, err)
		return err
	}
	cw.Flush()
	if err := cw.Err(); err != nil {
		l.finish(endFailed, err)
		return err
	}
	l.life = s.cfg.Lifetime
	if p.Lifetime > 0 && p.Lifetime < l.life {
		l.life = p.Lifetime
	}
	if hold {
		if nc, _, herr := cw.rc.Hijack(); herr == nil {
			l.conn, l.chunked = nc, true
			l.start(nil, p.Context)
			return nil
		}
	}
	l.w, l.rc = w, cw.rc
	l.start(ctx, p.Context)
	return l.err
}

// streamTransport is how a stream's page reads: a new element per update,
// a comment as heartbeat, a reloading last element.
type streamTransport struct {
	s      *Streams
	p      StreamPage
	ctx    context.Context
	frames []Frame
}

func (t *streamTransport) batch(dst []byte, msgs []*message) ([]byte, error) {
	if len(msgs) == 0 {
		return dst, nil
	}
	for _, m := range msgs {
		t.frames = append(t.frames, m.Frame)
	}
	w := appender{&dst}
	err := t.p.Update(t.ctx, w, t.frames)
	clear(t.frames)
	t.frames = t.frames[:0]
	return dst, err
}

func (*streamTransport) heartbeat(dst []byte) []byte { return append(dst, heartbeat...) }

func (t *streamTransport) goodbye(dst []byte, why ending) []byte {
	reload := time.Duration(0)
	switch why {
	case endShutdown:
		reload = t.s.retry()
	case endBehind, endLifetime: // too far behind on a log, or too old: start over now
	default:
		return dst
	}
	t.p.End(appender{&dst}, reload) //nolint:errcheck // an appender does not fail; a template that does writes less
	return dst
}

// appender is an io.Writer that appends to a byte slice.
type appender struct{ b *[]byte }

func (a appender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// end writes the page's last element and flushes it.
func (s *Streams) end(cw *Chunked, p StreamPage, reload time.Duration) error {
	if err := p.End(cw, reload); err != nil {
		return err
	}
	cw.Flush()
	return cw.Err()
}

func (s *Streams) retry() time.Duration { return jittered(s.cfg.RetryMin, s.cfg.RetryMax) }

// jittered returns a random duration in [lo, hi): clients told to come back
// at shutdown spread out instead of meeting the next process at once.
func jittered(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rand.Int64N(int64(hi-lo)))
}

// Wait blocks until every stream has ended or ctx is done. After Hub.Close,
// streams end as soon as they have written their last element.
func (s *Streams) Wait(ctx context.Context) error { return s.conns.wait(ctx) }

// Chunked returns a Chunked writer for w with the streams' write timeout,
// for a page that is streamed once rather than followed (the dashboard).
func (s *Streams) Chunked(w http.ResponseWriter, status int) (*Chunked, error) {
	return NewChunked(w, status, s.cfg.WriteTimeout)
}
