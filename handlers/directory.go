package handlers

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// DefaultDirectoryPause is the shortest time between two renders of the
// rooms index, and of the online list: changes meanwhile are rendered
// together after it, so a busy site renders each at most four times a
// second however many messages and arrivals it has.
const DefaultDirectoryPause = 250 * time.Millisecond

// onlineLimit bounds how many of the people connected to this instance the
// online list reads from the hub each time (it names OnlineShown of them
// and counts the rest).
const onlineLimit = 1000

// Directory keeps the site's directory live: the rooms index (every room
// with messages or people in it) and who is online now. Each is rendered
// once for every viewer and published on its state topic when it changed;
// a viewer's unread counts are theirs, painted on their page (roomsIndex).
//
//   - Run's goroutine owns the online list's state (who is connected, who
//     is leaving and when, the names of accounts) and what it last
//     published; it is the only one that renders and publishes.
//   - mu guards the rooms' own reports of who is in them (RoomPresence,
//     from each room's goroutine through RoomOutput) and the online list
//     as last rendered, which pages read.
//   - MessageAdded and RoomPresence never wait: they note a change and
//     wake Run, which renders at most once per pause.
//   - Who is online comes from the hub's users (live.Hub.Users), and Run
//     wakes when they change; a person stays listed Grace after their last
//     live connection ends, as in a room, so a reload does not flap.
type Directory struct {
	store directoryStore
	hub   directoryHub
	log   *slog.Logger
	grace time.Duration
	pause time.Duration

	mu       sync.Mutex
	presence map[string][]string // guarded by mu; who is in each room that has people in it, sorted
	online   views.OnlineNow     // guarded by mu; as last rendered

	indexDue chan struct{} // holds a token while the rooms index changed since it was rendered

	// Owned by Run's goroutine.
	people     onlineState
	names      map[int64]string // names of the accounts in people
	lastIndex  []byte
	lastOnline []byte
}

// directoryStore reads what the directory shows.
type directoryStore interface {
	Rooms(ctx context.Context, before int64, limit int) ([]db.RoomSummary, bool, error)
	RoomsNamed(ctx context.Context, names []string) ([]db.RoomSummary, error)
	UserNames(ctx context.Context, ids []int64) (map[int64]string, error)
}

// directoryHub is what the directory needs of the live hub.
type directoryHub interface {
	Users(limit int, prefixes ...string) ([]string, int)
	UsersChanged() <-chan struct{}
	Publish(f live.Frame)
}

// DirectoryConfig configures a Directory. Zero fields take the defaults.
type DirectoryConfig struct {
	// Grace is how long a person stays online after their last live
	// connection closes: the rooms' presence grace. Default 5s.
	Grace time.Duration
	// Pause is DefaultDirectoryPause unless set.
	Pause time.Duration
}

// NewDirectory returns the directory of the rooms in store and the people
// connected to hub. Run makes it live.
func NewDirectory(store directoryStore, hub directoryHub, cfg DirectoryConfig, log *slog.Logger) *Directory {
	return &Directory{
		store: store, hub: hub, log: log,
		grace:    cmp.Or(cfg.Grace, 5*time.Second),
		pause:    cmp.Or(cfg.Pause, DefaultDirectoryPause),
		presence: make(map[string][]string),
		indexDue: make(chan struct{}, 1),
		people:   onlineState{here: map[string]views.Person{}, leaving: map[string]leaving{}},
		names:    make(map[int64]string),
	}
}

// MessageAdded says a message was committed: the index's counts and
// previews changed. It never waits (the database's writer calls it).
func (d *Directory) MessageAdded() { d.due() }

// RoomPresence says who is in room now (nobody, once it stopped). It never
// waits (a room's goroutine calls it).
func (d *Directory) RoomPresence(room string, online []string) {
	d.mu.Lock()
	if len(online) == 0 {
		delete(d.presence, room)
	} else {
		d.presence[room] = slices.Clone(online)
	}
	d.mu.Unlock()
	d.due()
}

func (d *Directory) due() {
	select {
	case d.indexDue <- struct{}{}:
	default: // already due; the render will see this change too
	}
}

// Online returns who is online now, as the online list last showed it.
func (d *Directory) Online() views.OnlineNow {
	d.mu.Lock()
	defer d.mu.Unlock()
	return views.OnlineNow{People: slices.Clone(d.online.People), More: d.online.More}
}

// Run renders and publishes the rooms index and the online list, at once
// and then after every change (at most once per pause), until ctx ends.
func (d *Directory) Run(ctx context.Context) {
	pause := time.NewTimer(0)
	defer pause.Stop()
	expire := time.NewTimer(time.Hour)
	expire.Stop()
	defer expire.Stop()
	indexDue, onlineDue := true, true
	for {
		if indexDue {
			d.publishIndex(ctx)
		}
		if onlineDue {
			d.publishOnline(ctx, time.Now())
		}
		if next, ok := d.people.next(); ok {
			expire.Reset(time.Until(next))
		} else {
			expire.Stop()
		}
		pause.Reset(d.pause)
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
		indexDue, onlineDue = false, false
		select {
		case <-ctx.Done():
			return
		case <-d.indexDue:
			indexDue = true
		case <-d.hub.UsersChanged():
			onlineDue = true
		case <-expire.C:
			onlineDue = true
		}
		// Whatever else is due goes out with it.
		select {
		case <-d.indexDue:
			indexDue = true
		default:
		}
		select {
		case <-d.hub.UsersChanged():
			onlineDue = true
		default:
		}
	}
}

// publishIndex renders the first page of the rooms index, and publishes it
// if it changed.
func (d *Directory) publishIndex(ctx context.Context) {
	rooms, _, err := d.indexRooms(ctx, 0)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("read the rooms index", "err", err)
		}
		return
	}
	d.lastIndex = d.publish(views.TopicRoomsIndex, views.RoomsIndexFragment(rooms), d.lastIndex)
}

// publishOnline brings the online list up to date at now and publishes it
// if it changed.
func (d *Directory) publishOnline(ctx context.Context, now time.Time) {
	here, total, err := d.onlineHere(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("read who is online", "err", err)
		}
		return
	}
	d.people.update(here, now, d.grace)
	list := d.people.list(total - len(here))
	d.mu.Lock()
	d.online = list
	d.mu.Unlock()
	d.lastOnline = d.publish(views.TopicOnline, views.OnlineNowList(list, true), d.lastOnline)
}

// publish renders c and publishes it on topic unless it is last; it returns
// what is published now.
func (d *Directory) publish(topic string, c templ.Component, last []byte) []byte {
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		d.log.Error("render the directory", "topic", topic, "err", err)
		return last
	}
	if bytes.Equal(buf.Bytes(), last) {
		return last
	}
	d.hub.Publish(live.Frame{Topic: topic, Data: buf.Bytes(), At: time.Now()})
	return buf.Bytes()
}

// onlineHere returns who is connected to this instance now, by their key
// in the hub (liveUserKey), at most onlineLimit of them, and how many are
// in all: the accounts and the guests with a name, on any live page or in
// any room. It is the one place that knows; a cluster merges what each
// instance's says.
func (d *Directory) onlineHere(ctx context.Context) (map[string]views.Person, int, error) {
	keys, total := d.hub.Users(onlineLimit, userKeyPrefix, guestKeyPrefix)
	here := make(map[string]views.Person, len(keys))
	var missing []int64
	for _, k := range keys {
		if id, ok := views.UserOfTopic(k); ok {
			if _, known := d.names[id]; !known && id > 0 {
				missing = append(missing, id)
			}
		}
	}
	if len(missing) > 0 {
		found, err := d.store.UserNames(ctx, missing)
		if err != nil {
			return nil, 0, err
		}
		maps.Copy(d.names, found)
	}
	for _, k := range keys {
		if p, ok := d.personOf(k); ok {
			here[k] = p
		}
	}
	// Names are kept for the people listed, no others.
	for id := range d.names {
		k := views.TopicUser(id)
		if _, listed := here[k]; !listed && !d.people.has(k) {
			delete(d.names, id)
		}
	}
	return here, total, nil
}

// personOf returns the person a hub key stands for: an account by its
// name, or a guest; not an anonymous visitor, nor an account that is gone.
func (d *Directory) personOf(key string) (views.Person, bool) {
	if id, ok := views.UserOfTopic(key); ok {
		name, known := d.names[id]
		return views.Person{Name: name}, known
	}
	if name, ok := strings.CutPrefix(key, guestKeyPrefix); ok && name != "" {
		return views.Person{Name: name, Guest: true}, true
	}
	return views.Person{}, false
}

// indexRooms returns a page of the rooms index: the rooms whose newest
// message is older than before (0: the first page, which also lists the
// rooms that have people in them, those first), with who is in each, and
// the position to page back from (0 when no older room is left).
func (d *Directory) indexRooms(ctx context.Context, before int64) ([]views.IndexRoom, int64, error) {
	list, more, err := d.store.Rooms(ctx, before, views.IndexRooms)
	if err != nil {
		return nil, 0, err
	}
	var older int64
	if more {
		older = list[len(list)-1].Last.Position
	}
	d.mu.Lock()
	presence := maps.Clone(d.presence)
	d.mu.Unlock()

	out := make([]views.IndexRoom, 0, len(list))
	listed := make(map[string]bool, len(list))
	for _, r := range list {
		listed[r.Name] = true
		out = append(out, indexRoomView(r, presence[r.Name]))
	}
	if before > 0 {
		return out, older, nil
	}
	// The first page: every room with people in it (the busiest
	// IndexRooms of them), those first.
	busy := make([]string, 0, len(presence))
	for name := range presence {
		busy = append(busy, name)
	}
	slices.SortFunc(busy, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(presence[b]), len(presence[a])), strings.Compare(a, b))
	})
	busy = busy[:min(len(busy), views.IndexRooms)]
	var missing []string
	for _, name := range busy {
		if !listed[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		found, err := d.store.RoomsNamed(ctx, missing)
		if err != nil {
			return nil, 0, err
		}
		withMessages := make(map[string]bool, len(found))
		for _, r := range found {
			withMessages[r.Name] = true
			out = append(out, indexRoomView(r, presence[r.Name]))
		}
		for _, name := range missing {
			if !withMessages[name] {
				out = append(out, views.IndexRoom{Name: name, Online: presence[name]})
			}
		}
	}
	isBusy := make(map[string]bool, len(busy))
	for _, name := range busy {
		isBusy[name] = true
	}
	// The rooms with people first, the most people first; then the newest.
	slices.SortStableFunc(out, func(a, b views.IndexRoom) int {
		ab, bb := isBusy[a.Name], isBusy[b.Name]
		switch {
		case ab && !bb:
			return -1
		case bb && !ab:
			return 1
		case ab && bb:
			if c := cmp.Compare(len(b.Online), len(a.Online)); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(b.Last.Position, a.Last.Position), strings.Compare(a.Name, b.Name))
	})
	return out, older, nil
}

// indexRoomView is a room of the index as the views show it: its newest
// message cut to a preview of one line.
func indexRoomView(r db.RoomSummary, online []string) views.IndexRoom {
	last := messageViews([]db.Message{r.Last})[0]
	last.Content = preview(last.Content, db.PreviewRunes)
	return views.IndexRoom{Name: r.Name, Messages: r.Messages, Last: last, LastUserID: r.Last.UserID, Online: online}
}

// preview is the first n characters of s on one line, with an ellipsis
// when there was more.
func preview(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return strings.TrimSpace(s[:i]) + "…"
}

// onlineState is who is online, with the grace period: the people
// connected now, and those whose last connection ended, until when they
// still count. Run's goroutine owns it.
type onlineState struct {
	here    map[string]views.Person // by hub key
	leaving map[string]leaving      // by hub key
}

// leaving is someone whose last connection ended: they count until.
type leaving struct {
	person views.Person
	until  time.Time
}

// update takes who is connected now: those no longer connected start
// leaving, those back within their grace period stay, and those whose
// grace period ended by now go.
func (s *onlineState) update(here map[string]views.Person, now time.Time, grace time.Duration) {
	for k, p := range s.here {
		if _, still := here[k]; !still {
			s.leaving[k] = leaving{person: p, until: now.Add(grace)}
		}
	}
	for k := range here {
		delete(s.leaving, k)
	}
	for k, l := range s.leaving {
		if !l.until.After(now) {
			delete(s.leaving, k)
		}
	}
	s.here = here
}

// has reports whether key is listed, connected or leaving.
func (s *onlineState) has(key string) bool {
	_, here := s.here[key]
	_, away := s.leaving[key]
	return here || away
}

// next returns when the next person leaving goes.
func (s *onlineState) next() (time.Time, bool) {
	var next time.Time
	for _, l := range s.leaving {
		if next.IsZero() || l.until.Before(next) {
			next = l.until
		}
	}
	return next, !next.IsZero()
}

// list is the online list: everyone connected or within their grace
// period, by name, the first OnlineShown of them, and how many more there
// are with unlisted more (the hub's beyond onlineLimit).
func (s *onlineState) list(unlisted int) views.OnlineNow {
	people := make([]views.Person, 0, len(s.here)+len(s.leaving))
	for _, p := range s.here {
		people = append(people, p)
	}
	for k, l := range s.leaving {
		if _, back := s.here[k]; !back {
			people = append(people, l.person)
		}
	}
	slices.SortFunc(people, func(a, b views.Person) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)),
			strings.Compare(a.Name, b.Name), compareBool(a.Guest, b.Guest))
	})
	people = slices.CompactFunc(people, func(a, b views.Person) bool { return a == b })
	more := max(0, unlisted)
	if len(people) > views.OnlineShown {
		more += len(people) - views.OnlineShown
		people = people[:views.OnlineShown]
	}
	return views.OnlineNow{People: people, More: more}
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// Who a live connection is, to the hub: its key counts active users, and,
// for accounts and named guests, lists them as online.
const (
	userKeyPrefix  = "user:" // views.TopicUser's: an account's key is its topic
	guestKeyPrefix = "guest:"
)

// chatUserKey is the hub key of a room socket: its account, or the guest's
// name (guests are told apart by name in a room's presence, and so here).
func chatUserKey(userID int64, name string) string {
	if userID != 0 {
		return views.TopicUser(userID)
	}
	return guestKeyPrefix + name
}

// guestUserKey is the hub key of a signed-out visitor who chose a name.
func guestUserKey(name string) string { return guestKeyPrefix + name }
