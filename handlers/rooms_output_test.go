package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/rooms"
	"github.com/beacon-live/beacon/views"
)

// frameRecorder is a framePublisher that keeps the frames of one topic.
type frameRecorder struct {
	topic string

	mu      sync.Mutex
	frames  [][]byte      // guarded by mu
	changed chan struct{} // guarded by mu; closed and replaced on every frame
}

func newFrameRecorder(topic string) *frameRecorder {
	return &frameRecorder{topic: topic, changed: make(chan struct{})}
}

func (r *frameRecorder) Publish(f live.Frame) {
	if f.Topic != r.topic {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frames = append(r.frames, f.Data)
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *frameRecorder) Forget(string) {}

// waitFor waits until cond holds for the frames so far, or fails the test
// after a minute (a safety net: nothing here takes more than a few
// milliseconds).
func (r *frameRecorder) waitFor(t *testing.T, what string, cond func(frames [][]byte) bool) [][]byte {
	t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		frames, ch := r.frames, r.changed
		ok := cond(frames)
		r.mu.Unlock()
		if ok {
			return frames
		}
		select {
		case <-ch:
		case <-deadline.C:
			last := []byte("none")
			if len(frames) > 0 {
				last = frames[len(frames)-1]
			}
			t.Fatalf("%s: not within a minute; %d frames, the last: %s", what, len(frames), last)
		}
	}
}

var roomsMore = regexp.MustCompile(`and (\d+) more`)

// roomsOnline reads a Rooms panel: how many rooms it lists and how many
// more it counts.
func roomsOnline(html []byte) (listed, more int) {
	listed = strings.Count(string(html), "<li>")
	if m := roomsMore.FindSubmatch(html); m != nil {
		more, _ = strconv.Atoi(string(m[1]))
	}
	return listed, more
}

// TestRoomsPanelFollowsTheRegistry: rooms start and empty concurrently in
// many goroutines; the dashboard's Rooms panel frames follow in order
// (while rooms only fill up, no frame shows fewer rooms than the frame
// before it, and the reverse while they empty) and settle on the truth.
//
// Before, each room's goroutine read the registry (Registry.Active) from
// inside Output.Presence, which the rooms.Output contract forbids, and
// published the panel itself: two rooms that changed at once could publish
// their panels in the wrong order, leaving the older one on every
// dashboard until the next change.
func TestRoomsPanelFollowsTheRegistry(t *testing.T) {
	const n = 300
	rec := newFrameRecorder(views.TopicRooms)
	out := &RoomOutput{Hub: rec, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	reg := rooms.NewRegistry(rooms.Config{Grace: time.Millisecond, MaxRooms: n}, out)
	defer reg.Close()

	total := func(frame []byte) int { listed, more := roomsOnline(frame); return listed + more }
	inOrder := func(frames [][]byte, filling bool) error {
		for i := 1; i < len(frames); i++ {
			a, b := total(frames[i-1]), total(frames[i])
			if (filling && b < a) || (!filling && b > a) {
				return fmt.Errorf("frame %d shows %d rooms online after frame %d showed %d", i, b, i-1, a)
			}
		}
		return nil
	}

	members := make([]*rooms.Member, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range members {
		wg.Go(func() {
			<-start
			m, err := reg.Join(fmt.Sprintf("room-%03d", i), "ann")
			if err != nil {
				t.Error(err)
				return
			}
			members[i] = m
		})
	}
	close(start)
	wg.Wait()
	frames := rec.waitFor(t, "a panel with every room", func(f [][]byte) bool { return len(f) > 0 && total(f[len(f)-1]) == n })
	if err := inOrder(frames, true); err != nil {
		t.Fatalf("while rooms filled up: %v", err)
	}
	if listed, more := roomsOnline(frames[len(frames)-1]); listed != views.RoomsShown || more != n-views.RoomsShown {
		t.Fatalf("the panel lists %d rooms and counts %d more; want the busiest %d and %d more", listed, more, views.RoomsShown, n-views.RoomsShown)
	}

	filled := len(frames)
	start = make(chan struct{})
	for _, m := range members {
		wg.Go(func() { <-start; m.Leave() })
	}
	close(start)
	wg.Wait()
	frames = rec.waitFor(t, "an empty panel", func(f [][]byte) bool { return len(f) > filled && total(f[len(f)-1]) == 0 })
	if err := inOrder(frames[filled-1:], false); err != nil {
		t.Fatalf("while rooms emptied: %v", err)
	}
}
