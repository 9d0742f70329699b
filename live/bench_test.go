package live

import (
	"bytes"
	"fmt"
	"testing"
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
				subs[i] = h.Subscribe([]string{"t"}, "")
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
// Each iteration first refills the queue with the same 50 messages (an append
// of 50 pointers under the lock, included in the time).
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
		s.log = append(s.log, msgs...)
		s.after = 0
		s.mu.Unlock()
		batch, _, _ = s.take(batch[:0])
		if len(batch) != 50 {
			b.Fatalf("took %d", len(batch))
		}
	}
}
