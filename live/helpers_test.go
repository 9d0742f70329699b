package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// waitTimeout bounds every wait in these tests. It is generous on purpose:
// it only decides when a test that hangs is declared failed, never whether
// something was fast enough.
const waitTimeout = 60 * time.Second

// testEpoch is the epoch of every test hub.
const testEpoch = "5eed"

// classifyTest makes topics named "log:…" log topics and every other topic a
// state topic.
func classifyTest(topic string) Class {
	if strings.HasPrefix(topic, "log:") {
		return Log
	}
	return State
}

// waitFor polls cond until it holds, and fails the test if it does not within
// waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// counterValue reads a Prometheus counter.
func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// ---------------------------------------------------------------------------
// A strict Server-Sent Events parser, written from the WHATWG HTML standard
// ("9.2.6 Interpreting an event stream"), independent of AppendEvent. It is
// stricter than a browser: it refuses unknown fields (but the "topic" field
// of Request.TopicField), repeated id/event/retry fields and an id holding
// NUL, because AppendEvent never writes them.

// block is one blank-line-terminated group of lines.
type block struct {
	ID, Event, Retry          string
	HasID, HasEvent, HasRetry bool
	// Topic is the "topic" field a connection with Request.TopicField
	// writes; browsers ignore it (an unknown field), tabs.js reads it.
	Topic    string
	HasTopic bool
	// DataLines counts "data" fields; a browser dispatches an event only when
	// there is at least one.
	DataLines int
	// Data is what a browser hands to the page: the data lines joined by
	// "\n".
	Data string
	// Comments counts comment lines (":…").
	Comments int
	// Raw is the block as it was read, for failure messages.
	Raw string

	lines   int
	dataBuf []byte
}

// Dispatched reports whether a browser fires an event for b. A block without
// data only updates the last event id.
func (b *block) Dispatched() bool { return b.DataLines > 0 }

// field interprets one line that is not blank.
func (b *block) field(line string) error {
	b.lines++
	if strings.HasPrefix(line, ":") {
		b.Comments++
		return nil
	}
	name, value, found := strings.Cut(line, ":")
	if found && strings.HasPrefix(value, " ") {
		value = value[1:] // exactly one leading space is part of the syntax
	}
	switch name {
	case "data":
		b.DataLines++
		b.dataBuf = append(b.dataBuf, value...)
		b.dataBuf = append(b.dataBuf, '\n')
	case "id":
		if b.HasID {
			return fmt.Errorf("second id field %q", line)
		}
		if strings.IndexByte(value, 0) >= 0 {
			return fmt.Errorf("id with NUL %q: browsers ignore it", line)
		}
		b.HasID, b.ID = true, value
	case "event":
		if b.HasEvent {
			return fmt.Errorf("second event field %q", line)
		}
		b.HasEvent, b.Event = true, value
	case "topic":
		if b.HasTopic || b.lines != 1 {
			return fmt.Errorf("topic field %q: only one, and first in its block", line)
		}
		b.HasTopic, b.Topic = true, value
	case "retry":
		if b.HasRetry {
			return fmt.Errorf("second retry field %q", line)
		}
		if _, err := strconv.ParseUint(value, 10, 63); err != nil || strings.Trim(value, "0123456789") != "" {
			return fmt.Errorf("retry is not ASCII digits: %q", line)
		}
		b.HasRetry, b.Retry = true, value
	default:
		return fmt.Errorf("unknown field %q in line %q", name, line)
	}
	return nil
}

func (b *block) finish(raw string) {
	if b.DataLines > 0 {
		b.Data = string(b.dataBuf[:len(b.dataBuf)-1]) // the last "\n" is removed
	}
	b.dataBuf = nil
	b.Raw = raw
}

// parseEvents parses a complete event stream. Lines end at "\r\n", "\r" or
// "\n"; it fails on a blank line that ends no block, on an unterminated line
// and on an unterminated block, which a browser would discard.
func parseEvents(p []byte) ([]block, error) {
	var (
		blocks []block
		cur    block
		line   []byte
		start  int
	)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '\r' && c != '\n' {
			line = append(line, c)
			continue
		}
		if c == '\r' && i+1 < len(p) && p[i+1] == '\n' {
			i++
		}
		if len(line) == 0 {
			if cur.lines == 0 {
				return blocks, fmt.Errorf("blank line at offset %d ends no block", i)
			}
			cur.finish(string(p[start : i+1]))
			blocks = append(blocks, cur)
			cur = block{}
			start = i + 1
			continue
		}
		if err := cur.field(string(line)); err != nil {
			return blocks, err
		}
		line = line[:0]
	}
	if len(line) > 0 {
		return blocks, fmt.Errorf("unterminated line %q", line)
	}
	if cur.lines > 0 {
		return blocks, fmt.Errorf("unterminated block %q", p[start:])
	}
	return blocks, nil
}

// readBlock reads the next block from a stream written by the SSE transport,
// which ends every line with "\n". A "\r" anywhere is an error: data must
// have been split on it.
func readBlock(br *bufio.Reader) (block, error) {
	var (
		b   block
		raw strings.Builder
	)
	for {
		line, err := br.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			if err == io.EOF && raw.Len() == 0 {
				return b, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return b, fmt.Errorf("reading block %q: %w", raw.String(), err)
		}
		line = line[:len(line)-1]
		if strings.IndexByte(line, '\r') >= 0 {
			return b, fmt.Errorf("CR inside line %q", line)
		}
		if line == "" {
			if b.lines == 0 {
				return b, fmt.Errorf("blank line ends no block")
			}
			b.finish(raw.String())
			return b, nil
		}
		if err := b.field(line); err != nil {
			return b, err
		}
	}
}

// idPos parses an id written by FormatID with testEpoch.
func idPos(t testing.TB, b block) int64 {
	t.Helper()
	if !b.HasID {
		t.Fatalf("block %q has no id", b.Raw)
	}
	epoch, pos, ok := ParseID(b.ID)
	if !ok || epoch != testEpoch {
		t.Fatalf("block %q: id %q is not %s-<position>", b.Raw, b.ID, testEpoch)
	}
	return pos
}

// ---------------------------------------------------------------------------
// memLog is an in-memory Source: the durable log of the tests. Frames are
// committed to it first and published to the hub after (publish after
// commit), exactly as Beacon does with SQLite.

type memLog struct {
	mu      sync.Mutex
	frames  []Frame // guarded by mu; position order, all after horizon
	horizon int64   // guarded by mu; frames at or before it were pruned
	head    int64   // guarded by mu; newest position

	hooks atomic.Pointer[logHooks] // interleavings the tests force
	since atomic.Int64             // calls of Since
}

// logHooks run inside Source calls, outside the log's lock, so they may
// commit and publish: they put a concurrent writer at an exact point of a
// connection's start.
type logHooks struct {
	afterHorizon   func()
	beforeSince    func(call int64)
	failSince      error // what Since returns instead of frames
	afterSince     func(call int64)
	beforeSnapshot func()
	afterSnapshot  func()
}

var _ Source = (*memLog)(nil)

// commit appends f to the log at the next position and returns it.
func (l *memLog) commit(f Frame) Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.head++
	f.Position, f.At = l.head, time.Now()
	l.frames = append(l.frames, f)
	return f
}

// prune drops the frames at or before through, like retention does.
func (l *memLog) prune(through int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(l.frames) && l.frames[i].Position <= through {
		i++
	}
	l.frames = append([]Frame(nil), l.frames[i:]...)
	l.horizon = through
}

func (l *memLog) Horizon(context.Context) (int64, int64, error) {
	l.mu.Lock()
	horizon, head := l.horizon, l.head
	l.mu.Unlock()
	if h := l.hooks.Load(); h != nil && h.afterHorizon != nil {
		h.afterHorizon()
	}
	return horizon, head, nil
}

func (l *memLog) Since(_ context.Context, topics []string, after int64, limit int) ([]Frame, error) {
	call := l.since.Add(1)
	h := l.hooks.Load()
	if h != nil && h.beforeSince != nil {
		h.beforeSince(call)
	}
	if h != nil && h.failSince != nil {
		return nil, h.failSince
	}
	want := make(map[string]bool)
	for _, t := range topics {
		if classifyTest(t) == Log {
			want[t] = true
		}
	}
	var out []Frame
	l.mu.Lock()
	if after < l.horizon {
		l.mu.Unlock()
		return nil, ErrGap
	}
	for _, f := range l.frames {
		if len(out) == limit {
			break
		}
		if f.Position > after && want[f.Topic] {
			out = append(out, f)
		}
	}
	l.mu.Unlock()
	if h != nil && h.afterSince != nil {
		h.afterSince(call)
	}
	return out, nil
}

// Snapshot renders one frame per topic whose data says "snapshot <topic>",
// and returns the head it was read at.
func (l *memLog) Snapshot(_ context.Context, topics []string) ([]Frame, int64, error) {
	h := l.hooks.Load()
	if h != nil && h.beforeSnapshot != nil {
		h.beforeSnapshot()
	}
	l.mu.Lock()
	head := l.head
	l.mu.Unlock()
	frames := make([]Frame, 0, len(topics))
	for _, t := range topics {
		frames = append(frames, Frame{Topic: t, Data: []byte("snapshot " + t)})
	}
	if h != nil && h.afterSnapshot != nil {
		h.afterSnapshot()
	}
	return frames, head, nil
}

// ---------------------------------------------------------------------------
// fixture is a hub, its SSE transport and an httptest server whose handler
// does what Beacon's /live handler does: topics from ?topics=, the resume
// point from Last-Event-ID or ?after=, the user from ?user=.

type fixture struct {
	hub     *Hub
	log     *memLog
	sse     *SSE
	srv     *httptest.Server
	metrics *Metrics
	ln      *shrinkListener

	pub      sync.Mutex   // one publisher at a time: commit order is publish order
	requests atomic.Int64 // requests that reached the handler
	served   chan error   // how streams ended (Request.OnEnd), while there is room
}

func newFixture(t testing.TB, hc HubConfig, sc SSEConfig) *fixture {
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
	fx := &fixture{
		hub:     NewHub(hc),
		log:     &memLog{},
		metrics: hc.Metrics,
		served:  make(chan error, 4096),
	}
	fx.sse = NewSSE(fx.hub, fx.log, sc)

	fx.srv = httptest.NewUnstartedServer(http.HandlerFunc(fx.serveHTTP))
	fx.ln = &shrinkListener{Listener: fx.srv.Listener}
	fx.srv.Listener = fx.ln
	fx.srv.Start()

	t.Cleanup(func() {
		fx.hub.Close()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := fx.sse.Wait(ctx); err != nil {
			t.Errorf("SSE.Wait after Hub.Close: %v", err)
		}
		fx.srv.Close()
	})
	return fx
}

func (fx *fixture) serveHTTP(w http.ResponseWriter, r *http.Request) {
	fx.requests.Add(1)
	q := r.URL.Query()
	var topics []string
	if s := q.Get("topics"); s != "" {
		topics = strings.Split(s, ",")
	}
	resume := r.Header.Get("Last-Event-ID")
	if resume == "" {
		resume = q.Get("after")
	}
	fx.sse.Serve(w, r, Request{Topics: topics, Resume: resume, User: q.Get("user"), TopicField: q.Get("topicfield") == "1", Program: q.Get("format") == "program", //nolint:errcheck // OnEnd has it
		OnEnd: func(err error) {
			select {
			case fx.served <- err:
			default:
			}
		}})
}

// publish commits a log frame and then publishes it.
func (fx *fixture) publish(topic string, data []byte) Frame {
	return fx.publishFrame(Frame{Topic: topic, Data: data})
}

// publishFrame commits f, which gets its position from the log, and then
// publishes it.
func (fx *fixture) publishFrame(f Frame) Frame {
	fx.pub.Lock()
	defer fx.pub.Unlock()
	f = fx.log.commit(f)
	fx.hub.Publish(f)
	return f
}

// publishState publishes a frame of a state topic, which is not logged.
func (fx *fixture) publishState(topic string, data []byte) {
	fx.pub.Lock()
	defer fx.pub.Unlock()
	fx.hub.Publish(Frame{Topic: topic, Data: data, At: time.Now()})
}

func (fx *fixture) subscriptions() int {
	n, _ := fx.hub.Counts()
	return n
}

// nextServed returns the error the next stream to end ended with.
func (fx *fixture) nextServed(t testing.TB) error {
	t.Helper()
	select {
	case err := <-fx.served:
		return err
	case <-time.After(waitTimeout):
		t.Fatalf("no Serve returned within %v", waitTimeout)
		return nil
	}
}

// stream is one SSE response read by a plain HTTP client.
type stream struct {
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
}

// open starts a stream with the fixture's own client. The request is
// cancelled when the test ends or after waitTimeout, whichever comes first,
// so a read never hangs the test.
func (fx *fixture) open(t testing.TB, query, lastEventID string) *stream {
	t.Helper()
	return fx.openWith(t, fx.srv.Client(), query, lastEventID)
}

func (fx *fixture) openWith(t testing.TB, client *http.Client, query, lastEventID string) *stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fx.srv.URL+"/live?"+query, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", req.URL, err)
	}
	s := &stream{resp: resp, br: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(s.close)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %s", req.URL, resp.Status)
	}
	return s
}

func (s *stream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// next returns the next block, comments included.
func (s *stream) next(t testing.TB) block {
	t.Helper()
	b, err := readBlock(s.br)
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return b
}

// event returns the next block that is not only a comment (a heartbeat).
func (s *stream) event(t testing.TB) block {
	t.Helper()
	for {
		if b := s.next(t); b.Comments == 0 || b.lines > b.Comments {
			return b
		}
	}
}

// rest reads the stream to its end and returns its blocks.
func (s *stream) rest(t testing.TB) []block {
	t.Helper()
	var out []block
	for {
		b, err := readBlock(s.br)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading the stream to its end after %d blocks: %v", len(out), err)
		}
		out = append(out, b)
	}
}

// expectPositionBlock checks that b only tells the client its position, and
// returns it.
func expectPositionBlock(t testing.TB, b block) int64 {
	t.Helper()
	if !b.HasID || b.Dispatched() || b.HasEvent || b.HasRetry || b.Comments > 0 {
		t.Fatalf("want a block with only an id, got %q", b.Raw)
	}
	return idPos(t, b)
}

// expectRetry checks that b is a bare retry hint within [min, max].
func expectRetry(t testing.TB, b block, min, max time.Duration) {
	t.Helper()
	expectRetryEvent(t, b, min, max, "")
}

// expectRetryEvent checks that b is a retry hint within [min, max], carried
// by an event named event with empty data when event is not empty.
func expectRetryEvent(t testing.TB, b block, min, max time.Duration, event string) {
	t.Helper()
	if !b.HasRetry || b.HasID || b.Event != event || b.HasEvent != (event != "") ||
		b.Dispatched() != (event != "") || b.Data != "" {
		t.Fatalf("want a retry hint with event %q, got %q", event, b.Raw)
	}
	ms, _ := strconv.ParseInt(b.Retry, 10, 64)
	if d := time.Duration(ms) * time.Millisecond; d < min || d > max {
		t.Fatalf("retry %v outside [%v, %v]", d, min, max)
	}
}

// ---------------------------------------------------------------------------
// shrinkListener gives the connections it accepts while shrink is set a small
// kernel send buffer. On loopback the send buffer autotunes up to
// net.ipv4.tcp_wmem's maximum (4 MB here): a client that never reads would
// otherwise absorb ~4 MB before the server's writer blocks, whatever its own
// receive buffer.
type shrinkListener struct {
	net.Listener
	shrink atomic.Bool
}

func (l *shrinkListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.shrink.Load() {
		if tc, ok := c.(*net.TCPConn); ok {
			if err := tc.SetWriteBuffer(4096); err != nil {
				c.Close()
				return nil, err
			}
		}
	}
	return c, err
}

// smallReadBufferClient returns a client whose sockets have a 4 KiB receive
// buffer, for clients that stop reading.
func smallReadBufferClient(t testing.TB) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := c.(*net.TCPConn).SetReadBuffer(4096); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
