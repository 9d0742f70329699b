package handlers

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// roomsOnly is a directoryStore with fixed rooms and accounts that counts
// how often the index is read.
type roomsOnly struct {
	mu    sync.Mutex
	rooms []db.RoomSummary // newest first
	names map[int64]string
	reads int // guarded by mu; calls of Rooms
}

func (s *roomsOnly) Rooms(_ context.Context, before int64, limit int) ([]db.RoomSummary, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	var out []db.RoomSummary
	for _, r := range s.rooms {
		if before == 0 || r.Last.Position < before {
			out = append(out, r)
		}
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (s *roomsOnly) RoomsNamed(_ context.Context, names []string) ([]db.RoomSummary, error) {
	var out []db.RoomSummary
	for _, r := range s.rooms {
		if slices.Contains(names, r.Name) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *roomsOnly) UserNames(_ context.Context, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	for _, id := range ids {
		if n, ok := s.names[id]; ok {
			out[id] = n
		}
	}
	return out, nil
}

func (s *roomsOnly) indexReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

// publishedHub is a real hub whose frames of the directory's topics the
// test reads back.
type publishedHub struct {
	*live.Hub
	mu     sync.Mutex
	frames map[string][]string // guarded by mu
}

func (h *publishedHub) Publish(f live.Frame) {
	h.mu.Lock()
	h.frames[f.Topic] = append(h.frames[f.Topic], string(f.Data))
	h.mu.Unlock()
	h.Hub.Publish(f)
}

func (h *publishedHub) published(topic string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.frames[topic])
}

func (h *publishedHub) latest(topic string) string {
	f := h.published(topic)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// The online list names accounts and guests connected on any page, not
// anonymous visitors; someone whose last connection ends stays listed for
// the grace period and not a moment more, and one who comes back within it
// never leaves the list.
func TestDirectoryOnlineGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := &publishedHub{Hub: live.NewHub(live.HubConfig{}), frames: map[string][]string{}}
		defer hub.Close()
		store := &roomsOnly{names: map[int64]string{1: "ann", 2: "bob"}}
		const grace = 5 * time.Second
		d := NewDirectory(store, hub, DirectoryConfig{Grace: grace}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		defer func() { stop(); <-done }()

		synctest.Wait()
		if got := hub.latest(views.TopicOnline); !strings.Contains(got, "No one is online") {
			t.Fatalf("at start the online list reads %q", got)
		}
		names := func() []string {
			var out []string
			for _, p := range d.Online().People {
				n := p.Name
				if p.Guest {
					n += " (guest)"
				}
				out = append(out, n)
			}
			return out
		}
		// settle lets the directory take a change in: past its pause.
		settle := func() { time.Sleep(DefaultDirectoryPause); synctest.Wait() }
		check := func(when string, want ...string) {
			t.Helper()
			synctest.Wait()
			if got := names(); !slices.Equal(got, want) {
				t.Errorf("%s: online %q, want %q", when, got, want)
			}
			latest := hub.latest(views.TopicOnline)
			for _, n := range want {
				if !strings.Contains(latest, "<bdi>"+strings.TrimSuffix(n, " (guest)")+"</bdi>") {
					t.Errorf("%s: the published list %q lacks %s", when, latest, n)
				}
			}
		}

		ann := hub.Subscribe([]string{views.TopicActivity}, views.TopicUser(1))
		annRoom := hub.Subscribe([]string{views.TopicRoom("ops")}, views.TopicUser(1))
		sam := hub.Subscribe([]string{views.TopicRoom("ops")}, guestUserKey("sam"))
		visitor := hub.Subscribe([]string{views.TopicActivity}, "0123456789abcdef01234567")
		defer hub.Unsubscribe(visitor)
		settle()
		check("ann on two pages, sam in a room, an anonymous visitor", "ann", "sam (guest)")
		if got := hub.latest(views.TopicOnline); !strings.Contains(got, `class="guest"`) {
			t.Errorf("sam is not marked a guest: %q", got)
		}

		// ann closes one page: still online. Then the other.
		hub.Unsubscribe(annRoom)
		settle()
		check("ann on one page", "ann", "sam (guest)")
		hub.Unsubscribe(ann)
		left := time.Now()
		frames := len(hub.published(views.TopicOnline))
		time.Sleep(grace - time.Millisecond)
		check("ann just within the grace period", "ann", "sam (guest)")
		if n := len(hub.published(views.TopicOnline)); n != frames {
			t.Errorf("the list was published %d times while nothing showed a change", n-frames)
		}
		time.Sleep(time.Millisecond)
		check("after the grace period", "sam (guest)")
		if gone := time.Since(left); gone != grace {
			t.Errorf("ann left the list %v after her last page, want the grace period %v", gone, grace)
		}

		// sam reloads: back within the grace period, never off the list.
		settle()
		hub.Unsubscribe(sam)
		settle()
		time.Sleep(grace / 2)
		sam = hub.Subscribe([]string{views.TopicRoom("ops")}, guestUserKey("sam"))
		frames = len(hub.published(views.TopicOnline))
		time.Sleep(2 * grace)
		check("sam came back", "sam (guest)")
		if n := len(hub.published(views.TopicOnline)); n != frames {
			t.Errorf("sam's reload changed the published list %d times", n-frames)
		}
		hub.Unsubscribe(sam)

		// An account the store does not know (deleted) is not listed.
		ghost := hub.Subscribe([]string{views.TopicActivity}, views.TopicUser(99))
		defer hub.Unsubscribe(ghost)
		bob := hub.Subscribe([]string{views.TopicActivity}, views.TopicUser(2))
		defer hub.Unsubscribe(bob)
		settle()
		check("bob and an account that is gone", "bob", "sam (guest)")
	})
}

// Messages and arrivals are rendered into the index together: a burst of
// them is at most one read and render per pause, and the index shows who
// is in each room, the rooms with people first.
func TestDirectoryIndexCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := &publishedHub{Hub: live.NewHub(live.HubConfig{}), frames: map[string][]string{}}
		defer hub.Close()
		at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		store := &roomsOnly{rooms: []db.RoomSummary{
			{Name: "ops", Messages: 3, Last: db.Message{Position: 9, Room: "ops", User: "bob", UserID: 2, Content: "done", At: at}},
			{Name: "lobby", Messages: 1, Last: db.Message{Position: 4, Room: "lobby", User: "sam", Content: "hi", At: at}},
		}}
		d := NewDirectory(store, hub, DirectoryConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { d.Run(ctx); close(done) }()
		defer func() { stop(); <-done }()
		synctest.Wait()
		reads := store.indexReads()

		for range 100 {
			d.MessageAdded()
		}
		d.RoomPresence("new", []string{"cy"})
		d.RoomPresence("lobby", []string{"ann", "sam"})
		d.RoomPresence("ops", []string{"di"})
		time.Sleep(DefaultDirectoryPause)
		synctest.Wait()
		if n := store.indexReads() - reads; n != 1 {
			t.Errorf("100 messages and three rooms' presence within a pause read the index %d times, want 1", n)
		}
		list, _, err := d.indexRooms(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, r := range list {
			order = append(order, r.Name+":"+strings.Join(r.Online, "+"))
		}
		if want := []string{"lobby:ann+sam", "ops:di", "new:cy"}; !slices.Equal(order, want) {
			t.Errorf("the index lists %q, want the rooms with people first (most people first, then the newest)", order)
		}
		latest := hub.latest(views.TopicRoomsIndex)
		for _, want := range []string{`data-room="new"`, "No messages yet", "<bdi>cy</bdi>", `data-last-user="2"`, "3 messages"} {
			if !strings.Contains(latest, want) {
				t.Errorf("the published index lacks %q: %s", want, latest)
			}
		}
		if !strings.Contains(latest, `<span class="unread"></span>`) || strings.Contains(latest, " unread<") {
			t.Errorf("the shared index carries an unread count, or no place for one: %s", latest)
		}

		d.RoomPresence("new", nil) // it stopped
		d.RoomPresence("ops", nil)
		time.Sleep(DefaultDirectoryPause)
		synctest.Wait()
		if latest := hub.latest(views.TopicRoomsIndex); strings.Contains(latest, `data-room="new"`) {
			t.Errorf("a room without messages or people is still listed: %s", latest)
		}
	})
}

func TestPreview(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"hello", "hello"},
		{"a\nb\t c", "a b c"},
		{"ééééé", "ééééé"},
		{"éééééé", "ééééé…"},
		{"abcd efgh", "abcd…"},
		{"  ", ""},
	} {
		if got := preview(c.in, 5); got != c.want {
			t.Errorf("preview(%q, 5) = %q, want %q", c.in, got, c.want)
		}
	}
}

// An account's hub key is its topic: the online list finds accounts by it.
func TestHubKeys(t *testing.T) {
	if k := chatUserKey(7, "ann"); k != views.TopicUser(7) || !strings.HasPrefix(k, userKeyPrefix) {
		t.Errorf("an account's socket key is %q", k)
	}
	if k := chatUserKey(0, "sam"); k != guestUserKey("sam") || !strings.HasPrefix(k, guestKeyPrefix) {
		t.Errorf("a guest's socket key is %q", k)
	}
	d := &Directory{names: map[int64]string{7: "ann"}}
	for key, want := range map[string]views.Person{
		views.TopicUser(7):   {Name: "ann"},
		guestUserKey("sam"):  {Name: "sam", Guest: true},
		guestUserKey(""):     {},
		views.TopicUser(8):   {},
		"0123456789abcdef01": {},
	} {
		if got, ok := d.personOf(key); got != want || ok != (want.Name != "") {
			t.Errorf("personOf(%q) = %+v, %v; want %+v", key, got, ok, want)
		}
	}
}
