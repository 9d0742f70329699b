package live

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppendEvent encodes a 200-byte fragment of three lines with an id.
func BenchmarkAppendEvent(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 64)
	data := bytes.Join([][]byte{line, line, append(line, "<p>..</p>"...)}, []byte("\r\n"))
	data = data[:200]
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = AppendEvent(buf[:0], "0123456789abcdef-1234567", "", data); err != nil {
			b.Fatal(err)
		}
	}
	if bytes.Count(buf, []byte("data: ")) != 3 {
		b.Fatalf("encoded %q", buf)
	}
}

// BenchmarkPublish measures the fan-out: one frame to 1,000 subscribers that
// never take, on a state topic (each push replaces the pending frame) and on
// a log topic (queues are reset every 128 publishes, outside the timer, so
// nobody is evicted).
func BenchmarkPublish(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 200)
	for _, class := range []Class{State, Log} {
		b.Run(fmt.Sprintf("%s/1000 subscribers", class), func(b *testing.B) {
			h := NewHub(HubConfig{Classify: func(string) Class { return class }, Epoch: testEpoch, QueueLen: 256})
			defer h.Close()
			subs := make([]*Subscriber, 1000)
			for i := range subs {
				subs[i] = watch(h.Subscribe([]string{"t"}, ""))
			}
			b.ReportAllocs()
			var pos int64
			for b.Loop() {
				pos++
				h.Publish(Frame{Topic: "t", Position: pos, Data: data})
				if pos%128 == 0 {
					b.StopTimer()
					for _, s := range subs {
						s.take(nil)
						woken(s)
					}
					b.StartTimer()
				}
			}
			for _, s := range subs {
				if _, _, evicted := s.take(nil); evicted {
					b.Fatal("a subscriber was evicted")
				}
				h.Unsubscribe(s)
			}
		})
	}
}

// BenchmarkTake drains 50 queued log frames, as a writer does on wake-up.
// Each iteration first refills the queue with the same 50 messages (50
// pushes, included in the time).
func BenchmarkTake(b *testing.B) {
	h := NewHub(HubConfig{Classify: func(string) Class { return Log }, Epoch: testEpoch})
	defer h.Close()
	s := h.Subscribe([]string{"t"}, "")
	defer h.Unsubscribe(s)
	msgs := make([]*message, 50)
	for i := range msgs {
		msgs[i] = &message{Frame: Frame{Topic: "t", Position: int64(i + 1)}, class: Log}
	}
	var batch []*message
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		s.after = 0
		s.mu.Unlock()
		for _, m := range msgs {
			s.push(m)
		}
		batch, _, _ = s.take(batch[:0])
		if len(batch) != 50 {
			b.Fatalf("took %d", len(batch))
		}
	}
}

// BenchmarkPumpDelivery publishes log frames to 100 held SSE streams whose
// clients read everything: one iteration is one frame delivered to all of
// them, written by the pump (allocations per delivery are per 100).
func BenchmarkPumpDelivery(b *testing.B) {
	const n = 100
	fx := newFixture(b, HubConfig{QueueLen: 1 << 16, Heartbeat: time.Hour}, SSEConfig{})
	addr := fx.srv.Listener.Addr().String()
	var wg sync.WaitGroup
	b.Cleanup(wg.Wait) // after the sockets' cleanups below, which end the readers
	for range n {
		s, err := dialRaw(addr, "topics=log:a", 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.start(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.conn.Close() })
		wg.Go(func() { io.Copy(io.Discard, s.body) }) //nolint:errcheck // ends when the cleanup closes it
	}
	waitFor(b, "every stream to subscribe", func() bool { return fx.subscriptions() == n })
	data := bytes.Repeat([]byte("x"), 200)
	b.ReportAllocs()
	for b.Loop() {
		fx.publish("log:a", data)
	}
	want := float64(b.N * n)
	waitFor(b, "every delivery", func() bool { return counterValue(b, fx.metrics.deliveredLog) >= want })
}

// BenchmarkWSBurst sends bursts of 50 JSON frames, published one by one as a
// room's messages are, to 100 sockets whose clients read everything: one
// iteration is one burst delivered to all of them.
func BenchmarkWSBurst(b *testing.B) {
	const n, burst = 100, 50
	fx := newWSFixture(b, HubConfig{QueueLen: 1 << 16, Heartbeat: time.Hour}, WSConfig{})
	var wg sync.WaitGroup
	b.Cleanup(wg.Wait) // after the sockets' cleanups, which end the readers
	for range n {
		c := fx.dial(b, "topics=log:a", 0, wsTestProtocol)
		wg.Go(func() {
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		})
	}
	waitFor(b, "every socket to subscribe", func() bool { return fx.subscriptions() == n })
	js := bytes.Repeat([]byte("j"), 250)
	var delivered float64
	b.ReportAllocs()
	for b.Loop() {
		for range burst {
			fx.hub.Publish(fx.log.commit(Frame{Topic: "log:a", Data: js, JSON: js}))
		}
		delivered += n * burst
		waitFor(b, "the burst to be delivered", func() bool { return counterValue(b, fx.metrics.deliveredLog) >= delivered })
	}
}
