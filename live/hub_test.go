package live

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// newTestHub returns a hub with classifyTest, testEpoch and its own metrics.
func newTestHub(t testing.TB, cfg HubConfig) *Hub {
	t.Helper()
	if cfg.Classify == nil {
		cfg.Classify = classifyTest
	}
	if cfg.Epoch == "" {
		cfg.Epoch = testEpoch
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	h := NewHub(cfg)
	t.Cleanup(h.Close)
	return h
}

func subscribe(t testing.TB, h *Hub, user string, topics ...string) *Subscriber {
	t.Helper()
	s := h.Subscribe(topics, user)
	if s == nil {
		t.Fatal("Subscribe returned nil on an open hub")
	}
	t.Cleanup(func() { h.Unsubscribe(s) })
	return s
}

// watch gives s a link that nobody serves, for woken to read: its wake-ups
// wait in its kick channel, one at most, as those of a link served by a
// handler's goroutine do.
func watch(s *Subscriber) *Subscriber {
	s.link.Store(&link{kick: make(chan struct{}, 1)})
	return s
}

// woken reports whether s, watched, has a wake-up pending, and consumes it.
func woken(s *Subscriber) bool {
	select {
	case <-s.link.Load().kick:
		return true
	default:
		return false
	}
}

func logFrame(topic string, pos int64) Frame {
	return Frame{Topic: topic, Position: pos, Data: []byte("frame " + strconv.FormatInt(pos, 10))}
}

func positionsOf(msgs []*message) []int64 {
	var out []int64
	for _, m := range msgs {
		if m.class == Log {
			out = append(out, m.Position)
		}
	}
	return out
}

func seq(from, to int64) []int64 {
	var out []int64
	for p := from; p <= to; p++ {
		out = append(out, p)
	}
	return out
}

func TestHubStateConflates(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	s := watch(subscribe(t, h, "", "s:metrics", "s:chart"))
	other := subscribe(t, h, "", "s:chart")

	for i := range 5 {
		h.Publish(Frame{Topic: "s:metrics", Data: fmt.Appendf(nil, "m%d", i)})
	}
	for i := range 3 {
		h.Publish(Frame{Topic: "s:chart", Data: fmt.Appendf(nil, "c%d", i)})
	}
	if !woken(s) {
		t.Fatal("no wake-up after publishes")
	}
	if woken(s) {
		t.Fatal("a second wake-up token: wake must hold at most one")
	}
	got, ping, evicted := s.take(nil)
	if ping || evicted {
		t.Fatalf("take: ping %v evicted %v", ping, evicted)
	}
	var wire []string
	for _, m := range got {
		wire = append(wire, string(m.sse))
	}
	// Only the newest frame per topic; state frames carry no id.
	want := []string{"data: m4\n\n", "data: c2\n\n"}
	if !slices.Equal(wire, want) {
		t.Fatalf("took %q, want %q", wire, want)
	}
	if got, _, _ := s.take(nil); len(got) != 0 {
		t.Fatalf("second take returned %d frames", len(got))
	}
	// A subscriber of one topic is not handed the other.
	got, _, _ = other.take(nil)
	if len(got) != 1 || string(got[0].Data) != "c2" {
		t.Fatalf("other subscriber took %v", got)
	}
}

func TestHubNewSubscriberGetsLatestState(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	h.Publish(Frame{Topic: "s:metrics", Data: []byte("old")})
	h.Publish(Frame{Topic: "s:metrics", Data: []byte("new")})
	h.Publish(logFrame("log:a", 1)) // a log topic keeps no latest frame

	s := subscribe(t, h, "", "s:metrics", "log:a", "s:never")
	h.attachLink(s, &link{kick: make(chan struct{}, 1)})
	if !woken(s) {
		t.Fatal("a new subscriber with a pending state frame was not woken when its link was attached")
	}
	got, _, _ := s.take(nil)
	if len(got) != 1 || string(got[0].Data) != "new" || got[0].Topic != "s:metrics" {
		t.Fatalf("new subscriber took %v, want only the newest s:metrics frame", got)
	}
}

func TestHubLogFramesInOrder(t *testing.T) {
	h := newTestHub(t, HubConfig{QueueLen: 1000})
	s := subscribe(t, h, "", "log:a", "log:b", "s:x")
	var want []int64
	for p := int64(1); p <= 300; p++ {
		topic := []string{"log:a", "log:b", "log:c"}[p%3]
		h.Publish(logFrame(topic, p))
		if topic != "log:c" {
			want = append(want, p)
		}
		if p%7 == 0 {
			h.Publish(Frame{Topic: "s:x", Data: []byte("state")})
		}
	}
	var got []*message
	// Take in several rounds, as a writer does.
	for i := 0; i < 3; i++ {
		got, _, _ = s.take(got)
		h.Publish(logFrame("log:a", int64(301+i)))
		want = append(want, int64(301+i))
	}
	got, _, _ = s.take(got)
	if pos := positionsOf(got); !slices.Equal(pos, want) {
		t.Fatalf("took positions %v,\nwant %v", pos, want)
	}
	for _, m := range got {
		if m.class != Log {
			continue
		}
		if wantSSE := fmt.Sprintf("id: %s-%d\ndata: frame %d\n\n", testEpoch, m.Position, m.Position); string(m.sse) != wantSSE {
			t.Fatalf("frame %d encoded as %q, want %q", m.Position, m.sse, wantSSE)
		}
	}
}

func TestHubQueueOverflowEvicts(t *testing.T) {
	h := newTestHub(t, HubConfig{QueueLen: 4})
	slow := subscribe(t, h, "", "log:a", "s:x")
	fast := subscribe(t, h, "", "log:a")
	var fastGot []*message

	h.Publish(Frame{Topic: "s:x", Data: []byte("state")})
	for p := int64(1); p <= 4; p++ {
		h.Publish(logFrame("log:a", p))
		fastGot, _, _ = fast.take(fastGot)
	}
	slow.mu.Lock()
	full, evictedEarly := len(slow.log), slow.evicted
	slow.mu.Unlock()
	if full != 4 || evictedEarly {
		t.Fatalf("after QueueLen frames: queued %d, evicted %v; want 4 queued, not evicted", full, evictedEarly)
	}

	h.Publish(logFrame("log:a", 5)) // one more than QueueLen
	fastGot, _, _ = fast.take(fastGot)
	h.Publish(logFrame("log:a", 6)) // after the eviction
	fastGot, _, fastEvicted := fast.take(fastGot)

	if got := counterValue(t, h.cfg.Metrics.evicted); got != 1 {
		t.Fatalf("evicted counter = %v, want 1", got)
	}
	got, _, evicted := slow.take(nil)
	if !evicted {
		t.Fatal("a subscriber whose queue overflowed is not reported evicted")
	}
	if pos := positionsOf(got); len(pos) != 0 {
		t.Fatalf("evicted subscriber still took log frames %v: its queue must be dropped", pos)
	}
	if len(got) != 1 || got[0].Topic != "s:x" {
		t.Fatalf("evicted subscriber took %v, want only its pending state frame", got)
	}
	if _, _, evicted := slow.take(nil); !evicted {
		t.Fatal("eviction is not sticky")
	}
	// The other subscriber of the topic lost nothing.
	if fastEvicted {
		t.Fatal("the reader that kept up was evicted")
	}
	if pos := positionsOf(fastGot); !slices.Equal(pos, seq(1, 6)) {
		t.Fatalf("the reader that kept up took %v, want 1..6", pos)
	}
}

func TestSubscriberSkipThrough(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	s := subscribe(t, h, "", "log:a")
	for p := int64(1); p <= 5; p++ {
		h.Publish(logFrame("log:a", p))
	}
	s.skipThrough(3)
	s.skipThrough(2) // lower than before: no effect
	h.Publish(logFrame("log:a", 2))
	h.Publish(logFrame("log:a", 3))
	h.Publish(logFrame("log:a", 6))
	got, _, _ := s.take(nil)
	if pos := positionsOf(got); !slices.Equal(pos, []int64{4, 5, 6}) {
		t.Fatalf("after skipThrough(3) took %v, want [4 5 6]", pos)
	}
	// A take moves the same mark: a repeat of the last frame is dropped.
	h.Publish(logFrame("log:a", 6))
	h.Publish(logFrame("log:a", 7))
	got, _, _ = s.take(nil)
	if pos := positionsOf(got); !slices.Equal(pos, []int64{7}) {
		t.Fatalf("after taking 6 took %v, want [7]", pos)
	}
	// skipThrough past everything queued empties the queue.
	h.Publish(logFrame("log:a", 8))
	s.skipThrough(100)
	if got, _, _ := s.take(nil); len(got) != 0 {
		t.Fatalf("after skipThrough(100) took %v", positionsOf(got))
	}
}

func TestHubUnsubscribe(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	a := watch(h.Subscribe([]string{"log:a", "s:x"}, "ann"))
	b := subscribe(t, h, "bob", "log:a")
	if n, u := h.Counts(); n != 2 || u != 2 {
		t.Fatalf("Counts = %d, %d; want 2, 2", n, u)
	}
	h.Unsubscribe(a)
	h.Unsubscribe(a) // safe, and counts only once
	if n, u := h.Counts(); n != 1 || u != 1 {
		t.Fatalf("after Unsubscribe twice Counts = %d, %d; want 1, 1", n, u)
	}
	h.Publish(logFrame("log:a", 1))
	h.Publish(Frame{Topic: "s:x", Data: []byte("x")})
	if woken(a) {
		t.Fatal("an unsubscribed subscriber was woken")
	}
	if got, _, _ := a.take(nil); len(got) != 0 {
		t.Fatalf("an unsubscribed subscriber got %d frames", len(got))
	}
	if got, _, _ := b.take(nil); !slices.Equal(positionsOf(got), []int64{1}) {
		t.Fatalf("the remaining subscriber took %v", positionsOf(got))
	}
	h.Unsubscribe(b)
	h.mu.RLock()
	left := len(h.topics)
	h.mu.RUnlock()
	if left != 0 {
		t.Fatalf("%d topics left in the index after everyone left", left)
	}
}

func TestHubSubscribeAfterClose(t *testing.T) {
	h := NewHub(HubConfig{})
	s := h.Subscribe([]string{"s:x"}, "ann")
	h.Close()
	select {
	case <-h.Shutdown():
	default:
		t.Fatal("Shutdown channel open after Close")
	}
	if got := h.Subscribe([]string{"s:x"}, "bob"); got != nil {
		t.Fatal("Subscribe after Close returned a subscriber")
	}
	h.Close() // a second Close returns
	h.Unsubscribe(s)
	if n, u := h.Counts(); n != 0 || u != 0 {
		t.Fatalf("Counts = %d, %d after Close and Unsubscribe", n, u)
	}
}

func TestHubDropsUnpublishableFrames(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	s := watch(subscribe(t, h, "", "log:a", "s:x"))
	h.Publish(Frame{Topic: "log:a", Data: []byte("no position")})
	h.Publish(Frame{Topic: "log:a", Position: -3, Data: []byte("negative")})
	h.Publish(Frame{Topic: "s:x", Event: "bad\nname", Data: []byte("x")})
	h.Publish(Frame{Topic: "log:a", Position: 1, Event: "bad\r", Data: []byte("x")})
	if woken(s) {
		t.Fatal("a dropped frame woke the subscriber")
	}
	if got, _, _ := s.take(nil); len(got) != 0 {
		t.Fatalf("took %d dropped frames", len(got))
	}
	if h.Published() != 0 {
		t.Fatalf("Published = %d, want 0", h.Published())
	}
	if got := counterValue(t, h.cfg.Metrics.dropped); got != 4 {
		t.Fatalf("dropped counter = %v, want 4", got)
	}
	// A frame that is dropped does not become a State topic's latest value.
	late := subscribe(t, h, "", "s:x")
	if got, _, _ := late.take(nil); len(got) != 0 {
		t.Fatalf("a dropped state frame was kept as latest: %q", got[0].sse)
	}
	h.Publish(logFrame("log:a", 1))
	if h.Published() != 1 {
		t.Fatalf("Published = %d, want 1", h.Published())
	}
}

func TestHubCountsDistinctUsers(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	ann1 := h.Subscribe([]string{"s:x"}, "ann")
	ann2 := h.Subscribe([]string{"s:y"}, "ann")
	ann3 := h.Subscribe([]string{"s:x", "s:y"}, "ann")
	bob := h.Subscribe([]string{"s:x"}, "bob")
	anon1 := h.Subscribe([]string{"s:x"}, "")
	anon2 := h.Subscribe([]string{"s:x"}, "")
	check := func(wantSubs, wantUsers int) {
		t.Helper()
		if n, u := h.Counts(); n != wantSubs || u != wantUsers {
			t.Fatalf("Counts = %d, %d; want %d, %d", n, u, wantSubs, wantUsers)
		}
	}
	check(6, 2)
	h.Unsubscribe(ann1)
	h.Unsubscribe(ann2)
	check(4, 2)
	h.Unsubscribe(ann3)
	check(3, 1)
	h.Unsubscribe(anon1)
	h.Unsubscribe(anon2)
	check(1, 1)
	h.Unsubscribe(bob)
	check(0, 0)
}

func TestHubHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHub(HubConfig{Heartbeat: time.Second})
		defer h.Close()
		s := watch(h.Subscribe([]string{"s:x"}, ""))

		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		if woken(s) {
			t.Fatal("woken before the first heartbeat")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if !woken(s) {
			t.Fatal("not woken by the heartbeat")
		}
		if got, ping, _ := s.take(nil); !ping || len(got) != 0 {
			t.Fatalf("take after a heartbeat: ping %v, %d frames", ping, len(got))
		}
		if _, ping, _ := s.take(nil); ping {
			t.Fatal("one heartbeat reported twice")
		}

		// Pings that the writer has not taken yet coalesce into one.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if !woken(s) || woken(s) {
			t.Fatal("want exactly one wake-up token after three heartbeats")
		}
		if _, ping, _ := s.take(nil); !ping {
			t.Fatal("no ping after three heartbeats")
		}

		// An unsubscribed subscriber is not pinged.
		h.Unsubscribe(s)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if woken(s) {
			t.Fatal("an unsubscribed subscriber was pinged")
		}

		// Close stops the heartbeat goroutine; synctest.Test fails if a
		// goroutine of the bubble is left running.
		h.Close()
	})
}

// TestHubConcurrentSubscribeState checks the promise of Publish's write lock:
// a subscriber that joins while a state topic is being published ends with
// the newest frame, never an older one and never none.
func TestHubConcurrentSubscribeState(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	const frames = 2000
	var wg sync.WaitGroup
	subs := make(chan *Subscriber, 200)
	wg.Go(func() {
		for i := 1; i <= frames; i++ {
			h.Publish(Frame{Topic: "s:x", Data: []byte(strconv.Itoa(i))})
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				subs <- h.Subscribe([]string{"s:x"}, "")
			}
		})
	}
	wg.Wait()
	close(subs)
	for s := range subs {
		got, _, _ := s.take(nil)
		if len(got) != 1 || string(got[0].Data) != strconv.Itoa(frames) {
			var data []string
			for _, m := range got {
				data = append(data, string(m.Data))
			}
			t.Fatalf("a subscriber that joined during publishing holds %q, want [%d]", data, frames)
		}
		h.Unsubscribe(s)
	}
}

// TestHubConcurrentSubscribeLog checks that a subscriber joining a log topic
// while it is published gets an unbroken run of frames up to the newest.
func TestHubConcurrentSubscribeLog(t *testing.T) {
	h := newTestHub(t, HubConfig{QueueLen: 4096})
	const frames = 2000
	var wg sync.WaitGroup
	subs := make(chan *Subscriber, 200)
	wg.Go(func() {
		for p := int64(1); p <= frames; p++ {
			h.Publish(logFrame("log:a", p))
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				subs <- h.Subscribe([]string{"log:a"}, "")
			}
		})
	}
	wg.Wait()
	close(subs)
	for s := range subs {
		got, _, _ := s.take(nil)
		pos := positionsOf(got)
		if len(pos) == 0 {
			h.Unsubscribe(s)
			continue // joined after the last publish
		}
		if !slices.Equal(pos, seq(pos[0], frames)) {
			t.Fatalf("a subscriber that joined during publishing took %d..%d with gaps or repeats: %v", pos[0], pos[len(pos)-1], pos)
		}
		h.Unsubscribe(s)
	}
}

// TestHubDuplicateTopicNoDuplicateFrames: a subscriber that names a topic
// twice must still get each log frame once ("no gaps and no duplicates").
func TestHubDuplicateTopicNoDuplicateFrames(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	s := subscribe(t, h, "", "log:a", "log:a")
	h.Publish(logFrame("log:a", 1))
	h.Publish(logFrame("log:a", 2))
	got, _, _ := s.take(nil)
	if pos := positionsOf(got); !slices.Equal(pos, []int64{1, 2}) {
		t.Fatalf("subscribed to log:a twice, took positions %v, want [1 2]", pos)
	}
}

// TestHubLeavesInAnyOrder joins many subscribers to overlapping topics, makes
// them leave in a shuffled order, and checks after every leave that each
// frame reaches exactly the subscribers still on its topic: the index is
// swap-removed, so a bookkeeping slip would lose or double a delivery.
func TestHubLeavesInAnyOrder(t *testing.T) {
	h := newTestHub(t, HubConfig{Classify: func(string) Class { return Log }})
	topicsOf := func(i int) []string {
		switch i % 3 {
		case 0:
			return []string{"a"}
		case 1:
			return []string{"a", "b"}
		default:
			return []string{"b", "c", "a"}
		}
	}
	const n = 60
	subs := make([]*Subscriber, n)
	for i := range subs {
		subs[i] = subscribe(t, h, "", topicsOf(i)...)
	}
	order := []int{}
	for i := range n {
		order = append(order, (i*37)%n) // 37 and 60 are coprime: a permutation
	}
	pos := int64(0)
	gone := map[int]bool{}
	for _, leaver := range order {
		h.Unsubscribe(subs[leaver])
		gone[leaver] = true
		for _, topic := range []string{"a", "b", "c"} {
			pos++
			h.Publish(logFrame(topic, pos))
			for i, s := range subs {
				got, _, _ := s.take(nil)
				want := 0
				if !gone[i] && slices.Contains(topicsOf(i), topic) {
					want = 1
				}
				if len(got) != want || (want == 1 && got[0].Position != pos) {
					t.Fatalf("after %d left: subscriber %d (topics %v) got %v of a frame on %q, want %d",
						len(gone), i, topicsOf(i), positionsOf(got), topic, want)
				}
			}
		}
	}
	if c, _ := h.Counts(); c != 0 {
		t.Fatalf("%d subscriptions left", c)
	}
}

// A log frame with Render is rendered only when a connection subscribes to
// its topic, once for all of them; the head follows every position
// published, rendered or not; a frame that fails to render is dropped,
// counted and logged, and the next one goes out.
func TestPublishRendersOnlyWhatSomeoneWants(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	calls := map[int64]int{}
	lazy := func(topic string, pos int64, fail bool) Frame {
		return Frame{Topic: topic, Position: pos, Render: func() ([]byte, []byte, error) {
			calls[pos]++
			if fail {
				return nil, nil, fmt.Errorf("no template for %d", pos)
			}
			return []byte("rendered " + strconv.FormatInt(pos, 10)), []byte(`{"n":` + strconv.FormatInt(pos, 10) + `}`), nil
		}}
	}
	h.PublishBatch([]Frame{lazy("log:nobody", 1, false)})
	if calls[1] != 0 {
		t.Errorf("a frame of a topic nobody subscribes to was rendered %d times", calls[1])
	}
	if head, _ := h.Head(); head != 1 {
		t.Errorf("head %d after publishing position 1 unrendered, want 1", head)
	}

	a, b := subscribe(t, h, "a", "log:room"), subscribe(t, h, "b", "log:room")
	dropped := counterValue(t, h.cfg.Metrics.dropped)
	h.PublishBatch([]Frame{lazy("log:room", 2, false), lazy("log:nobody", 3, false), lazy("log:room", 4, true), lazy("log:room", 5, false)})
	if calls[2] != 1 || calls[3] != 0 || calls[4] != 1 || calls[5] != 1 {
		t.Errorf("renders by position %v; want 2, 4 and 5 once each (two subscribers), 3 never", calls)
	}
	if d := counterValue(t, h.cfg.Metrics.dropped) - dropped; d != 1 {
		t.Errorf("%v frames counted dropped, want the one that failed", d)
	}
	for _, s := range []*Subscriber{a, b} {
		got, _, _ := s.take(nil)
		if !slices.Equal(positionsOf(got), []int64{2, 5}) {
			t.Fatalf("%s got positions %v, want 2 and 5", s.user, positionsOf(got))
		}
		if string(got[0].Data) != "rendered 2" || string(got[0].JSON) != `{"n":2}` ||
			string(got[0].sse) != "id: "+FormatID(testEpoch, 2)+"\ndata: rendered 2\n\n" {
			t.Errorf("%s's frame 2: data %q, json %q, sse %q", s.user, got[0].Data, got[0].JSON, got[0].sse)
		}
	}
	if head, _ := h.Head(); head != 5 {
		t.Errorf("head %d, want 5", head)
	}
}

// A subscriber that joins after the publisher found nobody to render for,
// and before the push, still gets the frame, rendered at the push.
func TestPushRendersForALateSubscriber(t *testing.T) {
	h := newTestHub(t, HubConfig{})
	rendered := 0
	m := &message{Frame: Frame{Topic: "log:t", Position: 7, Render: func() ([]byte, []byte, error) {
		rendered++
		return []byte("late"), nil, nil
	}}, class: Log, unrendered: true}
	s := subscribe(t, h, "late", "log:t") // joins after PublishBatch's look, before its push
	h.mu.RLock()
	h.pushAll([]*message{m}, nil)
	h.mu.RUnlock()
	got, _, _ := s.take(nil)
	if rendered != 1 || len(got) != 1 || string(got[0].Data) != "late" || len(got[0].sse) == 0 {
		t.Fatalf("rendered %d times; the late subscriber got %d frames", rendered, len(got))
	}
}
