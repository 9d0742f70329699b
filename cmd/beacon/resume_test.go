package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// These tests prove Beacon's resume promise over real HTTP against the real
// program: a client that drops its connection at any point, or whose server
// restarts, and comes back with its last id, receives every stored activity
// exactly once and in order. The truth they compare with is the database file
// itself, read after the server has stopped.

// delivery is one activity event as a subscriber received it.
type delivery struct {
	Epoch    string
	Position int64
	Data     string
}

// upSignal tells a reconnecting test client when the server is up again, so
// that it waits for that instead of sleeping between attempts.
type upSignal struct {
	mu sync.Mutex
	ch chan struct{} // closed while the server is up
}

func newUpSignal() *upSignal {
	ch := make(chan struct{})
	close(ch)
	return &upSignal{ch: ch}
}

// Wait returns a channel that is closed once the server is up.
func (u *upSignal) Wait() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ch
}

// Down must be called before the server stops.
func (u *upSignal) Down() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.ch = make(chan struct{})
}

// Up must be called once the server serves again.
func (u *upSignal) Up() {
	u.mu.Lock()
	defer u.mu.Unlock()
	close(u.ch)
}

// publisher posts activities with several concurrent posters and remembers
// the position the server gave each text.
type publisher struct {
	t       *testing.T
	client  *http.Client
	posters int

	mu    sync.Mutex
	texts map[int64]string // guarded by mu; position → text
}

func newPublisher(t *testing.T, posters int) *publisher {
	tr := &http.Transport{MaxIdleConnsPerHost: posters}
	t.Cleanup(tr.CloseIdleConnections)
	return &publisher{t: t, client: &http.Client{Transport: tr, Timeout: time.Minute}, posters: posters, texts: map[int64]string{}}
}

// Post posts the texts "event <from>" … "event <to>" and returns when every
// one has been answered. With several posters the order of positions is not
// the order of the texts; that is why everything is checked by position.
func (p *publisher) Post(base string, from, to int) {
	p.t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, p.posters)
	for range p.posters {
		wg.Go(func() {
			for i := range next {
				text := fmt.Sprintf("event %04d", i)
				pos, err := postActivity(p.client, base, text)
				if err != nil {
					errs <- err
					for range next { // keep the feeder unblocked
					}
					return
				}
				p.mu.Lock()
				if old, dup := p.texts[pos]; dup {
					err = fmt.Errorf("position %d given to %q and to %q", pos, old, text)
				}
				p.texts[pos] = text
				p.mu.Unlock()
				if err != nil {
					errs <- err
				}
			}
		})
	}
	for i := from; i <= to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		p.t.Error(err)
	}
	// The server is about to be stopped, or the test to end: let no
	// keep-alive connection to this instance linger.
	p.client.CloseIdleConnections()
}

// Positions returns the positions the server answered with, in order.
func (p *publisher) Positions() []int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int64, 0, len(p.texts))
	for pos := range p.texts {
		out = append(out, pos)
	}
	slices.Sort(out)
	return out
}

// Text returns the text posted at pos.
func (p *publisher) Text(pos int64) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.texts[pos]
}

// storedActivities reads the activity events of the database at path, after
// the server using it has stopped.
func storedActivities(t *testing.T, path string) []db.Activity {
	t.Helper()
	store, err := db.Open(t.Context(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	events, _, err := store.EventsAfter(t.Context(), []string{views.TopicActivity}, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]db.Activity, len(events))
	for i, ev := range events {
		if err := json.Unmarshal(ev.Data, &out[i]); err != nil {
			t.Fatalf("event %d: %v", ev.Position, err)
		}
		if out[i].Position != ev.Position {
			t.Fatalf("event %d holds activity %d", ev.Position, out[i].Position)
		}
	}
	return out
}

// checkDelivered compares what a subscriber received with what is stored:
// every stored position once, in strictly increasing order, no gap, no
// extra, each from the one epoch, each carrying its own item and text.
func checkDelivered(t *testing.T, got []delivery, stored []db.Activity, pub *publisher, want int) {
	t.Helper()
	if len(stored) != want {
		t.Errorf("the database holds %d activities, want %d", len(stored), want)
	}
	if posted := pub.Positions(); len(posted) != len(stored) {
		t.Errorf("the server answered %d POSTs with a position, the database holds %d activities", len(posted), len(stored))
	}
	texts := map[string]int{}
	for _, a := range stored {
		texts[a.Text]++
		if p := pub.Text(a.Position); p != a.Text {
			t.Errorf("position %d: stored %q, the POST that got it sent %q", a.Position, a.Text, p)
		}
	}
	for i := 1; i <= want; i++ {
		if n := texts[fmt.Sprintf("event %04d", i)]; n != 1 {
			t.Errorf("text %q is stored %d times", fmt.Sprintf("event %04d", i), n)
		}
	}

	epochs := map[string]int{}
	for i, d := range got {
		epochs[d.Epoch]++
		if i > 0 && d.Position <= got[i-1].Position {
			t.Errorf("delivery %d: position %d after %d: not strictly increasing (duplicate or reordering)", i, d.Position, got[i-1].Position)
		}
	}
	if len(epochs) != 1 {
		t.Errorf("deliveries came from %d epochs, want 1: %v", len(epochs), epochs)
	}
	byPos := make(map[int64]delivery, len(got))
	for _, d := range got {
		byPos[d.Position] = d
	}
	missing := 0
	for _, a := range stored {
		d, ok := byPos[a.Position]
		if !ok {
			if missing++; missing <= 10 {
				t.Errorf("stored position %d (%q) was never delivered", a.Position, a.Text)
			}
			continue
		}
		if items := itemPositions(d.Data); len(items) != 1 || items[0] != a.Position {
			t.Errorf("event %d carries items %v, want exactly act-%d", a.Position, items, a.Position)
		}
		if !strings.Contains(d.Data, ">"+a.Text+"<") {
			t.Errorf("event %d does not carry its text %q: %s", a.Position, a.Text, d.Data)
		}
		delete(byPos, a.Position)
	}
	if missing > 10 {
		t.Errorf("… %d stored positions were never delivered in all", missing)
	}
	for pos := range byPos {
		t.Errorf("position %d was delivered but is not stored", pos)
	}
}

// rawSubscriber follows /live?topics=activity with the raw reader, dropping
// its connection at pseudo-random points and resuming with Last-Event-ID.
type rawSubscriber struct {
	client *http.Client
	url    string
	rng    *rand.Rand
	up     *upSignal

	last     atomic.Int64  // newest position received
	progress chan struct{} // gets a token whenever last moves
	first    chan struct{} // closed when the first block arrived

	// Owned by run until it returns.
	got                      []delivery
	conns, drops, serverEnds int
	retries, positionBlocks  int
	minRetry, maxRetry       int
}

func newRawSubscriber(c *http.Client, url string, seed uint64, up *upSignal) *rawSubscriber {
	return &rawSubscriber{
		client: c, url: url, up: up,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		progress: make(chan struct{}, 1),
		first:    make(chan struct{}),
		minRetry: -1,
	}
}

// run follows the stream until ctx ends. It returns an error for anything
// the protocol forbids; the test checks completeness afterwards.
func (s *rawSubscriber) run(ctx context.Context) error {
	lastID := ""
	failures := 0
	firstSeen := false
	for ctx.Err() == nil {
		st, err := dialSSE(ctx, s.client, s.url, lastID)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The server is down for its restart, or just went. Wait until
			// the test says it is up; a client that fails while the server
			// is up keeps trying a bounded number of times.
			if failures++; failures > 50 {
				return fmt.Errorf("cannot reconnect: %w", err)
			}
			select {
			case <-s.up.Wait():
			case <-ctx.Done():
				return nil
			}
			continue
		}
		failures = 0
		s.conns++
		// How many blocks to read before dropping: 0 drops right after the
		// first one (a replayed event or the position block).
		budget := s.rng.IntN(61)
		read := 0
		sentID := lastID
		for {
			b, err := st.Next()
			if err != nil {
				if ctx.Err() == nil {
					s.serverEnds++ // shutdown or eviction: resume
				}
				break
			}
			if !firstSeen {
				firstSeen = true
				close(s.first)
			}
			if b.HasRetry {
				s.retries++
				if s.minRetry < 0 || b.Retry < s.minRetry {
					s.minRetry = b.Retry
				}
				s.maxRetry = max(s.maxRetry, b.Retry)
			}
			switch {
			case b.Event == views.EventResync:
				st.Close()
				return fmt.Errorf("resumed with %q and got a resync (id %q): the position should have been replayed", sentID, b.ID)
			case b.Event == views.EventRetry:
				if !b.HasRetry || b.HasID {
					st.Close()
					return fmt.Errorf("%s event %+v: want a retry field and no id", b.Event, b)
				}
				continue // the retry hint, named for htmx
			case b.Event != "":
				st.Close()
				return fmt.Errorf("unexpected event %q", b.Event)
			case b.HasData:
				if !b.HasID {
					st.Close()
					return fmt.Errorf("activity event without an id: %q", b.Data)
				}
				epoch, pos, ok := live.ParseID(b.ID)
				if !ok {
					st.Close()
					return fmt.Errorf("activity event with id %q", b.ID)
				}
				s.got = append(s.got, delivery{Epoch: epoch, Position: pos, Data: b.Data})
				s.last.Store(pos)
				select {
				case s.progress <- struct{}{}:
				default:
				}
			case b.HasID:
				s.positionBlocks++
			default:
				continue // a heartbeat or a retry hint alone
			}
			if read++; read > budget {
				s.drops++
				break
			}
		}
		st.Close()
		if st.LastID != "" {
			lastID = st.LastID // the id of the last complete block
		}
	}
	return nil
}

// waitPosition waits until a subscriber's newest position reaches want, or
// its run ends, or the deadline passes.
func waitPosition(t *testing.T, what string, last *atomic.Int64, progress <-chan struct{}, done <-chan error, want int64) {
	t.Helper()
	deadline := time.NewTimer(3 * time.Minute)
	defer deadline.Stop()
	for last.Load() < want {
		select {
		case <-progress:
		case err := <-done:
			t.Fatalf("%s stopped at position %d of %d: %v", what, last.Load(), want, err)
		case <-deadline.C:
			t.Fatalf("%s is at position %d, want %d: not within 3 minutes", what, last.Load(), want)
		}
	}
}

func TestResumeWithoutLossRaw(t *testing.T) {
	const (
		total        = 1000
		restartAfter = 500
		posters      = 4
	)
	began := time.Now()
	in := start(t, "", "")
	up := newUpSignal()
	sub := newRawSubscriber(streamClient(t), liveURL(in.URL, views.TopicActivity), 1, up)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sub.run(ctx) }()
	// The first connection is made before anything is posted: this test is
	// about resuming; TestResumePointOfFreshStream is about a fresh start.
	select {
	case <-sub.first:
	case err := <-done:
		t.Fatalf("subscriber: %v", err)
	}

	pub := newPublisher(t, posters)
	postAt := time.Now()
	pub.Post(in.URL, 1, restartAfter)
	t.Logf("posted %d in %v", restartAfter, time.Since(postAt).Round(time.Millisecond))

	// Restart on the same file and address, as a deploy would, while the
	// subscriber is somewhere in the middle.
	up.Down()
	stopAt := time.Now()
	in.Stop(t)
	in = start(t, in.DB, in.Addr)
	t.Logf("restart took %v", time.Since(stopAt).Round(time.Millisecond))
	up.Up()

	postAt = time.Now()
	pub.Post(in.URL, restartAfter+1, total)
	t.Logf("posted %d in %v", total-restartAfter, time.Since(postAt).Round(time.Millisecond))
	posted := pub.Positions()
	if len(posted) == 0 {
		t.Fatal("nothing was posted")
	}
	waitAt := time.Now()
	waitPosition(t, "subscriber", &sub.last, sub.progress, done, posted[len(posted)-1])
	t.Logf("subscriber caught up %v after the last POST", time.Since(waitAt).Round(time.Millisecond))
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	in.Stop(t)

	checkDelivered(t, sub.got, storedActivities(t, in.DB), pub, total)
	t.Logf("%d deliveries over %d connections: %d dropped by the client, %d ended by the server, %d position blocks, %d retry hints (%d–%d ms); took %v",
		len(sub.got), sub.conns, sub.drops, sub.serverEnds, sub.positionBlocks, sub.retries, sub.minRetry, sub.maxRetry,
		time.Since(began).Round(time.Millisecond))
}

// TestResumeWithoutLossR3labs follows the stream with github.com/r3labs/sse/v2,
// the Go client Beacon's tools use. What it showed about that client:
//
//   - It sends Last-Event-ID by itself (Client.LastEventID) on every request,
//     also after its backoff reconnects, and keeps it across Subscribe calls.
//   - It hands an id-only block (Beacon's position block) to the handler as an
//     event with an ID and no Data, and stores its id. A heartbeat (a lone
//     comment) and a retry hint are handed over too, with the previous ID
//     copied into them; the retry value is not used for its reconnect delay.
//   - It reconnects only after an error. When the server ends a stream
//     cleanly (Beacon's shutdown: retry hint, then end), Subscribe returns nil
//     and the caller must subscribe again. A cancelled context also ends in a
//     nil return, but an expired deadline is an error it retries, with a
//     request that fails at once, for the 15 minutes of its default backoff:
//     give it a ReconnectStrategy bound to the context (backoff.WithContext),
//     as below.
//   - After a read error (a cancelled context here, a broken connection in
//     life) it hands over the bytes read so far as a complete event, and
//     stores their id: an activity cut off after "id: …" or halfway through
//     its data becomes the client's resume point, and the resumed stream
//     starts after an event the client never fully received. The spec says
//     such an incomplete event is discarded. So after dropping a connection
//     this test trusts nothing more from it and puts back the id of the last
//     event it accepted; no client can do that for a connection that breaks.
func TestResumeWithoutLossR3labs(t *testing.T) {
	const (
		total        = 300
		restartAfter = 150
		posters      = 4
	)
	began := time.Now()
	in := start(t, "", "")
	client := sse.NewClient(liveURL(in.URL, views.TopicActivity))
	client.Connection = streamClient(t)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var last atomic.Int64
	progress := make(chan struct{}, 1)
	first := make(chan struct{})
	done := make(chan error, 1)
	// Owned by the subscriber goroutine until done.
	var (
		got                                  []delivery
		subscribes, reconnects, serverEnds   int
		positionBlocks, retries              int
		afterDrop, truncated, restoredBefore int
		returned                             = map[string]int{}
	)
	go func() {
		rng := rand.New(rand.NewPCG(2, 3))
		firstSeen := false
		trusted := "" // id of the last event accepted
		for ctx.Err() == nil {
			// One subscription lasts until the handler drops it (cancels
			// its context) or the server ends the stream.
			sctx, drop := context.WithCancel(ctx)
			b := backoff.NewExponentialBackOff()
			b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 20*time.Millisecond, 500*time.Millisecond, 0
			client.ReconnectStrategy = backoff.WithContext(b, sctx)
			client.ReconnectNotify = func(error, time.Duration) { reconnects++ }
			budget := rng.IntN(61)
			n := 0
			var problem error
			subscribes++
			err := client.SubscribeRawWithContext(sctx, func(msg *sse.Event) {
				if !firstSeen {
					firstSeen = true
					close(first)
				}
				if sctx.Err() != nil {
					// Read after the drop: possibly cut off, see above.
					afterDrop++
					if len(msg.Data) > 0 && !strings.HasSuffix(string(msg.Data), "</hx-partial>") {
						truncated++
					}
					return
				}
				switch {
				case len(msg.Retry) > 0:
					retries++
					return
				case len(msg.Event) > 0:
					problem = fmt.Errorf("event %q (id %q) after resuming from %q", msg.Event, msg.ID, trusted)
					drop()
					return
				case len(msg.Data) == 0:
					positionBlocks++ // or a heartbeat, with the previous id
				default:
					epoch, pos, ok := live.ParseID(string(msg.ID))
					if !ok {
						problem = fmt.Errorf("activity with id %q", msg.ID)
						drop()
						return
					}
					got = append(got, delivery{Epoch: epoch, Position: pos, Data: string(msg.Data)})
					last.Store(pos)
					select {
					case progress <- struct{}{}:
					default:
					}
				}
				trusted = string(msg.ID)
				if n++; n > budget {
					drop()
				}
			})
			if sctx.Err() == nil {
				serverEnds++ // the server ended the stream and r3labs returned
			} else if id, _ := client.LastEventID.Load().([]byte); string(id) != trusted {
				restoredBefore++
			}
			drop()
			client.LastEventID.Store([]byte(trusted))
			key := "<nil>"
			if err != nil {
				key = err.Error()
			}
			returned[key]++
			if problem != nil {
				done <- problem
				return
			}
		}
		done <- nil
	}()
	select {
	case <-first:
	case err := <-done:
		t.Fatalf("subscriber: %v", err)
	}

	pub := newPublisher(t, posters)
	pub.Post(in.URL, 1, restartAfter)
	stopAt := time.Now()
	in.Stop(t)
	in = start(t, in.DB, in.Addr)
	t.Logf("restart took %v", time.Since(stopAt).Round(time.Millisecond))
	pub.Post(in.URL, restartAfter+1, total)

	posted := pub.Positions()
	waitPosition(t, "r3labs subscriber", &last, progress, done, posted[len(posted)-1])
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	in.Stop(t)

	checkDelivered(t, got, storedActivities(t, in.DB), pub, total)
	t.Logf("%d deliveries over %d subscriptions (%d ended by the server), %d reconnects by r3labs' backoff, %d position blocks, %d retry hints; "+
		"after a drop r3labs handed over %d more events, %d of them cut off, and its LastEventID had moved past the last accepted event %d times; Subscribe returned %v; took %v",
		len(got), subscribes, serverEnds, reconnects, positionBlocks, retries, afterDrop, truncated, restoredBefore, returned,
		time.Since(began).Round(time.Millisecond))
}

// readUntil reads blocks until one satisfies stop, and returns them all.
func readUntil(t *testing.T, st *sseStream, stop func(sseBlock) bool) []sseBlock {
	t.Helper()
	var out []sseBlock
	for {
		b, err := st.Next()
		if err != nil {
			t.Fatalf("stream ended after %d blocks %+v: %v", len(out), out, err)
		}
		out = append(out, b)
		if stop(b) {
			return out
		}
	}
}

// isPositionBlock reports whether b is Beacon's id-only position block.
func isPositionBlock(b sseBlock) bool { return b.HasID && !b.HasData && b.Event == "" && !b.HasRetry }

// openStream dials a stream that the test closes, with a generous deadline
// so that a silent server fails the test instead of hanging it.
func openStream(t *testing.T, url, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	st, err := dialSSE(ctx, streamClient(t), url, lastID)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); cancel() })
	return st
}

// epochOf opens a fresh stream and returns the epoch of its position block.
func epochOf(t *testing.T, base string) (string, int64) {
	t.Helper()
	st := openStream(t, liveURL(base, views.TopicActivity), "")
	b := readUntil(t, st, func(sseBlock) bool { return true })[0]
	if !isPositionBlock(b) {
		t.Fatalf("a fresh stream starts with %+v, want an id-only position block", b)
	}
	st.Close()
	return mustParseID(t, b.ID)
}

func TestResumeFromAnotherEpoch(t *testing.T) {
	t.Run("wrong epoch", func(t *testing.T) {
		in := start(t, "", "")
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 1; i <= 3; i++ {
			if _, err := postActivity(c, in.URL, fmt.Sprintf("before %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		epoch, head := epochOf(t, in.URL)
		if head != 3 {
			t.Fatalf("position block of a fresh stream says %d, want 3", head)
		}
		if epoch == "deadbeefdeadbeef" {
			t.Fatal("the database's epoch is the test's wrong one")
		}

		st := openStream(t, liveURL(in.URL, views.TopicActivity), "deadbeefdeadbeef-5")
		blocks := readUntil(t, st, func(b sseBlock) bool { return b.Event == views.EventResync })
		resync := blocks[len(blocks)-1]
		if e, pos := mustParseID(t, resync.ID); e != epoch || pos != 3 {
			t.Errorf("resync id %q, want %s-3", resync.ID, epoch)
		}
		if len(blocks) < 2 || !blocks[0].HasData || blocks[0].HasID {
			t.Fatalf("resync stream: %+v; want the re-rendered feed (data, no id) before the resync event", blocks)
		}
		if got := itemPositions(blocks[0].Data); !slices.Equal(got, []int64{3, 2, 1}) {
			t.Errorf("re-rendered feed holds items %v, want [3 2 1]", got)
		}
		if _, err := postActivity(c, in.URL, "after resync"); err != nil {
			t.Fatal(err)
		}
		ev, err := st.NextEvent()
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != epoch+"-4" || !strings.Contains(ev.Data, "after resync") || !slices.Equal(itemPositions(ev.Data), []int64{4}) {
			t.Errorf("after the resync got %+v, want the new activity with id %s-4", ev, epoch)
		}
	})

	t.Run("older than retention", func(t *testing.T) {
		in := start(t, "", "", "--retention", "10")
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 1; i <= 50; i++ {
			if _, err := postActivity(c, in.URL, fmt.Sprintf("item %02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		epoch, _ := epochOf(t, in.URL)

		st := openStream(t, liveURL(in.URL, views.TopicActivity), epoch+"-1")
		blocks := readUntil(t, st, func(b sseBlock) bool { return b.Event == views.EventResync || isPositionBlock(b) })
		resync := blocks[len(blocks)-1]
		if resync.Event != views.EventResync {
			t.Fatalf("resuming from position 1 with retention 10 after 50 events: got %+v, want a resync", blocks)
		}
		if resync.ID != epoch+"-50" {
			t.Errorf("resync id %q, want %s-50", resync.ID, epoch)
		}
		for _, b := range blocks[:len(blocks)-1] {
			if b.HasID {
				t.Errorf("before the resync event a block with id %q: nothing may be replayed from a pruned log", b.ID)
			}
		}
		if _, err := postActivity(c, in.URL, "after resync"); err != nil {
			t.Fatal(err)
		}
		if ev, err := st.NextEvent(); err != nil || ev.ID != epoch+"-51" || !strings.Contains(ev.Data, "after resync") {
			t.Errorf("after the resync got %+v, %v; want the new activity with id %s-51", ev, err, epoch)
		}

		// The same stream from a position still kept is replayed, not
		// re-rendered: the boundary is retention, not any gap.
		st = openStream(t, liveURL(in.URL, views.TopicActivity), epoch+"-45")
		blocks = readUntil(t, st, isPositionBlock)
		var replayed []int64
		for _, b := range blocks {
			if b.Event != "" {
				t.Errorf("resuming from 45: unexpected event %q", b.Event)
			}
			if b.HasData {
				replayed = append(replayed, itemPositions(b.Data)...)
			}
		}
		if want := []int64{46, 47, 48, 49, 50, 51}; !slices.Equal(replayed, want) {
			t.Errorf("resuming from 45 replayed %v, want %v", replayed, want)
		}
	})

	t.Run("after parameter", func(t *testing.T) {
		in := start(t, "", "")
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		for i := 1; i <= 5; i++ {
			if _, err := postActivity(c, in.URL, fmt.Sprintf("item %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		epoch, _ := epochOf(t, in.URL)
		replayed := func(url, lastID string) (ids []string) {
			t.Helper()
			st := openStream(t, url, lastID)
			for _, b := range readUntil(t, st, isPositionBlock) {
				if b.Event != "" {
					t.Errorf("unexpected event %q", b.Event)
				}
				ids = append(ids, b.ID)
			}
			st.Close()
			return ids
		}
		id := func(pos int) string { return epoch + "-" + strconv.Itoa(pos) }

		// The page's render position, with no Last-Event-ID.
		got := replayed(liveURL(in.URL, views.TopicActivity, "after", id(2)), "")
		if want := []string{id(3), id(4), id(5), id(5)}; !slices.Equal(got, want) {
			t.Errorf("?after=%s: ids %v, want %v (three events, then the position block)", id(2), got, want)
		}
		// A reconnecting browser sends Last-Event-ID and still has the old
		// URL: the header is newer and wins.
		got = replayed(liveURL(in.URL, views.TopicActivity, "after", id(1)), id(4))
		if want := []string{id(5), id(5)}; !slices.Equal(got, want) {
			t.Errorf("?after=%s with Last-Event-ID %s: ids %v, want %v", id(1), id(4), got, want)
		}
	})
}

// keepPosting posts activities from two posters until the test ends, and
// reports the first error on the returned channel. The posters are stopped
// and waited for in t.Cleanup.
func keepPosting(t *testing.T, base string) <-chan error {
	stop := make(chan struct{})
	var posting sync.WaitGroup
	postErr := make(chan error, 2)
	pub := newPublisher(t, 2)
	for w := range 2 {
		posting.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := postActivity(pub.client, base, fmt.Sprintf("poster %d item %d", w, i)); err != nil {
					postErr <- err
					return
				}
			}
		})
	}
	t.Cleanup(func() {
		close(stop)
		posting.Wait()
		pub.client.CloseIdleConnections()
	})
	return postErr
}

// TestResumePointOfFreshStream checks the promise "every stream starts by
// telling the client its position, so a client that saw no event yet can
// still come back without a gap" while events are being published: the
// first activity after a fresh stream's position block P must be P+1 (no
// write fails here, so positions are contiguous). Otherwise the events
// between P and the first one sent are neither sent on this stream nor
// replayed to the client, which believes it is at P.
func TestResumePointOfFreshStream(t *testing.T) {
	const streams = 200
	in := start(t, "", "")

	postErr := keepPosting(t, in.URL)

	var gaps []string
	for range streams {
		st := openStream(t, liveURL(in.URL, views.TopicActivity), "")
		// Read until the position block and the first activity after it.
		// Every id must follow from the one before: an event is the next
		// position, the position block repeats the last event's (if the
		// stream had sent any before it).
		var prev int64 = -1
		sawPosition := false
		for {
			b, err := st.Next()
			if err != nil {
				select {
				case perr := <-postErr:
					t.Fatalf("posting failed: %v", perr)
				default:
				}
				t.Fatal(err)
			}
			if !b.HasID {
				t.Fatalf("fresh stream: block without an id %+v", b)
			}
			_, pos := mustParseID(t, b.ID)
			switch {
			case isPositionBlock(b):
				if prev >= 0 && pos != prev {
					gaps = append(gaps, fmt.Sprintf("event %d, then the position block said %d", prev, pos))
				}
				sawPosition = true
			case b.HasData && b.Event == "":
				if prev >= 0 && pos != prev+1 {
					gaps = append(gaps, fmt.Sprintf("at position %d, then event %d: %d event(s) never sent on this stream", prev, pos, pos-prev-1))
				}
			default:
				t.Fatalf("fresh stream: unexpected block %+v", b)
			}
			prev = pos
			if sawPosition && b.HasData {
				break
			}
		}
		st.Close()
	}
	for i, g := range gaps {
		if i < 10 {
			t.Errorf("fresh stream: %s", g)
		}
	}
	if len(gaps) > 0 {
		t.Errorf("%d of %d fresh streams skipped events after telling the client its position", len(gaps), streams)
	}
}

// TestLiveBadInput checks that /live refuses what it cannot serve with a
// status and a message that name the problem, as JSON for an event-stream or
// JSON client and as HTML for a browser tab.
func TestLiveBadInput(t *testing.T) {
	in := start(t, "", "")
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
	many := make([]string, 17)
	for i := range many {
		many[i] = "t" + strconv.Itoa(i)
	}
	copy(many, []string{views.TopicMetrics, views.TopicChart, views.TopicActivity})
	for _, tc := range []struct {
		name, query string
		status      int
		mention     []string
	}{
		{"no topics", "", http.StatusBadRequest, []string{"topics"}},
		{"empty topics", "?topics=", http.StatusBadRequest, []string{"topics"}},
		{"unknown topic", "?topics=nope", http.StatusNotFound, []string{"topics", "nope"}},
		{"one unknown among known", "?topics=activity,bogus", http.StatusNotFound, []string{"bogus"}},
		{"17 topics", "?topics=" + strings.Join(many, ","), http.StatusBadRequest, []string{"topics", "16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, accept := range []string{"text/event-stream", "application/json", "text/html"} {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, in.URL+"/live"+tc.query, nil)
				req.Header.Set("Accept", accept)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Errorf("Accept %s: status %d, want %d: %s", accept, resp.StatusCode, tc.status, body)
				}
				ct := resp.Header.Get("Content-Type")
				if strings.HasPrefix(ct, "text/event-stream") {
					t.Errorf("Accept %s: an error answered as an event stream", accept)
				}
				if accept == "text/html" {
					if !strings.HasPrefix(ct, "text/html") {
						t.Errorf("Accept %s: Content-Type %q, want HTML", accept, ct)
					}
				} else {
					var e struct{ Error, Field string }
					if err := json.Unmarshal(body, &e); err != nil || e.Field != "topics" || e.Error == "" {
						t.Errorf("Accept %s: body %s (%v), want JSON {error, field: topics}", accept, body, err)
					}
				}
				for _, m := range tc.mention {
					if !strings.Contains(string(body), m) {
						t.Errorf("Accept %s: the message does not mention %q: %s", accept, m, body)
					}
				}
			}
		})
	}
	if n, err := metricValue(c, in.URL, `beacon_live_connections{transport="sse"}`); err != nil || n != 0 {
		t.Errorf("after only bad requests the server counts %v live connections (%v), want 0", n, err)
	}
}

// TestResumeResyncSnapshotIsConsistent resyncs streams while activities are
// being posted. The re-rendered feed and the position in the resync id must
// be read at the same moment: an item newer than that position is sent again
// as a live event right after (the page shows it twice, with the same DOM
// id), and an item missing at or before it is never sent at all.
func TestResumeResyncSnapshotIsConsistent(t *testing.T) {
	const streams = 100
	in := start(t, "", "")
	postErr := keepPosting(t, in.URL)

	var problems []string
	for range streams {
		st := openStream(t, liveURL(in.URL, views.TopicActivity), "deadbeefdeadbeef-1")
		blocks := readUntil(t, st, func(b sseBlock) bool { return b.Event == views.EventResync })
		_, at := mustParseID(t, blocks[len(blocks)-1].ID)
		var items []int64
		for _, b := range blocks[:len(blocks)-1] {
			items = append(items, itemPositions(b.Data)...)
		}
		// Positions are contiguous here (no write fails), and the feed
		// shows the newest ones: exactly at, at-1, … down to at-len+1.
		for i, p := range items {
			if want := at - int64(i); p != want {
				problems = append(problems, fmt.Sprintf("resync at %d re-rendered items %v", at, items))
				break
			}
		}
		if at > 0 && len(items) == 0 {
			problems = append(problems, fmt.Sprintf("resync at %d re-rendered no items", at))
		}
		st.Close()
	}
	select {
	case err := <-postErr:
		t.Fatalf("posting failed: %v", err)
	default:
	}
	for i, p := range problems {
		if i < 10 {
			t.Error(p)
		}
	}
	if len(problems) > 0 {
		t.Errorf("%d of %d resyncs re-rendered a feed that does not match their position", len(problems), streams)
	}
}
