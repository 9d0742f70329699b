package live

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/r3labs/sse/v2"
	"gopkg.in/cenkalti/backoff.v1"
)

func TestSSEStreamStartsWithItsPosition(t *testing.T) {
	t.Run("headers and first block", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{})
		for range 3 {
			fx.publish("log:a", []byte("before the connection"))
		}
		s := fx.open(t, "topics=log:a,s:x", "")
		for name, want := range map[string]string{
			"Content-Type":      "text/event-stream",
			"Cache-Control":     "no-store",
			"X-Accel-Buffering": "no",
		} {
			if got := s.resp.Header.Get(name); got != want {
				t.Errorf("header %s = %q, want %q", name, got, want)
			}
		}
		if first := s.next(t); first.Raw != "id: 5eed-3\n\n" {
			t.Fatalf("stream starts with %q, want %q", first.Raw, "id: 5eed-3\n\n")
		}
		fx.publish("log:a", []byte("live\r\nframe"))
		if b := s.event(t); idPos(t, b) != 4 || b.Data != "live\nframe" || b.HasEvent {
			t.Fatalf("live frame arrived as %q", b.Raw)
		}
		fx.publishState("s:x", []byte("state"))
		if b := s.event(t); b.HasID || b.Data != "state" {
			t.Fatalf("state frame arrived as %q; state frames carry no id", b.Raw)
		}
	})
	t.Run("empty log", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{})
		s := fx.open(t, "topics=s:x", "")
		if first := s.next(t); first.Raw != "id: 5eed-0\n\n" {
			t.Fatalf("stream starts with %q, want %q", first.Raw, "id: 5eed-0\n\n")
		}
	})
	t.Run("latest state follows the position", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{})
		fx.publishState("s:x", []byte("v1"))
		fx.publishState("s:x", []byte("v2"))
		s := fx.open(t, "topics=s:x", "")
		expectPositionBlock(t, s.next(t))
		if b := s.event(t); b.Data != "v2" {
			t.Fatalf("got %q, want the newest state v2", b.Raw)
		}
	})
}

// frameData is the data of the test frame at pos: two lines, so that replay
// goes through the same encoder as live frames.
func frameData(topic string, pos int64) []byte {
	return fmt.Appendf(nil, "%s\r\n#%d", topic, pos)
}

func TestSSEResumeReplaysMissedFrames(t *testing.T) {
	topicOf := func(p int64) string { return []string{"log:a", "log:b", "log:c"}[p%3] }
	for _, tt := range []struct {
		name       string
		replayPage int
		viaHeader  bool
	}{
		{"Last-Event-ID", 0, true},
		{"after parameter", 0, false},
		{"in pages of two", 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, HubConfig{}, SSEConfig{ReplayPage: tt.replayPage})
			var want []int64
			for p := int64(1); p <= 11; p++ {
				f := Frame{Topic: topicOf(p), Data: frameData(topicOf(p), p)}
				if p%4 == 0 {
					f.Event = "chat"
				}
				if got := fx.publishFrame(f).Position; got != p {
					t.Fatalf("committed at %d, want %d", got, p)
				}
				if p > 3 && f.Topic != "log:c" {
					want = append(want, p)
				}
			}
			resume := FormatID(testEpoch, 3)
			var s *stream
			if tt.viaHeader {
				s = fx.open(t, "topics=log:a,log:b", resume)
			} else {
				s = fx.open(t, "topics=log:a,log:b&after="+resume, "")
			}
			var got []int64
			for range want {
				b := s.event(t)
				p := idPos(t, b)
				got = append(got, p)
				if b.Data != normalizeLineEnds(frameData(topicOf(p), p)) {
					t.Fatalf("frame %d replayed as %q", p, b.Raw)
				}
				if wantEvent := p%4 == 0; b.HasEvent != wantEvent || (wantEvent && b.Event != "chat") {
					t.Fatalf("frame %d replayed with event %q", p, b.Event)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("replayed %v, want %v", got, want)
			}
			// Then the position: not before the last frame replayed, not
			// after the head.
			if at := expectPositionBlock(t, s.next(t)); at < want[len(want)-1] || at > 11 {
				t.Fatalf("position after the replay is %d, want %d..11", at, want[len(want)-1])
			}
			// Then live frames of its topics only.
			fx.publish("log:c", []byte("not mine"))
			fx.publish("log:a", []byte("live"))
			if b := s.event(t); idPos(t, b) != 13 || b.Data != "live" {
				t.Fatalf("after the replay got %q, want frame 13", b.Raw)
			}
		})
	}
	t.Run("at the head", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{})
		for range 4 {
			fx.publish("log:a", []byte("x"))
		}
		s := fx.open(t, "topics=log:a", FormatID(testEpoch, 4))
		if first := s.next(t); first.Raw != "id: 5eed-4\n\n" {
			t.Fatalf("resume at the head starts with %q", first.Raw)
		}
	})
	t.Run("at the horizon", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{ResyncEvent: "resync"})
		for range 6 {
			fx.publish("log:a", []byte("x"))
		}
		fx.log.prune(4)
		s := fx.open(t, "topics=log:a", FormatID(testEpoch, 4))
		for _, want := range []int64{5, 6} {
			if b := s.event(t); idPos(t, b) != want || b.HasEvent {
				t.Fatalf("resume at the horizon: got %q, want frame %d", b.Raw, want)
			}
		}
	})
}

// TestSSEResumeUnderConcurrentPublish resumes while the topic is being
// published, many times: every frame after the resume point arrives exactly
// once and in order, whether it comes from the replay or the live queue.
func TestSSEResumeUnderConcurrentPublish(t *testing.T) {
	iterations := 40
	if testing.Short() {
		iterations = 10
	}
	fx := newFixture(t, HubConfig{}, SSEConfig{ReplayPage: 16})
	for i := range iterations {
		topic := fmt.Sprintf("log:r%d", i)
		var history []Frame
		for j := range 40 {
			history = append(history, fx.publish(topic, fmt.Appendf(nil, "%s history %d", topic, j)))
		}
		resumeAt := history[rand.IntN(len(history))].Position

		started := make(chan struct{})
		var once sync.Once
		fx.log.hooks.Store(&logHooks{afterHorizon: func() { once.Do(func() { close(started) }) }})
		live := make(chan []Frame, 1)
		go func() {
			var out []Frame
			select {
			case <-started:
			case <-time.After(waitTimeout):
			}
			for j := range 150 {
				out = append(out, fx.publish(topic, fmt.Appendf(nil, "%s live %d", topic, j)))
				if j%10 == 0 {
					fx.publish("log:other", []byte("other topic"))
				}
			}
			live <- out
		}()

		s := fx.open(t, "topics="+topic, FormatID(testEpoch, resumeAt))
		var want []Frame
		for _, f := range history {
			if f.Position > resumeAt {
				want = append(want, f)
			}
		}
		want = append(want, <-live...)
		fx.log.hooks.Store(nil)

		var got []int64
		var at int64 = -1
		for len(got) < len(want) {
			b := s.next(t)
			if !b.Dispatched() {
				// The position block, once, between the replay and the
				// live frames.
				if at >= 0 {
					t.Fatalf("iteration %d: a second position block %q", i, b.Raw)
				}
				at = expectPositionBlock(t, b)
				if len(got) > 0 && at < got[len(got)-1] {
					t.Fatalf("iteration %d: position %d after frame %d: the id went backwards", i, at, got[len(got)-1])
				}
				continue
			}
			p := idPos(t, b)
			if at >= 0 && p <= at {
				t.Fatalf("iteration %d: frame %d after position %d", i, p, at)
			}
			if w := want[len(got)]; p != w.Position || b.Data != string(w.Data) {
				t.Fatalf("iteration %d (resume at %d): frame #%d is %d %q, want %d %q; got so far %v",
					i, resumeAt, len(got), p, b.Data, w.Position, w.Data, got)
			}
			got = append(got, p)
		}
		if at < 0 {
			// Everything came from the replay: the position follows it.
			if at = expectPositionBlock(t, s.next(t)); at != got[len(got)-1] {
				t.Fatalf("iteration %d: position %d after replaying up to %d", i, at, got[len(got)-1])
			}
		}
		s.close()
		waitFor(t, "the stream to end", func() bool { return fx.subscriptions() == 0 })
	}
}

// TestSSEConnectWindows puts a concurrent publish at each point of a
// connection's start where a frame could be lost or sent twice.
func TestSSEConnectWindows(t *testing.T) {
	t.Run("resume", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{})
		for range 5 {
			fx.publish("log:a", []byte("history"))
		}
		fx.log.since.Store(0)
		hooked := make(chan struct{})
		fx.log.hooks.Store(&logHooks{
			// After the first replay, before Subscribe: only the second
			// replay can deliver it.
			afterSince: func(call int64) {
				switch call {
				case 1:
					fx.publish("log:a", []byte("between replay and subscribe"))
				case 2:
					// After the second replay: only the live queue can.
					fx.publish("log:a", []byte("after the second replay"))
					close(hooked)
				}
			},
			// After Subscribe, before the second replay reads: it is both
			// replayed and queued, and must be sent once.
			beforeSince: func(call int64) {
				if call == 2 {
					fx.publish("log:a", []byte("both replayed and queued"))
				}
			},
		})
		s := fx.open(t, "topics=log:a", FormatID(testEpoch, 2))
		// The response starts with the first replay, before the second one:
		// wait for the hooks to have run.
		select {
		case <-hooked:
		case <-time.After(waitTimeout):
			t.Fatal("the second replay did not happen")
		}
		fx.publish("log:a", []byte("later")) // 9
		var got []int64
		for len(got) == 0 || got[len(got)-1] < 9 {
			if b := s.next(t); b.Dispatched() {
				got = append(got, idPos(t, b))
			}
		}
		if want := seq(3, 9); !slices.Equal(got, want) {
			t.Fatalf("got frames %v, want %v", got, want)
		}
	})
	t.Run("fresh connection", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{})
		fx.publish("log:a", []byte("old")) // the head the stream reads: 1
		var once sync.Once
		fx.log.hooks.Store(&logHooks{afterHorizon: func() {
			once.Do(func() { fx.publish("log:a", []byte("committed after the head was read")) }) // 2
		}})
		s := fx.open(t, "topics=log:a", "")
		fx.log.hooks.Store(nil)
		fx.publish("log:a", []byte("later")) // 3
		var got []int64
		at := int64(-1)
		for len(got) == 0 || got[len(got)-1] < 3 {
			b := s.next(t)
			if !b.Dispatched() {
				at = expectPositionBlock(t, b)
				continue
			}
			got = append(got, idPos(t, b))
		}
		if !slices.Equal(got, []int64{2, 3}) {
			t.Fatalf("got frames %v after telling the client it is at %d, want [2 3]: frame 2, committed after the stream "+
				"read the head and published before it subscribed, is lost, and the client's Last-Event-ID now skips it", got, at)
		}
	})
	t.Run("resync", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{ResyncEvent: "resync"})
		fx.publish("log:a", []byte("old"))
		fx.log.hooks.Store(&logHooks{
			beforeSnapshot: func() { fx.publish("log:a", []byte("in the snapshot and queued")) }, // 2
			afterSnapshot:  func() { fx.publish("log:a", []byte("after the snapshot")) },         // 3
		})
		s := fx.open(t, "topics=log:a", "otherepoch-1")
		fx.log.hooks.Store(nil)
		if b := s.event(t); b.HasID || b.Data != "snapshot log:a" {
			t.Fatalf("want the snapshot, got %q", b.Raw)
		}
		if b := s.event(t); b.Event != "resync" || idPos(t, b) != 2 {
			t.Fatalf("want the resync event at position 2, got %q", b.Raw)
		}
		fx.publish("log:a", []byte("later")) // 4
		for _, want := range []int64{3, 4} {
			if b := s.event(t); idPos(t, b) != want {
				t.Fatalf("got %q, want frame %d", b.Raw, want)
			}
		}
	})
}

// TestSSEResumePrunedWhileConnecting: retention prunes the log while a
// client resumes at its horizon, after the stream checked the horizon. The
// client gets the current state and a resync, never a replay that starts
// after the pruned frames as if nothing were missing.
func TestSSEResumePrunedWhileConnecting(t *testing.T) {
	t.Run("before the replay", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{ResyncEvent: "resync"})
		for range 8 {
			fx.publish("log:a", []byte("history"))
		}
		fx.log.prune(4)
		var once sync.Once
		fx.log.hooks.Store(&logHooks{afterHorizon: func() { once.Do(func() { fx.log.prune(6) }) }})
		s := fx.open(t, "topics=log:a", FormatID(testEpoch, 4))
		if b := s.event(t); b.HasID || b.Data != "snapshot log:a" {
			t.Fatalf("frames 5 and 6 were pruned after the horizon check: want the snapshot, got %q", b.Raw)
		}
		if b := s.next(t); b.Event != "resync" || idPos(t, b) != 8 {
			t.Fatalf("want the resync event at 8, got %q", b.Raw)
		}
	})
	t.Run("between the two replays", func(t *testing.T) {
		fx := newFixture(t, HubConfig{}, SSEConfig{ResyncEvent: "resync"})
		for range 8 {
			fx.publish("log:a", []byte("history"))
		}
		fx.log.prune(4)
		fx.log.since.Store(0)
		fx.log.hooks.Store(&logHooks{afterSince: func(call int64) {
			if call == 1 { // 5..8 replayed; 9 and 10 come, 9 is pruned before the second replay
				fx.publish("log:a", []byte("gone before the second replay"))
				fx.publish("log:a", []byte("kept"))
				fx.log.prune(9)
			}
		}})
		s := fx.open(t, "topics=log:a", FormatID(testEpoch, 4))
		for _, want := range []int64{5, 6, 7, 8} {
			if b := s.event(t); idPos(t, b) != want {
				t.Fatalf("got %q, want frame %d", b.Raw, want)
			}
		}
		if b := s.event(t); b.HasID || b.Data != "snapshot log:a" {
			t.Fatalf("frame 9 was pruned between the replays: want the snapshot, got %q", b.Raw)
		}
		if b := s.next(t); b.Event != "resync" || idPos(t, b) != 10 {
			t.Fatalf("want the resync event at 10, got %q", b.Raw)
		}
	})
}

func TestSSEResync(t *testing.T) {
	for _, tt := range []struct {
		name, resume, event string
	}{
		{"another epoch", "0ther-3", "resync"},
		{"below the horizon", FormatID(testEpoch, 3), "resync"},
		{"beyond the head", FormatID(testEpoch, 99), "resync"},
		{"not an id", "garbage", "resync"},
		{"no resync event", "0ther-3", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, HubConfig{}, SSEConfig{ResyncEvent: tt.event})
			for range 8 {
				fx.publish("log:a", []byte("history"))
			}
			fx.log.prune(4)
			s := fx.open(t, "topics=log:a,s:x", tt.resume)
			for _, topic := range []string{"log:a", "s:x"} {
				b := s.event(t)
				if b.HasID || b.HasEvent || b.Data != "snapshot "+topic {
					t.Fatalf("want the snapshot of %s without an id, got %q", topic, b.Raw)
				}
			}
			b := s.next(t)
			if idPos(t, b) != 8 || b.Event != tt.event || b.HasEvent != (tt.event != "") {
				t.Fatalf("after the snapshot want event %q with id %s-8, got %q", tt.event, testEpoch, b.Raw)
			}
			if b.Dispatched() != (tt.event != "") || b.Data != "" {
				t.Fatalf("resync block %q: a named event fires with empty data, an id-only block fires nothing", b.Raw)
			}
			// The stream goes on.
			fx.publish("log:a", []byte("after the resync"))
			if b := s.event(t); idPos(t, b) != 9 || b.Data != "after the resync" {
				t.Fatalf("after the resync got %q, want frame 9", b.Raw)
			}
			if got := counterValue(t, fx.metrics.resyncs); got != 1 {
				t.Fatalf("resync counter = %v", got)
			}
		})
	}
}

// TestSSELogReadFails: a stream whose replay cannot read the log (a damaged
// page, a failing disk) tells the client to come back, instead of ending
// with nothing; Serve returns the error for the caller to log.
func TestSSELogReadFails(t *testing.T) {
	retryMin, retryMax := 100*time.Millisecond, 200*time.Millisecond
	fx := newFixture(t, HubConfig{}, SSEConfig{RetryMin: retryMin, RetryMax: retryMax, RetryEvent: "retry"})
	for range 4 {
		fx.publish("log:a", []byte("history"))
	}
	broken := errors.New("database disk image is malformed")
	fx.log.hooks.Store(&logHooks{failSince: broken})
	s := fx.open(t, "topics=log:a", FormatID(testEpoch, 1))
	blocks := s.rest(t)
	if len(blocks) != 1 {
		t.Fatalf("the stream sent %d blocks, want only a retry hint: %v", len(blocks), blocks)
	}
	expectRetryEvent(t, blocks[0], retryMin, retryMax, "retry")
	if err := fx.nextServed(t); !errors.Is(err, broken) {
		t.Fatalf("Serve returned %v, want the log's error", err)
	}
}

// TestSSEEvictsSlowReader: a reader that stops reading while its log topic
// runs gets a retry hint and its connection ends; it comes back with its last
// id and loses nothing.
func TestSSEEvictsSlowReader(t *testing.T) {
	const frames = 100
	retryMin, retryMax := 100*time.Millisecond, 200*time.Millisecond
	// WriteTimeout is long: the writer must still be able to write the hint
	// once the reader reads again.
	fx := newFixture(t, HubConfig{QueueLen: 4}, SSEConfig{WriteTimeout: waitTimeout, RetryMin: retryMin, RetryMax: retryMax})
	fx.ln.shrink.Store(true) // the writer blocks after a few KiB, not 4 MB
	s := fx.openWith(t, smallReadBufferClient(t), "topics=log:a", "")
	expectPositionBlock(t, s.next(t))

	payload := bytes.Repeat([]byte("x"), 4<<10)
	for p := int64(1); p <= frames; p++ {
		fx.publish("log:a", append(fmt.Appendf(nil, "%08d", p), payload...))
	}
	waitFor(t, "the slow reader to be evicted", func() bool { return counterValue(t, fx.metrics.evicted) == 1 })

	blocks := s.rest(t)
	if len(blocks) == 0 {
		t.Fatal("the evicted stream ended without a block")
	}
	expectRetry(t, blocks[len(blocks)-1], retryMin, retryMax)
	got := blocks[:len(blocks)-1]
	for i, b := range got {
		if p := idPos(t, b); p != int64(i+1) || !bytes.HasPrefix([]byte(b.Data), fmt.Appendf(nil, "%08d", p)) {
			t.Fatalf("block %d before the retry hint is %.40q, want frame %d", i, b.Raw, i+1)
		}
	}
	if len(got) >= frames {
		t.Fatalf("the reader got all %d frames and a retry hint", frames)
	}
	t.Logf("the reader got %d of %d frames before its retry hint", len(got), frames)
	if err := fx.nextServed(t); err != nil {
		t.Fatalf("Serve returned %v after an eviction, want nil", err)
	}
	waitFor(t, "the evicted subscriber to leave", func() bool { return fx.subscriptions() == 0 })

	// It comes back with its Last-Event-ID and loses nothing.
	back := fx.open(t, "topics=log:a", FormatID(testEpoch, int64(len(got))))
	for p := int64(len(got) + 1); p <= frames; p++ {
		if b := back.event(t); idPos(t, b) != p {
			t.Fatalf("replay after the eviction: got %.40q, want frame %d", b.Raw, p)
		}
	}
	if at := expectPositionBlock(t, back.next(t)); at != frames {
		t.Fatalf("position after the replay %d, want %d", at, frames)
	}
}

// TestSSEWriteTimeoutCutsStalledReader: a write that cannot complete within
// WriteTimeout ends the stream, on a state topic too.
func TestSSEWriteTimeoutCutsStalledReader(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{WriteTimeout: 100 * time.Millisecond})
	fx.ln.shrink.Store(true)
	s := fx.openWith(t, smallReadBufferClient(t), "topics=s:big", "")
	expectPositionBlock(t, s.next(t))
	fx.publishState("s:big", bytes.Repeat([]byte("x"), 4<<20))
	if err := fx.nextServed(t); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Serve returned %v, want a deadline error", err)
	}
	waitFor(t, "the stalled subscriber to leave", func() bool { return fx.subscriptions() == 0 })
}

func TestSSEHubCloseEndsEveryStream(t *testing.T) {
	for _, retryEvent := range []string{"", "reconnect"} {
		t.Run(fmt.Sprintf("RetryEvent %q", retryEvent), func(t *testing.T) {
			retryMin, retryMax := 200*time.Millisecond, 400*time.Millisecond
			fx := newFixture(t, HubConfig{}, SSEConfig{RetryMin: retryMin, RetryMax: retryMax, ResyncEvent: "resync", RetryEvent: retryEvent})
			for range 3 {
				fx.publish("log:a", []byte("history"))
			}
			fx.publishState("s:x", []byte("state"))
			streams := []*stream{
				fx.open(t, "topics=log:a", ""),
				fx.open(t, "topics=log:a", FormatID(testEpoch, 1)),
				fx.open(t, "topics=s:x&user=ann", ""),
				fx.open(t, "topics=log:a,s:x", "0ther-1"),
			}
			// Read each up to its position, so that each is in its writer loop.
			for _, s := range streams {
				for {
					b := s.next(t)
					if b.HasID && (!b.Dispatched() || b.Event == "resync") {
						break // the position block, or the resync event that carries it
					}
				}
			}
			waitFor(t, "four subscriptions", func() bool { return fx.subscriptions() == 4 })

			fx.hub.Close()
			for i, s := range streams {
				rest := s.rest(t)
				if len(rest) == 0 {
					t.Fatalf("stream %d ended without a retry hint", i)
				}
				expectRetryEvent(t, rest[len(rest)-1], retryMin, retryMax, retryEvent)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := fx.sse.Wait(ctx); err != nil {
				t.Fatalf("SSE.Wait: %v", err)
			}
			for range streams {
				if err := fx.nextServed(t); err != nil {
					t.Errorf("Serve returned %v at shutdown, want nil", err)
				}
			}
			if n, u := fx.hub.Counts(); n != 0 || u != 0 {
				t.Fatalf("Counts after shutdown = %d, %d", n, u)
			}
		})
	}
}

// TestSSEServeAfterHubClose: a connection that arrives while the hub is
// closing is also an exit the server chooses, so it must carry a retry hint
// too, or every client refused at shutdown comes back at once, at the
// browser's default delay.
func TestSSEServeAfterHubClose(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{RetryMin: time.Second, RetryMax: 2 * time.Second})
	fx.hub.Close()
	s := fx.open(t, "topics=log:a", "")
	rest := s.rest(t)
	if err := fx.nextServed(t); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close returned %v, want ErrClosed", err)
	}
	if len(rest) == 0 {
		t.Fatalf("a stream opened after Hub.Close ended with status %d and no retry hint", s.resp.StatusCode)
	}
	expectRetry(t, rest[len(rest)-1], time.Second, 2*time.Second)
}

func TestSSEHeartbeat(t *testing.T) {
	fx := newFixture(t, HubConfig{Heartbeat: 5 * time.Millisecond}, SSEConfig{})
	s := fx.open(t, "topics=s:x", "")
	expectPositionBlock(t, s.next(t))
	for {
		b := s.next(t)
		if b.Dispatched() || b.HasID {
			t.Fatalf("an idle stream sent %q", b.Raw)
		}
		if b.Comments > 0 {
			if b.Raw != ":\n\n" {
				t.Fatalf("heartbeat %q, want %q", b.Raw, ":\n\n")
			}
			break
		}
	}
	fx.publishState("s:x", []byte("after a heartbeat"))
	if b := s.event(t); b.Data != "after a heartbeat" {
		t.Fatalf("got %q", b.Raw)
	}
}

func TestSSECountsUsers(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{})
	a := fx.open(t, "topics=s:x&user=ann", "")
	b := fx.open(t, "topics=s:x,s:y&user=ann", "")
	c := fx.open(t, "topics=s:x&user=bob", "")
	d := fx.open(t, "topics=s:x", "")
	for _, s := range []*stream{a, b, c, d} {
		expectPositionBlock(t, s.next(t))
	}
	if n, u := fx.hub.Counts(); n != 4 || u != 2 {
		t.Fatalf("Counts = %d, %d; want 4, 2", n, u)
	}
	a.close()
	b.close()
	waitFor(t, "ann's streams to end", func() bool {
		n, u := fx.hub.Counts()
		return n == 2 && u == 1
	})
}

// TestSSEWithR3labsClient reads a stream with the Go client Beacon's tools
// use, and pins down how it differs from a browser.
func TestSSEWithR3labsClient(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	fx.publish("log:a", []byte("first"))
	fx.publish("log:a", []byte("second\r\nline"))
	fx.publishState("s:x", []byte("state v1"))

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c := sse.NewClient(fx.srv.URL + "/live?topics=log:a,s:x")
	c.Connection = fx.srv.Client()
	// A strategy that would reconnect, to see whether the client does.
	c.ReconnectStrategy = backoff.WithContext(backoff.NewConstantBackOff(10*time.Millisecond), ctx)
	c.LastEventID.Store([]byte(FormatID(testEpoch, 1)))

	type event struct{ id, data, name, retry string }
	events := make(chan event, 64)
	done := make(chan error, 1)
	go func() {
		done <- c.SubscribeRawWithContext(ctx, func(e *sse.Event) {
			events <- event{string(e.ID), string(e.Data), string(e.Event), string(e.Retry)}
		})
	}()
	next := func(what string) event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case err := <-done:
			// An event the client handed over before it returned comes
			// first: a stream that ends right after its last event makes
			// both ready at once.
			select {
			case e := <-events:
				done <- err
				return e
			default:
			}
			t.Fatalf("waiting for %s: the client returned %v", what, err)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		return event{}
	}

	if e := next("the replayed frame"); e != (event{id: "5eed-2", data: "second\nline"}) {
		t.Fatalf("replayed frame: %+v", e)
	}
	// Quirk 1: the id-only block reaches the handler as an event with empty
	// data. A browser fires nothing for it; it only moves the last id.
	if e := next("the position block"); e != (event{id: "5eed-2"}) {
		t.Fatalf("position block: %+v", e)
	}
	// Quirk 2: an event without an id is handed over with the last id seen.
	if e := next("the state frame"); e != (event{id: "5eed-2", data: "state v1"}) {
		t.Fatalf("state frame: %+v", e)
	}
	fx.publish("log:a", []byte("third"))
	if e := next("a live frame"); e != (event{id: "5eed-3", data: "third"}) {
		t.Fatalf("live frame: %+v", e)
	}
	if got := string(c.LastEventID.Load().([]byte)); got != "5eed-3" {
		t.Fatalf("client's last event id %q", got)
	}

	fx.hub.Close()
	e := next("the retry hint")
	if e.retry == "" || e.data != "" {
		t.Fatalf("retry hint: %+v", e)
	}
	// Quirk 3: the client ends on a clean EOF and does not reconnect,
	// whatever its strategy and the retry hint say.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("client returned %v after the stream ended", err)
		}
	case <-ctx.Done():
		t.Fatal("client still running after the stream ended")
	}
	if n := fx.requests.Load(); n != 1 {
		t.Fatalf("the client made %d requests; it reconnected", n)
	}
}

// TestSSETopicField: a connection that several pages share (TopicField)
// gets every frame of a topic with a "topic" line naming it, whether it is
// replayed, live, a state topic's newest value or part of a resync's
// snapshot; the position and the resync event, which belong to the
// connection, name none. Other connections get the same frames without it.
func TestSSETopicField(t *testing.T) {
	fx := newFixture(t, HubConfig{}, SSEConfig{ResyncEvent: "resync"})
	fx.publishState("s:x", []byte("state before"))
	for p := int64(1); p <= 4; p++ {
		topic := []string{"log:a", "log:b"}[p%2]
		fx.publishFrame(Frame{Topic: topic, Data: frameData(topic, p)})
	}
	plain := fx.open(t, "topics=log:a,log:b,s:x&after="+FormatID(testEpoch, 2), "")
	shared := fx.open(t, "topicfield=1&topics=log:a,log:b,s:x&after="+FormatID(testEpoch, 2), "")
	check := func(s *stream, topicField bool, what, topic string, pos int64, data string) {
		t.Helper()
		b := s.event(t)
		if pos > 0 && idPos(t, b) != pos {
			t.Fatalf("%s: got %q, want frame %d", what, b.Raw, pos)
		}
		if b.Data != data {
			t.Fatalf("%s: got %q, want data %q", what, b.Raw, data)
		}
		if wantTopic := topicField && topic != ""; b.HasTopic != wantTopic || (wantTopic && b.Topic != topic) {
			t.Fatalf("%s (topic field %v): got %q, want topic %q", what, topicField, b.Raw, topic)
		}
	}
	for _, s := range []struct {
		*stream
		topicField bool
	}{{plain, false}, {shared, true}} {
		check(s.stream, s.topicField, "replayed", "log:b", 3, "log:b\n#3")
		check(s.stream, s.topicField, "replayed", "log:a", 4, "log:a\n#4")
		if b := s.next(t); expectPositionBlock(t, b) != 4 || b.HasTopic {
			t.Fatalf("the position block %q names a topic", b.Raw)
		}
		check(s.stream, s.topicField, "newest state", "s:x", 0, "state before")
	}
	// Live frames, one at a time (a batch puts state frames first).
	streams := []struct {
		*stream
		topicField bool
	}{{plain, false}, {shared, true}}
	fx.publish("log:b", []byte("live"))
	for _, s := range streams {
		check(s.stream, s.topicField, "live", "log:b", 5, "live")
	}
	fx.publishState("s:x", []byte("state after"))
	for _, s := range streams {
		check(s.stream, s.topicField, "live state", "s:x", 0, "state after")
	}
	fx.publishFrame(Frame{Topic: "log:a", Event: "chat", Data: []byte("named")})
	for _, s := range streams {
		check(s.stream, s.topicField, "live named event", "log:a", 6, "named")
	}

	// A resync: the snapshot's frames name their topics; the resync event
	// names none.
	resynced := fx.open(t, "topicfield=1&topics=log:a,s:x", "0ther-1")
	check(resynced, true, "snapshot", "log:a", 0, "snapshot log:a")
	check(resynced, true, "snapshot", "s:x", 0, "snapshot s:x")
	if b := resynced.next(t); b.Event != "resync" || b.HasTopic {
		t.Fatalf("after the snapshot got %q, want the resync event without a topic", b.Raw)
	}
}

// TestHubDropsFrameWithUnsafeTopic: a topic with a control character could
// not be named on a shared connection; such a frame is refused, like an
// unsafe event name.
func TestHubDropsFrameWithUnsafeTopic(t *testing.T) {
	const evil = "s:x\nevent: evil"
	fx := newFixture(t, HubConfig{}, SSEConfig{})
	s := fx.open(t, "topicfield=1&topics="+url.QueryEscape(evil)+",s:x", "")
	expectPositionBlock(t, s.next(t))
	fx.publishState(evil, []byte("smuggled"))
	fx.publishState("s:x", []byte("fine"))
	if b := s.event(t); b.Data != "fine" || b.Topic != "s:x" {
		t.Fatalf("got %q, want only the frame with a safe topic", b.Raw)
	}
	if got := counterValue(t, fx.metrics.dropped); got != 1 {
		t.Fatalf("dropped counter = %v, want 1", got)
	}
}
