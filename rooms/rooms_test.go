package rooms

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is an Output that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	presence map[string][][]string
	typing   map[string][][]string
	stopped  []string
	summary  [][]Summary
}

func newRecorder() *recorder {
	return &recorder{presence: map[string][][]string{}, typing: map[string][][]string{}}
}

func (r *recorder) Presence(room string, online []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.presence[room] = append(r.presence[room], online)
}

func (r *recorder) Typing(room string, typing []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.typing[room] = append(r.typing[room], typing)
}

func (r *recorder) Stopped(room string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = append(r.stopped, room)
}

func (r *recorder) Rooms(active []Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary = append(r.summary, active)
}

// summaries returns the reports of the running rooms so far.
func (r *recorder) summaries() [][]Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.summary)
}

func (r *recorder) last(m map[string][][]string, room string) ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := m[room]
	if len(l) == 0 {
		return nil, 0
	}
	return l[len(l)-1], len(l)
}

func TestTypingExpiresThreeSecondsAfterTheLastSignal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := newRecorder()
		g := NewRegistry(Config{}, out)
		defer g.Close()
		ann, _ := g.Join("lobby", "ann")
		defer ann.Leave()

		ann.Typing()
		synctest.Wait()
		if got, _ := out.last(out.typing, "lobby"); !slices.Equal(got, []string{"ann"}) {
			t.Fatalf("typing = %v, want [ann]", got)
		}
		time.Sleep(2 * time.Second) // fake time inside the bubble
		ann.Typing()                // a new signal extends, and publishes nothing new
		synctest.Wait()
		_, n := out.last(out.typing, "lobby")
		time.Sleep(2999 * time.Millisecond)
		synctest.Wait()
		if got, m := out.last(out.typing, "lobby"); m != n || !slices.Equal(got, []string{"ann"}) {
			t.Fatalf("typing ended early: %v after %d updates (had %d)", got, m, n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got, _ := out.last(out.typing, "lobby"); len(got) != 0 {
			t.Fatalf("typing = %v 3s after the last signal, want nobody", got)
		}
	})
}

func TestSendingStopsTyping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := newRecorder()
		g := NewRegistry(Config{}, out)
		defer g.Close()
		ann, _ := g.Join("lobby", "ann")
		defer ann.Leave()
		ann.Typing()
		ann.StopTyping()
		synctest.Wait()
		if got, n := out.last(out.typing, "lobby"); len(got) != 0 || n != 2 {
			t.Fatalf("typing = %v after %d updates, want nobody after 2", got, n)
		}
	})
}

func TestPresenceGracePeriodAndTwoTabs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := newRecorder()
		g := NewRegistry(Config{Grace: 5 * time.Second}, out)
		defer g.Close()
		tab1, _ := g.Join("lobby", "ann")
		tab2, _ := g.Join("lobby", "ann")
		bob, _ := g.Join("lobby", "bob")
		synctest.Wait()
		if got, n := out.last(out.presence, "lobby"); !slices.Equal(got, []string{"ann", "bob"}) || n != 2 {
			t.Fatalf("presence = %v after %d updates, want [ann bob] after 2 (two tabs are one person)", got, n)
		}

		// A reload: the only connection closes and a new one opens within
		// the grace period. Nobody sees bob leave.
		bob.Leave()
		time.Sleep(time.Second)
		bob2, _ := g.Join("lobby", "bob")
		tab1.Leave() // ann still has a tab
		synctest.Wait()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if _, n := out.last(out.presence, "lobby"); n != 2 {
			t.Fatalf("presence changed %d times across a reload and a closed second tab, want no change", n-2)
		}

		// bob really leaves: gone after exactly the grace period.
		bob2.Leave()
		synctest.Wait()
		time.Sleep(5*time.Second - time.Millisecond)
		synctest.Wait()
		if got, _ := out.last(out.presence, "lobby"); !slices.Equal(got, []string{"ann", "bob"}) {
			t.Fatalf("presence = %v before the grace period ended", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got, _ := out.last(out.presence, "lobby"); !slices.Equal(got, []string{"ann"}) {
			t.Fatalf("presence = %v after the grace period, want [ann]", got)
		}
		if got := g.Online("lobby"); !slices.Equal(got, []string{"ann"}) {
			t.Fatalf("Online = %v, want [ann]", got)
		}
		tab2.Leave()
	})
}

func TestEmptyRoomStopsAndStartsAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := newRecorder()
		g := NewRegistry(Config{Grace: time.Second, Idle: 30 * time.Second}, out)
		defer g.Close()
		ann, _ := g.Join("lobby", "ann")
		ann.Leave()
		synctest.Wait()
		if len(g.Active()) != 1 {
			t.Fatalf("room stopped at once, want it kept while idle")
		}
		time.Sleep(31 * time.Second)
		synctest.Wait()
		if a := g.Active(); len(a) != 0 {
			t.Fatalf("active rooms %v after the idle time, want none", a)
		}
		out.mu.Lock()
		stopped := slices.Clone(out.stopped)
		out.mu.Unlock()
		if !slices.Equal(stopped, []string{"lobby"}) {
			t.Fatalf("Stopped reported %v, want [lobby]", stopped)
		}
		bob, err := g.Join("lobby", "bob")
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got, _ := out.last(out.presence, "lobby"); !slices.Equal(got, []string{"bob"}) {
			t.Fatalf("presence after restart = %v, want [bob]", got)
		}
		bob.Leave()
	})
}

func TestFullRoomAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewRegistry(Config{MaxConns: 2}, newRecorder())
		a, _ := g.Join("lobby", "a")
		b, _ := g.Join("lobby", "b")
		if _, err := g.Join("lobby", "c"); !errors.Is(err, ErrFull) {
			t.Fatalf("third join: %v, want ErrFull", err)
		}
		if _, err := g.Join("other", "c"); err != nil {
			t.Fatalf("another room refused: %v", err)
		}
		b.Leave()
		b.Leave() // twice is safe
		c, err := g.Join("lobby", "c")
		if err != nil {
			t.Fatalf("join after a leave: %v", err)
		}
		g.Close()
		if _, err := g.Join("lobby", "d"); !errors.Is(err, ErrClosed) {
			t.Fatalf("join after Close: %v, want ErrClosed", err)
		}
		// Members of stopped rooms may still call in: nothing hangs.
		a.Typing()
		c.Leave()
		a.Leave()
	})
}

func TestMaxRooms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewRegistry(Config{MaxRooms: 2, Idle: 30 * time.Second}, newRecorder())
		defer g.Close()
		a, _ := g.Join("a", "ann")
		b, _ := g.Join("b", "ann")
		if _, err := g.Join("c", "ann"); !errors.Is(err, ErrTooManyRooms) {
			t.Fatalf("a third room: %v, want ErrTooManyRooms", err)
		}
		a2, err := g.Join("a", "bob")
		if err != nil {
			t.Fatalf("a room already running refused: %v", err)
		}
		// An empty room counts until it stops.
		b.Leave()
		synctest.Wait()
		if _, err := g.Join("c", "ann"); !errors.Is(err, ErrTooManyRooms) {
			t.Fatalf("a third room beside an idle one: %v, want ErrTooManyRooms", err)
		}
		time.Sleep(31 * time.Second)
		synctest.Wait()
		c, err := g.Join("c", "ann")
		if err != nil {
			t.Fatalf("a room after another stopped: %v", err)
		}
		a.Leave()
		a2.Leave()
		c.Leave()
	})
}

// TestRoomsReportedByTheRegistry: the running rooms are reported after
// every change, from the registry's goroutine, at most once per
// SummaryEvery: a burst of changes in many rooms is one report, then one
// more with the state after the burst.
func TestRoomsReportedByTheRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := newRecorder()
		g := NewRegistry(Config{SummaryEvery: time.Second, Grace: time.Millisecond}, out)
		defer g.Close()
		var members []*Member
		for _, room := range []string{"a", "b", "c"} {
			m, _ := g.Join(room, "ann")
			members = append(members, m)
		}
		m, _ := g.Join("b", "bob")
		members = append(members, m)
		synctest.Wait()
		first := out.summaries()
		if len(first) != 1 {
			t.Fatalf("%d reports of a burst of joins before SummaryEvery passed, want 1: %v", len(first), first)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		want := []Summary{{"a", 1}, {"b", 2}, {"c", 1}}
		if got := out.summaries(); len(got) != 2 || !slices.Equal(got[1], want) {
			t.Fatalf("reports %v; want a second one, %v", got, want)
		}
		time.Sleep(10 * time.Second) // nothing changes: nothing is reported
		synctest.Wait()
		if got := out.summaries(); len(got) != 2 {
			t.Fatalf("%d reports without a change, want 2", len(got))
		}
		for _, m := range members {
			m.Leave()
		}
		time.Sleep(2 * time.Second) // the grace period, a report, and the next one after SummaryEvery
		synctest.Wait()
		got := out.summaries()
		if last := got[len(got)-1]; !slices.Equal(last, []Summary{{"a", 0}, {"b", 0}, {"c", 0}}) {
			t.Fatalf("after everyone left: %v, want three empty rooms", last)
		}
	})
}
