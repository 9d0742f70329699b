// Package rooms keeps the live state of chat rooms: who is online and who is
// typing. Each active room is an actor, like a Durable Object: one goroutine
// owns its members, presence and typing timers; everything else talks to it
// through its mailbox. A room starts on its first join and stops when it has
// been empty for Config.Idle.
//
// Messages do not pass through the room: they are written to the database,
// whose single writer orders them, and published after commit. The room
// owns what is never stored.
//
//   - Registry.mu guards which rooms run and how many connections each has,
//     so a join never races a room that is stopping. It is never held while
//     waiting for a room's goroutine, nor while calling Output.
//   - A room's goroutine owns its state; Output's Presence, Typing and
//     Stopped are called from it, in order. It never waits for the
//     registry's summary: it only flags that the summary changed.
//   - The registry's own summary goroutine reports the running rooms
//     (Output.Rooms), coalescing changes to at most one report per
//     Config.SummaryEvery, so no room's goroutine ever reads the registry
//     and a busy server does not re-list every room on every change.
//   - At most Config.MaxRooms rooms run at once; a room counts until it has
//     been empty for Config.Idle.
//   - Presence counts people, not connections: two tabs are one member. A
//     person leaves Config.Grace after their last connection closes, so a
//     reload does not flap.
//   - Typing expires Config.TypingTTL after the last signal; it is never
//     stored.
package rooms

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// Config sets a registry's limits and timers. Zero fields take the defaults.
type Config struct {
	// MaxConns is how many connections one room holds. Default 1,000.
	MaxConns int
	// Grace is how long a person stays online after their last connection
	// closes. Default 5s.
	Grace time.Duration
	// TypingTTL is how long "is typing" lasts after the last signal.
	// Default 3s.
	TypingTTL time.Duration
	// Idle is how long an empty room waits before it stops. Default 30s.
	Idle time.Duration
	// MaxRooms is how many rooms may run at once: a join that would start
	// one more gets ErrTooManyRooms. Default 1,000.
	MaxRooms int
	// SummaryEvery is the shortest time between two reports of the running
	// rooms (Output.Rooms). Default 100ms.
	SummaryEvery time.Duration
}

func (c *Config) fill() {
	if c.MaxConns <= 0 {
		c.MaxConns = 1000
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.TypingTTL <= 0 {
		c.TypingTTL = 3 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 30 * time.Second
	}
	if c.MaxRooms <= 0 {
		c.MaxRooms = DefaultMaxRooms
	}
	if c.SummaryEvery <= 0 {
		c.SummaryEvery = 100 * time.Millisecond
	}
}

// DefaultMaxRooms is Config.MaxRooms when it is not set.
const DefaultMaxRooms = 1000

// Output receives the rooms' changes. Presence, Typing and Stopped come
// from the room's goroutine, in order; Rooms from the registry's summary
// goroutine, in order. No method is called with the registry's lock held.
// None may block or call back into the registry: a room's goroutine that
// waited for the registry while the registry waited for the room would
// deadlock them both.
type Output interface {
	// Presence is the sorted list of people online in room.
	Presence(room string, online []string)
	// Typing is the sorted list of people typing in room.
	Typing(room string, typing []string)
	// Stopped says that room stopped: it was empty for Config.Idle.
	Stopped(room string)
	// Rooms is the running rooms by name, as Registry.Active returns them,
	// after a change of who is online in any of them or of which run.
	Rooms(active []Summary)
}

// ErrFull is returned by Join when a room holds Config.MaxConns connections.
var ErrFull = errors.New("rooms: room is full")

// ErrTooManyRooms is returned by Join when a new room would be one more
// than Config.MaxRooms.
var ErrTooManyRooms = errors.New("rooms: too many rooms are open")

// ErrClosed is returned by Join after Close.
var ErrClosed = errors.New("rooms: closed")

// Registry runs the active rooms.
type Registry struct {
	cfg Config
	out Output

	mu     sync.Mutex
	rooms  map[string]*room // guarded by mu
	closed bool             // guarded by mu
	wg     sync.WaitGroup

	// summaryDue holds a token while the running rooms changed since the
	// last report; rooms put it without waiting (roomsChanged).
	summaryDue chan struct{}
	stop       chan struct{} // closed by Close: the summary goroutine ends
}

// NewRegistry returns a registry whose rooms report to out. It starts the
// goroutine that reports the running rooms; Close stops it.
func NewRegistry(cfg Config, out Output) *Registry {
	cfg.fill()
	g := &Registry{cfg: cfg, out: out, rooms: make(map[string]*room),
		summaryDue: make(chan struct{}, 1), stop: make(chan struct{})}
	g.wg.Add(1)
	go g.summarize()
	return g
}

// Member is one connection in a room.
type Member struct {
	r    *room
	user string
	once sync.Once
}

// Join adds a connection of user to room, starting the room if it is not
// running. The caller must call Leave when the connection ends.
func (g *Registry) Join(name, user string) (*Member, error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, ErrClosed
	}
	r := g.rooms[name]
	if r == nil {
		if len(g.rooms) >= g.cfg.MaxRooms {
			g.mu.Unlock()
			return nil, ErrTooManyRooms
		}
		r = newRoom(g, name)
		g.rooms[name] = r
		g.wg.Add(1)
		go r.run()
	}
	if r.conns >= g.cfg.MaxConns {
		g.mu.Unlock()
		return nil, ErrFull
	}
	r.conns++
	g.mu.Unlock()
	m := &Member{r: r, user: user}
	r.do(func(s *state) { s.join(user) })
	return m, nil
}

// Typing says that the member is typing.
func (m *Member) Typing() { m.r.do(func(s *state) { s.typing(m.user) }) }

// StopTyping says that the member sent what they typed.
func (m *Member) StopTyping() { m.r.do(func(s *state) { s.stopTyping(m.user) }) }

// Leave ends the member's connection. It is safe to call more than once.
func (m *Member) Leave() {
	m.once.Do(func() {
		m.r.do(func(s *state) { s.leave(m.user) })
		g := m.r.g
		g.mu.Lock()
		m.r.conns--
		g.mu.Unlock()
	})
}

// Summary is a running room as the dashboard lists it.
type Summary struct {
	Name   string
	Online int
}

// Active returns the running rooms by name, with how many people are online.
func (g *Registry) Active() []Summary {
	g.mu.Lock()
	rooms := make([]*room, 0, len(g.rooms))
	for _, r := range g.rooms {
		rooms = append(rooms, r)
	}
	g.mu.Unlock()
	out := make([]Summary, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, Summary{Name: r.name, Online: r.onlineCount()})
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	return out
}

// Online returns who is online in room now (nil for a room not running).
func (g *Registry) Online(name string) []string {
	g.mu.Lock()
	r := g.rooms[name]
	g.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Online()
}

// Close stops every room and waits for their goroutines. Joins after Close
// fail; members' calls after Close do nothing.
func (g *Registry) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		for _, r := range g.rooms {
			close(r.quit)
		}
		close(g.stop)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// roomsChanged notes that the running rooms, or who is online in one,
// changed. It never waits: a room's goroutine calls it.
func (g *Registry) roomsChanged() {
	select {
	case g.summaryDue <- struct{}{}:
	default: // a report is already due; it will see this change too
	}
}

// summarize is the registry's summary goroutine: it reports the running
// rooms after each change, at most once per Config.SummaryEvery; changes
// meanwhile are reported together after it. It reads the registry the way
// any reader does (Active), and no room's goroutine ever waits for it.
func (g *Registry) summarize() {
	defer g.wg.Done()
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-g.summaryDue:
		}
		g.out.Rooms(g.Active())
		pause.Reset(g.cfg.SummaryEvery)
		select {
		case <-g.stop:
			return
		case <-pause.C:
		}
	}
}

// tryStop removes an idle room if no connection joined it meanwhile.
func (g *Registry) tryStop(r *room) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.conns > 0 || g.closed {
		return g.closed
	}
	delete(g.rooms, r.name)
	return true
}

// room is the actor of one running room.
type room struct {
	g     *Registry
	name  string
	conns int // guarded by g.mu

	mail chan func(*state)
	quit chan struct{} // closed by Registry.Close
	done chan struct{} // closed when run returns

	mu     sync.Mutex
	online []string // guarded by mu; a copy for readers outside the actor
}

func newRoom(g *Registry, name string) *room {
	return &room{g: g, name: name, mail: make(chan func(*state), 64),
		quit: make(chan struct{}), done: make(chan struct{})}
}

// do hands f to the room's goroutine; it does nothing once the room stopped.
func (r *room) do(f func(*state)) {
	select {
	case r.mail <- f:
	case <-r.done:
	}
}

// Online returns who is online, as last published.
func (r *room) Online() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.online)
}

// onlineCount returns how many are online, as last published.
func (r *room) onlineCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.online)
}

func (r *room) run() {
	defer r.g.wg.Done()
	defer close(r.done)
	s := &state{cfg: r.g.cfg, conns: map[string]int{}, leaving: map[string]time.Time{}, typers: map[string]time.Time{}}
	s.now = time.Now()
	s.idleSince = s.now
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if next, ok := s.next(); ok {
			timer.Reset(time.Until(next))
		} else {
			timer.Stop()
		}
		select {
		case <-r.quit:
			return
		case f := <-r.mail:
			s.now = time.Now()
			f(s)
		case <-timer.C:
			s.now = time.Now()
			s.expire()
		}
		if s.presenceChanged {
			s.presenceChanged = false
			online := s.onlineList()
			r.mu.Lock()
			r.online = online
			r.mu.Unlock()
			r.g.out.Presence(r.name, online)
			r.g.roomsChanged()
		}
		if s.typingChanged {
			s.typingChanged = false
			r.g.out.Typing(r.name, s.typingList())
		}
		if s.stopDue && r.g.tryStop(r) {
			r.g.out.Stopped(r.name)
			r.g.roomsChanged()
			return
		}
		s.stopDue = false
	}
}

// state is what a room's goroutine owns.
type state struct {
	cfg     Config
	now     time.Time
	conns   map[string]int       // open connections per person
	leaving map[string]time.Time // people whose last connection closed: when they leave
	typers  map[string]time.Time // people typing: when it expires

	idleSince                      time.Time // when the last connection closed; zero while any is open
	presenceChanged, typingChanged bool
	stopDue                        bool
}

func (s *state) join(user string) {
	if _, away := s.leaving[user]; away {
		delete(s.leaving, user) // back within the grace period: no flap
	} else if s.conns[user] == 0 {
		s.presenceChanged = true
	}
	s.conns[user]++
	s.idleSince = time.Time{}
}

func (s *state) leave(user string) {
	if s.conns[user]--; s.conns[user] > 0 {
		return
	}
	delete(s.conns, user)
	s.leaving[user] = s.now.Add(s.cfg.Grace)
	s.stopTyping(user)
	if len(s.conns) == 0 {
		s.idleSince = s.now
	}
}

func (s *state) typing(user string) {
	if s.conns[user] == 0 {
		return
	}
	if _, already := s.typers[user]; !already {
		s.typingChanged = true
	}
	s.typers[user] = s.now.Add(s.cfg.TypingTTL)
}

func (s *state) stopTyping(user string) {
	if _, ok := s.typers[user]; ok {
		delete(s.typers, user)
		s.typingChanged = true
	}
}

// expire ends what is due: typing, grace periods, and an idle room.
func (s *state) expire() {
	for u, t := range s.typers {
		if !t.After(s.now) {
			delete(s.typers, u)
			s.typingChanged = true
		}
	}
	for u, t := range s.leaving {
		if !t.After(s.now) {
			delete(s.leaving, u)
			s.presenceChanged = true
		}
	}
	if len(s.conns) == 0 && len(s.leaving) == 0 && !s.idleSince.IsZero() && !s.idleSince.Add(s.cfg.Idle).After(s.now) {
		s.stopDue = true
	}
}

// next returns the earliest time something is due.
func (s *state) next() (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, t := range s.typers {
		consider(t)
	}
	for _, t := range s.leaving {
		consider(t)
	}
	if len(s.conns) == 0 && !s.idleSince.IsZero() {
		consider(s.idleSince.Add(s.cfg.Idle))
	}
	return next, !next.IsZero()
}

// onlineList is everyone with a connection or within their grace period.
func (s *state) onlineList() []string {
	out := make([]string, 0, len(s.conns)+len(s.leaving))
	for u := range s.conns {
		out = append(out, u)
	}
	for u := range s.leaving {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

func (s *state) typingList() []string {
	out := make([]string, 0, len(s.typers))
	for u := range s.typers {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}
