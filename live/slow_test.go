package live

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawStream is an SSE request written by hand on a TCP connection; the
// response is read with http.ReadResponse, as any HTTP/1.1 client does.
type rawStream struct {
	conn net.Conn
	body *bufio.Reader // the de-chunked response body
}

// dialRaw opens a connection and sends the request. rcvbuf, when positive,
// sets the socket's receive buffer before the request goes out.
func dialRaw(addr, query string, rcvbuf int) (*rawStream, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if rcvbuf > 0 {
		if err := c.(*net.TCPConn).SetReadBuffer(rcvbuf); err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := fmt.Fprintf(c, "GET /live?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", query, addr); err != nil {
		c.Close()
		return nil, err
	}
	return &rawStream{conn: c}, nil
}

// start reads the response head and the position block.
func (r *rawStream) start() error {
	resp, err := http.ReadResponse(bufio.NewReaderSize(r.conn, 16<<10), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		return fmt.Errorf("status %s, content type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	r.body = bufio.NewReaderSize(resp.Body, 16<<10)
	b, err := readBlock(r.body)
	if err != nil {
		return err
	}
	if !b.HasID || b.Dispatched() {
		return fmt.Errorf("first block %q is not a position", b.Raw)
	}
	return nil
}

// line reads one line, skipping heartbeat blocks (":\n\n").
func (r *rawStream) line() ([]byte, error) {
	for {
		line, err := r.body.ReadSlice('\n')
		if err != nil || line[0] != ':' {
			return line, err
		}
		if end, err := r.body.ReadSlice('\n'); err != nil || len(end) != 1 {
			return nil, fmt.Errorf("heartbeat not followed by a blank line: %q, %v", end, err)
		}
	}
}

// slowPayload is the data of frame seq: its number in 8 digits, then filler,
// 2 KiB in all.
const slowPayloadLen = 2 << 10

func slowPayload(seq int64) []byte {
	p := make([]byte, slowPayloadLen)
	copy(p, fmt.Appendf(nil, "%08d", seq))
	for i := 8; i < len(p); i++ {
		p[i] = 'a' + byte(i%26)
	}
	return p
}

// readLogFrames checks that every frame from 1 on arrives, in order, whole.
// It sends on batch after every batchLen-th frame.
func (r *rawStream) readLogFrames(batchLen int64, batch chan<- struct{}, last *atomic.Int64) error {
	var idLine, digits []byte
	for want := int64(1); ; want++ {
		line, err := r.line()
		if err != nil {
			return fmt.Errorf("waiting for frame %d: %w", want, err)
		}
		idLine = append(strconv.AppendInt(append(idLine[:0], "id: "+testEpoch+"-"...), want, 10), '\n')
		if !bytes.Equal(line, idLine) {
			return fmt.Errorf("want frame %d, got line %.40q", want, line)
		}
		if line, err = r.body.ReadSlice('\n'); err != nil {
			return fmt.Errorf("data of frame %d: %w", want, err)
		}
		digits = fmt.Appendf(digits[:0], "%08d", want)
		if len(line) != len("data: ")+slowPayloadLen+1 || !bytes.HasPrefix(line, []byte("data: ")) || !bytes.Equal(line[6:14], digits) {
			return fmt.Errorf("frame %d has data line %.40q… of %d bytes", want, line, len(line))
		}
		if line, err = r.body.ReadSlice('\n'); err != nil || len(line) != 1 {
			return fmt.Errorf("frame %d not ended by a blank line: %q, %v", want, line, err)
		}
		last.Store(want)
		if want%batchLen == 0 {
			batch <- struct{}{}
		}
	}
}

// readStateFrames checks that values only go up, and sends on batch once for
// every multiple of batchLen the values reach or pass.
func (r *rawStream) readStateFrames(batchLen int64, batch chan<- struct{}, last *atomic.Int64) error {
	next := batchLen
	var prev int64
	for {
		line, err := r.line()
		if err != nil {
			return fmt.Errorf("after value %d: %w", prev, err)
		}
		if len(line) != len("data: ")+slowPayloadLen+1 || !bytes.HasPrefix(line, []byte("data: ")) {
			return fmt.Errorf("after value %d: line %.40q… of %d bytes", prev, line, len(line))
		}
		v, err := strconv.ParseInt(string(line[6:14]), 10, 64)
		if err != nil || v <= prev {
			return fmt.Errorf("value %q after %d: a state topic never goes back", line[6:14], prev)
		}
		prev = v
		if line, err = r.body.ReadSlice('\n'); err != nil || len(line) != 1 {
			return fmt.Errorf("value %d not ended by a blank line: %q, %v", v, line, err)
		}
		last.Store(v)
		for ; next <= v; next += batchLen {
			batch <- struct{}{}
		}
	}
}

// slowCrowd is n readers on one topic of a fixture.
type slowCrowd struct {
	n       int
	streams []*rawStream
	last    []atomic.Int64
	batch   chan struct{}
	errs    chan error
	stop    atomic.Bool
	wg      sync.WaitGroup
}

// connectCrowd opens n readers of topic and starts reading them with read.
func connectCrowd(t *testing.T, fx *fixture, n int, topic string, batchLen int64,
	read func(r *rawStream, batchLen int64, batch chan<- struct{}, last *atomic.Int64) error) *slowCrowd {
	t.Helper()
	c := &slowCrowd{
		n:       n,
		streams: make([]*rawStream, n),
		last:    make([]atomic.Int64, n),
		batch:   make(chan struct{}, n),
		errs:    make(chan error, n),
	}
	t.Cleanup(func() {
		c.stop.Store(true)
		for _, s := range c.streams {
			if s != nil {
				s.conn.Close()
			}
		}
		c.wg.Wait()
	})
	addr := fx.srv.Listener.Addr().String()
	var (
		connect sync.WaitGroup
		next    atomic.Int64
		failed  = make(chan error, n)
	)
	for range 16 {
		connect.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				s, err := dialRaw(addr, "topics="+topic, 0)
				if err == nil {
					c.streams[i] = s
					err = s.start()
				}
				if err != nil {
					failed <- fmt.Errorf("reader %d: %w", i, err)
					return
				}
			}
		})
	}
	connect.Wait()
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
	for i, s := range c.streams {
		c.wg.Go(func() {
			if err := read(s, batchLen, c.batch, &c.last[i]); err != nil && !c.stop.Load() {
				c.errs <- fmt.Errorf("reader %d: %w", i, err)
			}
		})
	}
	return c
}

// awaitBatch waits until every reader has reported the batch.
func (c *slowCrowd) awaitBatch(t *testing.T, what string) {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for got := 0; got < c.n; got++ {
		select {
		case <-c.batch:
		case err := <-c.errs:
			t.Fatal(err)
		case <-timeout.C:
			t.Fatalf("%s: %d of %d readers got there within %v", what, got, c.n, waitTimeout)
		}
	}
}

// TestSlowClientCostsOnlyItself is the point of the hub's design: a client
// that stops reading does not slow anyone else down. One stalled connection
// sits among many readers that read everything.
//
// Publishing is paced by batches (the next batch goes out when every reader
// has read the last one), so a reader that keeps up never has more than one
// batch queued, while the stalled reader's queue grows until it overflows.
//
// The write deadline is long on purpose. The stalled reader is stopped by its
// queue overflowing, not by the deadline: with a 2 s deadline, under -race
// with 1,000 readers on 2 cores, a batch takes 20-40 s and the deadline both
// cut readers that were reading (the test's own readers starve) and raced the
// queue overflow. TestSSEWriteTimeoutCutsStalledReader tests the deadline.
func TestSlowClientCostsOnlyItself(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	const (
		queueLen = 256
		batchLen = 240 // less than queueLen: a reader that keeps up is never evicted
		// The stalled reader overflows after its socket buffers (~60 frames
		// here) and queueLen frames: in the second batch.
		maxFrames = 20 * batchLen
		values    = 2 * batchLen // state topic
	)

	t.Run("log topic: the stalled reader is evicted", func(t *testing.T) {
		began := time.Now()
		fx := newFixture(t, HubConfig{QueueLen: queueLen, Heartbeat: time.Hour}, SSEConfig{WriteTimeout: 10 * time.Minute})
		crowd := connectCrowd(t, fx, n, "log:feed", batchLen, (*rawStream).readLogFrames)
		connected := time.Now()

		// The stalled client sends its request and never reads. Its socket
		// buffers are small on both ends, so its writer blocks after a few
		// frames instead of after ~4 MB.
		fx.ln.shrink.Store(true)
		stalled, err := dialRaw(fx.srv.Listener.Addr().String(), "topics=log:feed&user=stalled", 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.conn.Close()
		waitFor(t, "the stalled client to subscribe", func() bool { return fx.subscriptions() == n+1 })
		sub := findSubscriber(t, fx.hub, "stalled")

		// Publish batches until the stalled reader's queue has overflowed;
		// the rest of that batch shows the others going on after it.
		var evictedAt, p int64
		for evictedAt == 0 {
			if p >= maxFrames {
				t.Fatalf("the stalled subscriber was not evicted after %d frames", p)
			}
			for range batchLen {
				p++
				fx.publish("log:feed", slowPayload(p))
				sub.mu.Lock()
				queued, evicted := len(sub.log), sub.evicted
				sub.mu.Unlock()
				if queued > queueLen {
					t.Fatalf("the stalled subscriber holds %d frames, more than QueueLen", queued)
				}
				if evicted && evictedAt == 0 {
					evictedAt = p
				}
			}
			crowd.awaitBatch(t, fmt.Sprintf("frame %d", p))
		}
		frames := p
		published := time.Now()
		for i := range crowd.last {
			if got := crowd.last[i].Load(); got != frames {
				t.Fatalf("reader %d is at frame %d, want %d", i, got, frames)
			}
		}
		if got := counterValue(t, fx.metrics.evicted); got != 1 {
			t.Fatalf("evicted counter = %v, want 1: only the stalled reader overflows", got)
		}
		// Its writer is still stuck in a write; the connection ends when the
		// write does: here, when the client hangs up.
		stalled.conn.Close()
		waitFor(t, "the evicted subscriber to leave", func() bool { return fx.subscriptions() == n })
		t.Logf("%d readers: connect %v; %d frames of %d B in %v, the stalled reader evicted at frame %d; total %v",
			n, connected.Sub(began).Round(time.Millisecond), frames, slowPayloadLen,
			published.Sub(connected).Round(time.Millisecond), evictedAt, time.Since(began).Round(time.Millisecond))
	})

	t.Run("state topic: the stalled reader is conflated, not evicted", func(t *testing.T) {
		began := time.Now()
		fx := newFixture(t, HubConfig{QueueLen: queueLen, Heartbeat: time.Hour}, SSEConfig{WriteTimeout: 10 * time.Minute})
		crowd := connectCrowd(t, fx, n, "s:gauge", batchLen, (*rawStream).readStateFrames)
		connected := time.Now()

		fx.ln.shrink.Store(true)
		stalled, err := dialRaw(fx.srv.Listener.Addr().String(), "topics=s:gauge,s:filler&user=stalled", 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer stalled.conn.Close()
		waitFor(t, "the stalled client to subscribe", func() bool { return fx.subscriptions() == n+1 })
		sub := findSubscriber(t, fx.hub, "stalled")
		pending := func() []*message {
			sub.mu.Lock()
			defer sub.mu.Unlock()
			return slices.Clone(sub.state)
		}
		// One frame far larger than the stalled client's socket buffers: its
		// writer takes it and blocks in that write for good.
		fx.publishState("s:filler", bytes.Repeat([]byte("f"), 1<<20))
		waitFor(t, "the stalled writer to take the filler", func() bool { return len(pending()) == 0 })

		for v := int64(1); v <= values; v++ {
			fx.publishState("s:gauge", slowPayload(v))
			if p := len(pending()); p > 1 {
				t.Fatalf("the stalled subscriber holds %d values of one state topic", p)
			}
			if v%batchLen == 0 {
				crowd.awaitBatch(t, fmt.Sprintf("value %d", v))
			}
		}
		published := time.Now()
		for i := range crowd.last {
			if got := crowd.last[i].Load(); got != values {
				t.Fatalf("reader %d is at value %d, want the newest, %d", i, got, values)
			}
		}
		if subs, _ := fx.hub.Counts(); subs != n+1 {
			t.Fatalf("Counts = %d subscriptions, want %d: the stalled state reader was dropped", subs, n+1)
		}
		if got := counterValue(t, fx.metrics.evicted); got != 0 {
			t.Fatalf("evicted counter = %v on a state topic", got)
		}
		// All it holds is the newest value.
		if p := pending(); len(p) != 1 || !bytes.HasPrefix(p[0].Data, fmt.Appendf(nil, "%08d", values)) {
			t.Fatalf("the stalled subscriber holds %d values, want only value %d", len(p), values)
		}

		stalled.conn.Close()
		waitFor(t, "the stalled subscriber to leave once it hangs up", func() bool { return fx.subscriptions() == n })
		t.Logf("%d readers: connect %v; %d values of %d B in %v; total %v",
			n, connected.Sub(began).Round(time.Millisecond), values, slowPayloadLen,
			published.Sub(connected).Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	})
}

// findSubscriber returns the subscriber of user.
func findSubscriber(t *testing.T, h *Hub, user string) *Subscriber {
	t.Helper()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.all {
		if s.user == user {
			return s
		}
	}
	t.Fatalf("no subscriber of %q", user)
	return nil
}
