package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The pump is the one writing loop of every transport. A connection plugs
// into it as a link: its subscriber, a transport that says how the client
// reads a batch of frames, a heartbeat and a goodbye, and a wire the bytes
// go out on. Waiting, taking, encoding, writing, eviction, ending and the
// metrics are written once, here.
//
// A link whose socket Beacon holds itself (an HTTP/1.1 stream taken from
// net/http, a WebSocket) has no goroutine of its own: when the hub gives it
// something to write, it is queued once, however many frames it has, and
// one of a pool of GOMAXPROCS writers serves it. A writer never waits for a
// client: it writes what the socket takes at once, and hands what is left
// to a goroutine of the link's own that finishes the write under the write
// deadline and then gives the link back. So a client that reads slowly, or
// not at all, costs one goroutine while it is behind, and nobody else waits.
//
// A link whose response net/http keeps (HTTP/2) is served by its handler's
// goroutine, as before: the same run, blocking writes.

// transport is what differs between SSE, WebSocket and HTML streams: how
// the client reads frames, an idle heartbeat and the last words before the
// server ends the connection.
type transport interface {
	// batch appends msgs as the client reads them, with anything of the
	// transport's own that is waiting (a WebSocket's answers to its
	// client). errBehind ends the connection as an eviction does.
	batch(dst []byte, msgs []*message) ([]byte, error)
	// heartbeat appends what an idle connection gets every
	// HubConfig.Heartbeat.
	heartbeat(dst []byte) []byte
	// goodbye appends what the client gets before the server ends the
	// connection for why (nothing for some reasons).
	goodbye(dst []byte, why ending) []byte
}

// errBehind is returned by transport.batch when the client cannot keep up
// with what only it receives (a WebSocket's own answers).
var errBehind = errors.New("live: client too far behind")

// ending is why a link ends.
type ending int32

const (
	open        ending = iota
	endShutdown        // the hub closes: come back later, jittered
	endBehind          // the queue overflowed: come back now and resume
	endLifetime        // the stream's lifetime is over: start again now
	endCaller          // Request.Context ended
	endClosed          // the caller closed it (Conn.Close): its client left
	endGone            // the client went away: nothing to write
	endFailed          // a write failed: nothing more to write
)

// Link states. A link is queued at most once, and served by one writer at a
// time: signalling a running link marks it dirty, and it is queued again
// when its writer is done with it.
const (
	idle    int32 = iota
	queued        // in the pump's ready queue
	running       // a writer (or the link's own slow-write goroutine) has it
	dirty         // running, and signalled since it was taken
	ended
)

// link is one connection in the pump.
type link struct {
	p       *pump
	sub     *Subscriber
	t       transport
	kind    string             // "sse", "ws" or "stream", for metrics and logs
	writes  prometheus.Counter // the writes of kind, looked up once: every write counts
	user    string
	timeout time.Duration // of every write
	state   atomic.Int32
	end     atomic.Int32 // an ending asked for from outside (shutdown, caller, lifetime, gone)

	// The wire: a socket Beacon holds (conn), or a response net/http keeps (w).
	conn      net.Conn
	raw       syscall.RawConn // conn's, when it has one: the writers' non-blocking writes
	chunked   bool            // HTTP/1.1 chunk framing around every write
	w         http.ResponseWriter
	rc        *http.ResponseController
	kick      chan struct{} // wakes the handler goroutine serving a net/http response
	deadline  time.Time     // the write deadline set on conn, or zero
	watchFd   int           // conn's descriptor while the departure watcher has it, or -1
	watchID   uint64
	stopAfter func() bool   // stops the context.AfterFunc of Request.Context
	life      time.Duration // when positive, the link ends after it (streams)
	lifetime  *time.Timer
	readBy    bool // the caller reads the socket, and notices a departure itself (WebSocket)

	finishOnce sync.Once
	err        error // why it ended, when a failure ended it; set by finish, read after done
	onEnd      func(error)
	tracker    *tracker
	done       chan struct{} // closed when the link has ended
}

// newLink counts a connection of transport kind that is starting; it ends
// with finish, whatever happens to it. Until then it keeps the pump's
// writers running, even after the hub closed: its goodbye needs them.
func (h *Hub) newLink(kind string, t transport, user string, timeout time.Duration, tr *tracker, onEnd func(error)) *link {
	tr.add()
	h.cfg.Metrics.connections.WithLabelValues(kind).Inc()
	h.pump.add()
	return &link{p: h.pump, t: t, kind: kind, writes: h.cfg.Metrics.writes.WithLabelValues(kind), user: user,
		timeout: timeout, tracker: tr, onEnd: onEnd, done: make(chan struct{}), watchFd: -1}
}

// pump is the pool of writers and its queue of ready links. The hub owns
// one and stops it when it closes and its last link has ended.
type pump struct {
	hub *Hub

	mu      sync.Mutex
	cond    sync.Cond
	ready   []*link // guarded by mu; links with something to write, each at most once, from head on
	head    int     // guarded by mu
	links   int     // guarded by mu; links that have not ended
	closing bool    // guarded by mu; the hub is closing: stop once links is 0

	watchOnce sync.Once
	watch     *watcher // nil where departures are noticed only by writes
}

func newPump(h *Hub) *pump {
	p := &pump{hub: h}
	p.cond.L = &p.mu
	for range runtime.GOMAXPROCS(0) {
		go p.work() // ends once the hub has closed and every link has ended
	}
	return p
}

// maxTake is how many ready links a writer takes from the queue at once.
const maxTake = 32

// work is one writer of the pool: it serves ready links until the hub has
// closed and every link has ended.
func (p *pump) work() {
	var mine []*link
	for {
		p.mu.Lock()
		for p.head == len(p.ready) && !(p.closing && p.links == 0) {
			p.cond.Wait()
		}
		if p.head == len(p.ready) {
			p.mu.Unlock()
			return
		}
		n := min(len(p.ready)-p.head, maxTake)
		mine = append(mine[:0], p.ready[p.head:p.head+n]...)
		clear(p.ready[p.head : p.head+n])
		p.head += n
		switch {
		case p.head == len(p.ready):
			// Empty: start again at the array's beginning, keeping it
			// unless a crowd left it large.
			p.ready, p.head = p.ready[:0], 0
			if cap(p.ready) > 1<<16 {
				p.ready = nil
			}
		case p.head > len(p.ready)/2:
			// Mostly taken: move what is left to the front.
			k := copy(p.ready, p.ready[p.head:])
			clear(p.ready[k:])
			p.ready, p.head = p.ready[:k], 0
		}
		p.mu.Unlock()
		for i, l := range mine {
			// A link that ended while it was queued is skipped.
			if l.state.CompareAndSwap(queued, running) && !l.run() {
				l.release()
			}
			mine[i] = nil
		}
	}
}

// enqueue adds links, each claimed (state queued) by its caller.
func (p *pump) enqueue(ls ...*link) {
	if len(ls) == 0 {
		return
	}
	p.mu.Lock()
	p.ready = append(p.ready, ls...)
	p.mu.Unlock()
	if len(ls) == 1 {
		p.cond.Signal()
	} else {
		p.cond.Broadcast()
	}
}

// add counts a link that is starting; a link counted here keeps the pool
// running after the hub closes until it ends.
func (p *pump) add() {
	p.mu.Lock()
	p.links++
	p.mu.Unlock()
}

// remove uncounts a link that ended (or never started).
func (p *pump) remove() {
	p.mu.Lock()
	p.links--
	last := p.closing && p.links == 0
	p.mu.Unlock()
	if last {
		p.cond.Broadcast()
		p.stopWatcher()
	}
}

// close lets the writers stop once every link has ended.
func (p *pump) close() {
	p.mu.Lock()
	p.closing = true
	last := p.links == 0
	p.mu.Unlock()
	p.cond.Broadcast()
	if last {
		p.stopWatcher()
	}
}

// stopWatcher stops the departure watcher, if one was started, once the
// hub has closed and its last link has ended; none is started after this.
func (p *pump) stopWatcher() {
	p.watchOnce.Do(func() {})
	if p.watch != nil {
		p.watch.close()
	}
}

// watcher returns the departure watcher, starting it on first use.
func (p *pump) watcher() *watcher {
	p.watchOnce.Do(func() { p.watch = newWatcher() })
	return p.watch
}

// claim moves an idle link to queued and reports whether the caller must
// enqueue it; a running link is marked dirty instead.
func (l *link) claim() bool {
	for {
		switch s := l.state.Load(); s {
		case idle:
			if l.state.CompareAndSwap(idle, queued) {
				return true
			}
		case running:
			if l.state.CompareAndSwap(running, dirty) {
				return false
			}
		default: // queued, dirty, ended
			return false
		}
	}
}

// schedule asks for the link to be served: by the pool, or by the handler
// goroutine serving a response net/http keeps.
func (l *link) schedule() {
	if l.kick != nil {
		l.kickHandler()
		return
	}
	if l.claim() {
		l.p.enqueue(l)
	}
}

// release gives a link back after a run: it is queued again if it was
// signalled meanwhile.
func (l *link) release() {
	for {
		switch l.state.Load() {
		case running:
			if l.state.CompareAndSwap(running, idle) {
				return
			}
		case dirty:
			if l.state.CompareAndSwap(dirty, queued) {
				l.p.enqueue(l)
				return
			}
		default: // ended
			return
		}
	}
}

// maxWrite is about the most one run of a link writes: what is left stays
// queued for its next run, so a burst that piled up for one client is
// written through a pooled buffer of a usual size, in turns with the
// others, instead of a buffer as large as the pile.
const maxWrite = 32 << 10

// again has the running link run once more when this run is over: it left
// frames queued.
func (l *link) again() {
	if l.kick != nil {
		l.kickHandler()
		return
	}
	l.state.CompareAndSwap(running, dirty)
}

// kickHandler wakes the handler goroutine that serves a response net/http
// keeps; a kick still pending covers this one.
func (l *link) kickHandler() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// stop asks the link to end for why; the first reason given wins.
func (l *link) stop(why ending) {
	if l.end.CompareAndSwap(int32(open), int32(why)) {
		l.schedule()
	}
}

// bufs holds write buffers between writes: an idle connection holds none.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > writeChunk {
		return // a rare large write need not stay in the pool
	}
	*b = (*b)[:0]
	bufs.Put(b)
}

// chunkHead is room at the start of every buffer for an HTTP/1.1 chunk's
// size line: up to 8 hex digits and CRLF.
const chunkHead = 10

// run serves the link once: it takes what is pending, encodes it, and
// writes it. It reports whether the link was handed on (to its slow-write
// goroutine, or ended), in which case the caller must not release it.
func (l *link) run() (handedOn bool) {
	why := ending(l.end.Load())
	if why == endGone {
		l.finish(endGone, nil)
		return true
	}
	bp := getBuf()
	b := (*bp)[:0]
	if l.chunked {
		b = b[:chunkHead]
	}
	start := len(b)
	var sent *[]*message
	if why == open {
		sent = batches.Get().(*[]*message)
		batch, ping, evicted, more := l.sub.takeUpTo((*sent)[:0], maxWrite)
		*sent = batch
		if more {
			l.again()
		}
		var err error
		b, err = l.encode(b, batch)
		switch {
		case errors.Is(err, errBehind), err == nil && evicted:
			why = endBehind
		case err != nil:
			*bp = b[:0]
			putBuf(bp)
			putBatch(sent)
			l.finish(endFailed, err)
			return true
		case ping && len(b) == start:
			b = l.t.heartbeat(b)
		}
	}
	if why != open {
		b = l.t.goodbye(b, why)
	}
	// The pool keeps the buffer from its array's start; what is written
	// may begin inside its head room.
	*bp = b[:0]
	if l.chunked {
		b = frameChunk(b, start, why != open)
	} else if len(b) == start {
		b = b[:0]
	}
	return l.write(bp, b, sent, why)
}

// encode is the transport's batch; a transport that panics (a template
// that fails so) ends its own connection, not the writer.
func (l *link) encode(dst []byte, msgs []*message) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = dst, fmt.Errorf("live: the %s transport panicked: %v", l.kind, p)
		}
	}()
	return l.t.batch(dst, msgs)
}

// batches holds the slices a run takes its frames into between runs: an
// idle connection holds none.
var batches = sync.Pool{New: func() any { return new([]*message) }}

// putBatch returns a batch, emptied, unless a burst made it large.
func putBatch(sent *[]*message) {
	if sent == nil {
		return
	}
	clear(*sent)
	if cap(*sent) > 1024 {
		return
	}
	*sent = (*sent)[:0]
	batches.Put(sent)
}

// frameChunk wraps b[start:] in one HTTP/1.1 chunk, using the room left
// before start, and adds the last chunk when last is set. It returns the
// bytes to write, which begin somewhere in b's head room.
func frameChunk(b []byte, start int, last bool) []byte {
	n := len(b) - start
	if n > 0 {
		var head [chunkHead]byte
		i := len(head) - 2
		head[i], head[i+1] = '\r', '\n'
		for v := n; ; v >>= 4 {
			i--
			head[i] = "0123456789abcdef"[v&0xf]
			if v < 16 {
				break
			}
		}
		copy(b[start-(chunkHead-i):start], head[i:])
		b = append(b, '\r', '\n')
		if last {
			b = append(b, "0\r\n\r\n"...)
		}
		return b[start-(chunkHead-i):]
	}
	if last {
		return append(b[:0], "0\r\n\r\n"...)
	}
	return b[:0]
}

// write sends b, which is in *bp's array, records the delivery of *sent
// and ends the link if why says so; *bp goes back to the pool once b is
// written. It reports whether the link was handed on.
func (l *link) write(bp *[]byte, b []byte, sent *[]*message, why ending) bool {
	if len(b) == 0 {
		// The transport found nothing to write (a stream's update that
		// changes nothing the viewer has): delivered all the same.
		if sent != nil {
			l.p.hub.cfg.Metrics.delivered(*sent)
		}
		putBuf(bp)
		putBatch(sent)
		if why != open {
			l.finish(why, nil)
			return true
		}
		return false
	}
	if l.conn == nil {
		// A response net/http keeps: a blocking write on the handler's
		// goroutine.
		err := l.writeBlocking(b)
		putBuf(bp)
		return l.wrote(sent, why, err)
	}
	n, err := l.tryWrite(b)
	if err == nil && n < len(b) {
		// The socket took what it could; the rest waits for the client on
		// a goroutine of this link's own, so no writer of the pool waits.
		l.p.hub.cfg.Metrics.slowWrites.Inc()
		go func() {
			err := l.writeDeadlined(b[n:])
			putBuf(bp)
			if !l.wrote(sent, why, err) {
				l.release()
			}
		}()
		return true
	}
	putBuf(bp)
	return l.wrote(sent, why, err)
}

// wrote records a finished write and ends the link if it must; it reports
// whether it ended it.
func (l *link) wrote(sent *[]*message, why ending, err error) bool {
	if err != nil {
		putBatch(sent)
		l.finish(endFailed, err)
		return true
	}
	l.writes.Inc()
	if sent != nil {
		l.p.hub.cfg.Metrics.delivered(*sent)
	}
	putBatch(sent)
	if why != open {
		l.finish(why, nil)
		return true
	}
	return false
}

// tryWrite writes as much of b as the socket takes without waiting.
func (l *link) tryWrite(b []byte) (int, error) {
	if l.raw == nil {
		return 0, nil // no raw access: every write waits, on the link's goroutine
	}
	w := rawWriters.Get().(*rawWriter)
	w.b, w.n, w.err = b, 0, nil
	err := l.raw.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.b, w.err = nil, nil
	rawWriters.Put(w)
	return n, err
}

// rawWriter is one non-blocking write to a socket's descriptor. Its
// function is made once, so a write allocates nothing.
type rawWriter struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

var rawWriters = sync.Pool{New: func() any {
	w := &rawWriter{}
	w.fn = w.write
	return w
}}

// writeDeadlined writes b to the held socket, under a deadline of
// WriteTimeout per 64 KiB (a slow link that keeps reading is not cut off, a
// client that stopped is). The deadline is set again only when it would
// move by more than a second: re-arming it is a timer operation per write.
func (l *link) writeDeadlined(b []byte) error {
	timeout := l.timeout
	for len(b) > 0 {
		n := min(len(b), writeChunk)
		if want := time.Now().Add(timeout); want.Sub(l.deadline) > time.Second {
			if err := l.conn.SetWriteDeadline(want); err != nil {
				return err
			}
			l.deadline = want
		}
		if _, err := l.conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	// The pool's writes never wait, so they need no deadline; one that
	// expired later would fail them.
	l.deadline = time.Time{}
	return l.conn.SetWriteDeadline(time.Time{})
}

// writeBlocking writes b to a response net/http keeps, and flushes it.
func (l *link) writeBlocking(b []byte) error {
	return writeDeadlined(l.w, l.rc, l.timeout, b)
}

// finish ends the link once: the socket is closed (abortively if the
// client stopped reading), the subscriber leaves the hub, and whoever waits
// is told. It is also how a connection that never got going ends.
func (l *link) finish(why ending, err error) {
	l.finishOnce.Do(func() {
		l.state.Store(ended)
		l.end.CompareAndSwap(int32(open), int32(why))
		l.err = err
		if l.stopAfter != nil {
			l.stopAfter()
		}
		if l.lifetime != nil {
			l.lifetime.Stop()
		}
		if l.conn != nil {
			if l.watchFd >= 0 {
				l.p.watch.remove(l.watchFd, l.watchID)
			}
			if stalled(err) {
				abort(l.conn)
			} else {
				l.conn.Close()
			}
		}
		h := l.p.hub
		if stalled(err) {
			h.drop(l.kind, l.user, err)
		}
		if l.sub != nil {
			h.Unsubscribe(l.sub)
		}
		h.cfg.Metrics.connections.WithLabelValues(l.kind).Dec()
		l.p.remove()
		l.tracker.done()
		if l.onEnd != nil {
			l.onEnd(err)
		}
		close(l.done)
	})
}

// start puts the link to work once its connection is up to date. On a
// socket Beacon holds (conn), the pump serves it and start returns at once;
// otherwise (a response net/http keeps) the calling goroutine serves it,
// and start returns when it has ended, which it does when ctx, the
// request's, ends: that is how net/http says the client went away. Either
// way the link ends when endWith does, if it is not nil.
func (l *link) start(ctx, endWith context.Context) {
	if l.conn == nil {
		l.serve(ctx, endWith)
		return
	}
	// Running until the end of start: whatever wakes the link meanwhile
	// (its departure, its end, a frame) marks it dirty, and it is queued
	// once it is ready, below.
	l.state.Store(running)
	if sc, ok := l.conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			l.raw = raw
		}
	}
	if l.raw != nil && !l.readBy {
		if w := l.p.watcher(); w != nil {
			l.watchFd, l.watchID = w.add(l.raw, l)
		}
	}
	l.watchEnds(endWith)
	l.p.hub.attachLink(l.sub, l)
	l.release()
}

// watchEnds ends the link when endWith ends, and after its lifetime.
func (l *link) watchEnds(endWith context.Context) {
	if endWith != nil {
		l.stopAfter = context.AfterFunc(endWith, func() { l.stop(endCaller) })
	}
	if l.life > 0 {
		l.lifetime = time.AfterFunc(l.life, func() { l.stop(endLifetime) })
	}
}

// serve runs a link whose response net/http keeps on the calling goroutine
// until it ends.
func (l *link) serve(ctx, endWith context.Context) {
	l.kick = make(chan struct{}, 1)
	stop := context.AfterFunc(ctx, func() { l.stop(endGone) })
	defer stop()
	l.watchEnds(endWith)
	l.p.hub.attachLink(l.sub, l)
	for !l.run() {
		<-l.kick
	}
	<-l.done
}
