package live

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSSEConnectionsLeakNothing opens 1,000 streams, closes them all, and
// checks that every goroutine they started is gone: the server's connection
// goroutines, the writers, the client's read and write loops.
// (goleak in TestMain checks the same at the end of the package; this test
// checks it while the server and the hub are still running.)
func TestSSEConnectionsLeakNothing(t *testing.T) {
	const n = 1000
	fx := newFixture(t, HubConfig{}, SSEConfig{})
	client := fx.srv.Client()
	fx.publish("log:a", []byte("history"))

	// One connection first, so that goroutines started once per process (the
	// poller, the transport's first dial) are in the baseline.
	warm := fx.open(t, "topics=log:a", "")
	expectPositionBlock(t, warm.next(t))
	warm.close()
	waitFor(t, "the warm-up stream to end", func() bool { return fx.subscriptions() == 0 })
	client.CloseIdleConnections()
	baseline := runtime.NumGoroutine()

	type openStream struct {
		resp   *http.Response
		cancel context.CancelFunc
	}
	streams := make([]openStream, n)
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		failed = make(chan error, n)
	)
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
				topics := []string{"topics=log:a", "topics=s:x", "topics=log:a,s:x&user=u" + fmt.Sprint(i%7)}[i%3]
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fx.srv.URL+"/live?"+topics, nil)
				if i%2 == 0 {
					req.Header.Set("Last-Event-ID", FormatID(testEpoch, 0))
				}
				resp, err := client.Do(req)
				if err != nil {
					cancel()
					failed <- err
					return
				}
				streams[i] = openStream{resp, cancel}
				// Read up to the position block: the stream is then in its
				// writer loop.
				br := bufio.NewReader(resp.Body)
				for {
					b, err := readBlock(br)
					if err != nil {
						failed <- fmt.Errorf("stream %d: %w", i, err)
						return
					}
					if b.HasID && !b.Dispatched() {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, s := range streams {
			if s.resp != nil {
				s.cancel()
				s.resp.Body.Close()
			}
		}
	})
	select {
	case err := <-failed:
		t.Fatal(err)
	default:
	}
	if subs, users := fx.hub.Counts(); subs != n || users != 7 {
		t.Fatalf("Counts = %d, %d with %d streams open, want %d, 7", subs, users, n, n)
	}
	withOpen := runtime.NumGoroutine()

	for _, s := range streams {
		s.cancel()
		s.resp.Body.Close()
	}
	waitFor(t, "every stream to end", func() bool { return fx.subscriptions() == 0 })
	client.CloseIdleConnections()
	var now int
	waitFor(t, fmt.Sprintf("the goroutines to return to the baseline of %d", baseline), func() bool {
		now = runtime.NumGoroutine()
		return now <= baseline
	})
	t.Logf("goroutines: %d before, %d with %d streams open, %d after", baseline, withOpen, n, now)
	if users := func() int { _, u := fx.hub.Counts(); return u }(); users != 0 {
		t.Fatalf("%d users still counted", users)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := fx.sse.Wait(ctx); err != nil {
		t.Fatalf("SSE.Wait with every stream closed: %v", err)
	}
	// The transport still serves.
	again := fx.open(t, "topics=log:a", "")
	if at := expectPositionBlock(t, again.next(t)); at != 1 {
		t.Fatalf("a new stream starts at %d", at)
	}
}
