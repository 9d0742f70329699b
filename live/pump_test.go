package live

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSSEIdleStreamsHaveNoGoroutine: an HTTP/1.1 stream is taken from
// net/http once it has started, and the writer pool serves it, so 1,000 idle
// streams cost the process no goroutine each: at most the pool's GOMAXPROCS
// writers and a few more. The clients are raw sockets, read by this
// goroutine, so that they start no goroutines either.
func TestSSEIdleStreamsHaveNoGoroutine(t *testing.T) {
	const n = 1000
	fx := newFixture(t, HubConfig{Heartbeat: time.Hour}, SSEConfig{})
	addr := fx.srv.Listener.Addr().String()
	// One stream first: what starts once (the departure watcher, the
	// listener's) belongs to the baseline.
	warm, err := dialRaw(addr, "topics=log:a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.start(); err != nil {
		t.Fatal(err)
	}
	warm.conn.Close()
	waitFor(t, "the warm-up stream to end", func() bool { return fx.subscriptions() == 0 })
	baseline := runtime.NumGoroutine()

	streams := make([]*rawStream, 0, n)
	defer func() {
		for _, s := range streams {
			s.conn.Close()
		}
	}()
	for i := range n {
		s, err := dialRaw(addr, "topics=log:a,s:x", 0)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		streams = append(streams, s)
		if err := s.start(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
	waitFor(t, "every stream to subscribe", func() bool { return fx.subscriptions() == n })
	// Handlers end right after their stream is handed over, and net/http's
	// connection goroutine with them: wait for the count to settle.
	limit := baseline + runtime.GOMAXPROCS(0) + 4
	var got int
	waitFor(t, fmt.Sprintf("at most %d goroutines with %d idle streams", limit, n), func() bool {
		got = runtime.NumGoroutine()
		return got <= limit
	})
	t.Logf("goroutines: %d with none, %d with %d idle streams (GOMAXPROCS %d)", baseline, got, n, runtime.GOMAXPROCS(0))

	// And they are streams: every one gets the next frame.
	fx.publish("log:a", []byte("to all"))
	for i, s := range streams {
		b, err := readBlock(s.body)
		if err != nil || b.Data != "to all" {
			t.Fatalf("stream %d got %q, %v", i, b.Raw, err)
		}
	}
}

// TestSSEDepartureNoticedAtOnce: a client that leaves a stream the pool
// holds is noticed without a write (the heartbeat here is an hour away):
// its subscriber leaves the hub, its connection is uncounted, and OnEnd
// says it ended without an error.
func TestSSEDepartureNoticedAtOnce(t *testing.T) {
	fx := newFixture(t, HubConfig{Heartbeat: time.Hour}, SSEConfig{})
	s, err := dialRaw(fx.srv.Listener.Addr().String(), "topics=log:a&user=ann", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream to subscribe", func() bool { return fx.subscriptions() == 1 })
	s.conn.Close()
	waitFor(t, "the departed client's subscriber to leave", func() bool { return fx.subscriptions() == 0 })
	if err := fx.nextServed(t); err != nil {
		t.Fatalf("OnEnd(%v) for a client that left, want nil", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := fx.sse.Wait(ctx); err != nil {
		t.Fatalf("SSE.Wait with the only stream gone: %v", err)
	}
}

// TestSSEEndedByContext: Request.Context ends a stream the pool holds (the
// request's own context is long gone by then): the response ends cleanly,
// with no retry hint, and OnEnd is told.
func TestSSEEndedByContext(t *testing.T) {
	hub := newTestHub(t, HubConfig{})
	sse := NewSSE(hub, &memLog{}, SSEConfig{})
	ended := make(chan error, 1)
	end, stop := context.WithCancel(context.Background())
	defer stop()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sse.Serve(w, r, Request{Topics: []string{"s:x"}, Context: end, OnEnd: func(err error) { ended <- err }}) //nolint:errcheck // OnEnd has it
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s := &stream{resp: resp, br: newReader(resp.Body), cancel: func() {}}
	expectPositionBlock(t, s.next(t))
	hub.Publish(Frame{Topic: "s:x", Data: []byte("before")})
	if b := s.event(t); b.Data != "before" {
		t.Fatalf("got %q", b.Raw)
	}
	stop()
	if rest := s.rest(t); len(rest) != 0 {
		t.Fatalf("a stream its caller ended sent %q", rest[0].Raw)
	}
	if err := <-ended; err != nil {
		t.Fatalf("OnEnd(%v), want nil", err)
	}
}

// TestSSEOverHTTP2: a stream over HTTP/2 (TLS) cannot be taken from
// net/http; it is served on its handler's goroutine, as before, and does all
// a stream does: its position, frames, a departure noticed, a retry hint at
// shutdown.
func TestSSEOverHTTP2(t *testing.T) {
	hub := newTestHub(t, HubConfig{Classify: classifyTest, Epoch: testEpoch})
	log := &memLog{}
	sse := NewSSE(hub, log, SSEConfig{RetryMin: time.Second, RetryMax: 2 * time.Second})
	var served sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		defer served.Done()
		sse.Serve(w, r, Request{Topics: strings.Split(r.URL.Query().Get("topics"), ",")}) //nolint:errcheck // the client sees how it ended
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	open := func() (*stream, *http.Response) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?topics=log:a,s:x", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("served over %s, want HTTP/2", resp.Proto)
		}
		s := &stream{resp: resp, br: newReader(resp.Body), cancel: cancel}
		t.Cleanup(s.close)
		return s, resp
	}
	s, _ := open()
	expectPositionBlock(t, s.next(t))
	f := log.commit(Frame{Topic: "log:a", Data: []byte("over h2")})
	hub.Publish(f)
	if b := s.event(t); b.Data != "over h2" || idPos(t, b) != f.Position {
		t.Fatalf("got %q", b.Raw)
	}
	s.close()
	subscriptions := func() int { n, _ := hub.Counts(); return n }
	waitFor(t, "the HTTP/2 client's departure to be noticed", func() bool { return subscriptions() == 0 })

	s, _ = open()
	expectPositionBlock(t, s.next(t))
	hub.Close()
	rest := s.rest(t)
	if len(rest) == 0 {
		t.Fatal("the HTTP/2 stream ended without a retry hint")
	}
	expectRetry(t, rest[len(rest)-1], time.Second, 2*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := sse.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	served.Wait()
}

// TestSSEPublishBatchIsOneWrite: a commit group published with
// PublishBatch goes to a held SSE stream in one write, not one a frame:
// what TestHubPublishBatchWakesOnce below cannot see (a link's wake-ups
// coalesce into one however often it is signalled). Frames published
// one by one this fast usually share a write too, so this checks the
// pump's coalescing end to end rather than PublishBatch alone.
func TestSSEPublishBatchIsOneWrite(t *testing.T) {
	const n = 5
	fx := newFixture(t, HubConfig{Heartbeat: time.Hour}, SSEConfig{})
	s := fx.open(t, "topics=log:a,log:b", "")
	expectPositionBlock(t, s.next(t))
	writes := func() float64 { return counterValue(t, fx.metrics.writes.WithLabelValues("sse")) }
	before := writes()
	fx.pub.Lock()
	frames := make([]Frame, n)
	for i := range frames {
		frames[i] = fx.log.commit(Frame{Topic: []string{"log:a", "log:b"}[i%2], Data: fmt.Appendf(nil, "#%d", i)})
	}
	fx.hub.PublishBatch(frames)
	fx.pub.Unlock()
	for i := range n {
		if b := s.event(t); b.Data != fmt.Sprintf("#%d", i) {
			t.Fatalf("event %d is %q", i, b.Raw)
		}
	}
	// Every write is counted before the frames it carried.
	waitFor(t, "the deliveries to be counted", func() bool { return counterValue(t, fx.metrics.deliveredLog) == n })
	if got := writes() - before; got != 1 {
		t.Fatalf("a batch of %d frames went out in %v writes, want 1", n, got)
	}
}

// TestHubPublishBatchWakesOnce: the frames of one PublishBatch reach a
// subscriber together, so its writer takes them in one go.
func TestHubPublishBatchWakesOnce(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	s := watch(subscribe(t, h, "", "log:a", "log:b"))
	h.PublishBatch([]Frame{logFrame("log:a", 1), logFrame("log:b", 2), logFrame("log:c", 3), logFrame("log:a", 4)})
	if !woken(s) || woken(s) {
		t.Fatal("want exactly one wake-up for a batch")
	}
	got, _, _ := s.take(nil)
	if want := []int64{1, 2, 4}; !slices.Equal(positionsOf(got), want) {
		t.Fatalf("took %v, want %v", positionsOf(got), want)
	}
}

// TestSSEStartsAtTheHubsHead: once the hub knows the head (SetHead), a
// stream that does not resume starts there without reading the Source, and
// a frame published after it subscribed reaches it.
func TestSSEStartsAtTheHubsHead(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{})
	for range 3 {
		fx.publish("log:a", []byte("before"))
	}
	fx.hub.SetHead(2) // older than what was published: the hub keeps the newest
	var reads atomic.Int64
	fx.log.hooks.Store(&logHooks{afterHorizon: func() { reads.Add(1) }})
	s := fx.open(t, "topics=log:a", "")
	if at := expectPositionBlock(t, s.next(t)); at != 3 {
		t.Fatalf("a fresh stream starts at %d, want the hub's head 3", at)
	}
	if n := reads.Load(); n != 0 {
		t.Fatalf("a fresh stream read the Source's horizon %d times", n)
	}
	fx.publish("log:a", []byte("after"))
	if b := s.event(t); idPos(t, b) != 4 {
		t.Fatalf("got %q, want frame 4", b.Raw)
	}
}

// TestPumpWritersStopWithTheHub: the pool's writers and the departure
// watcher end once the hub is closed and its last connection has ended
// (goleak checks the package; this checks it while the test runs).
func TestPumpWritersStopWithTheHub(t *testing.T) {
	before := runtime.NumGoroutine()
	fx := newFixture(t, HubConfig{Metrics: NewMetrics(prometheus.NewRegistry())}, SSEConfig{})
	s := fx.open(t, "topics=log:a", "")
	expectPositionBlock(t, s.next(t))
	fx.hub.Close()
	s.rest(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := fx.sse.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	s.close()
	fx.srv.Client().CloseIdleConnections()
	fx.srv.Close()
	waitFor(t, "the pool to stop", func() bool { return runtime.NumGoroutine() <= before })
}

func newReader(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }

// TestSSEOverHTTP10: an HTTP/1.0 client gets no chunked encoding (net/http
// ends such a response by closing the connection), so its stream is not
// taken from net/http either: it reads plain events.
func TestSSEOverHTTP10(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{})
	c, err := net.Dial("tcp", fx.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /live?topics=log:a HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TransferEncoding) != 0 {
		t.Fatalf("an HTTP/1.0 response with Transfer-Encoding %v", resp.TransferEncoding)
	}
	body := bufio.NewReader(resp.Body)
	b, err := readBlock(body)
	if err != nil {
		t.Fatal(err)
	}
	expectPositionBlock(t, b)
	fx.publish("log:a", []byte("to an old client"))
	if b, err := readBlock(body); err != nil || b.Data != "to an old client" {
		t.Fatalf("got %q, %v", b.Raw, err)
	}
}

// TestStreamsOverHTTP2: a /stream/ document over HTTP/2 (TLS) is served on
// its handler's goroutine and does what a held one does: its first
// element, an update, a reloading end at shutdown.
func TestStreamsOverHTTP2(t *testing.T) {
	hub := NewHub(HubConfig{Classify: classifyTest})
	st := NewStreams(hub, StreamConfig{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.Serve(w, r, StreamPage{ //nolint:errcheck // the client sees how it ended
			Topics: []string{"s"},
			Start: func(_ context.Context, w io.Writer) error {
				_, err := io.WriteString(w, "start\n")
				return err
			},
			Update: func(_ context.Context, w io.Writer, frames []Frame) error {
				_, err := fmt.Fprintf(w, "update %s\n", frames[len(frames)-1].Data)
				return err
			},
			End: func(w io.Writer, reload time.Duration) error {
				_, err := io.WriteString(w, "end\n")
				return err
			},
		})
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s, want HTTP/2", resp.Proto)
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := readLine(t, br); line != "start" {
		t.Fatalf("first line %q", line)
	}
	hub.Publish(Frame{Topic: "s", Data: []byte("over h2")})
	if line, _ := readLine(t, br); line != "update over h2" {
		t.Fatalf("after a publish: %q", line)
	}
	closed := make(chan struct{}) // the test waits for its Close to return
	go func() { hub.Close(); close(closed) }()
	if line, _ := readLine(t, br); line != "end" {
		t.Fatalf("at shutdown: %q", line)
	}
	<-closed
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := st.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}
