package handlers

import (
	"slices"
	"sync"

	"github.com/beacon-live/beacon/rooms"
)

// RoomState is one instance's part of a room: who is online in it and who
// is typing, through that instance's connections. Instances of a cluster
// exchange it (package cluster's Exchange); the room's presence is the
// union of every instance's.
type RoomState struct {
	Online []string `json:"o,omitempty"`
	Typing []string `json:"t,omitempty"`
}

// roomStates is where an instance shares its RoomStates with the others:
// package cluster's Exchange.
type roomStates interface {
	Set(room string, s RoomState) error
	Delete(room string)
}

// SharedPresence is the rooms.Output of an instance of a cluster. Its rooms
// report this instance's members; it shares them with the other instances
// and publishes, to this instance's live connections, what every instance's
// members make together: a room's presence and typing are their union, and
// the dashboard's Rooms panel counts every instance's people. A killed
// instance's members go when the others stop hearing from it.
//
// Its rooms call it from their goroutines; the exchange calls Merged from
// its own. Neither waits for the other: Set only records and wakes the
// exchange.
type SharedPresence struct {
	out *RoomOutput

	mu     sync.Mutex
	states roomStates           // guarded by mu; nil until Share
	local  map[string]RoomState // guarded by mu; this instance's part of each room
	merged map[string]RoomState // guarded by mu; every instance's, by room
}

var _ rooms.Output = (*SharedPresence)(nil)

// NewSharedPresence returns the presence of a cluster's instance, which
// publishes through out.
func NewSharedPresence(out *RoomOutput) *SharedPresence {
	return &SharedPresence{out: out, local: map[string]RoomState{}, merged: map[string]RoomState{}}
}

// Share starts sharing this instance's part of every room through states,
// before the first connection joins a room.
func (p *SharedPresence) Share(states roomStates) {
	p.mu.Lock()
	p.states = states
	p.mu.Unlock()
}

// Presence implements rooms.Output: this instance's members of room.
func (p *SharedPresence) Presence(room string, online []string) {
	p.update(room, func(s *RoomState) { s.Online = slices.Clone(online) })
}

// Typing implements rooms.Output: who types in room through this instance.
func (p *SharedPresence) Typing(room string, typing []string) {
	p.update(room, func(s *RoomState) { s.Typing = slices.Clone(typing) })
}

// Stopped implements rooms.Output. The room stopped here; others may still
// hold it: what is published follows the union (Merged).
func (p *SharedPresence) Stopped(room string) {
	p.update(room, func(s *RoomState) { *s = RoomState{} })
}

// Rooms implements rooms.Output. The Rooms panel counts every instance's
// people, so it is published from the union (Merged), not from here.
func (p *SharedPresence) Rooms([]rooms.Summary) {}

func (p *SharedPresence) update(room string, change func(*RoomState)) {
	p.mu.Lock()
	s := p.local[room]
	change(&s)
	states := p.states
	if len(s.Online) == 0 && len(s.Typing) == 0 {
		delete(p.local, room)
	} else {
		p.local[room] = s
	}
	p.mu.Unlock()
	if states == nil {
		return
	}
	if len(s.Online) == 0 && len(s.Typing) == 0 {
		states.Delete(room)
	} else if err := states.Set(room, s); err != nil {
		p.out.Log.Warn("share presence", "room", room, "err", err)
	}
}

// Merged is the exchange's word that room's states changed: every
// instance's part of it, by instance. It publishes their union where it
// changed, and the Rooms panel.
func (p *SharedPresence) Merged(room string, byInstance map[string]RoomState) {
	var u RoomState
	for _, s := range byInstance {
		u.Online = append(u.Online, s.Online...)
		u.Typing = append(u.Typing, s.Typing...)
	}
	slices.Sort(u.Online)
	slices.Sort(u.Typing)
	u.Online, u.Typing = slices.Compact(u.Online), slices.Compact(u.Typing)

	p.mu.Lock()
	old, had := p.merged[room]
	if len(u.Online) == 0 && len(u.Typing) == 0 {
		delete(p.merged, room)
	} else {
		p.merged[room] = u
	}
	active := p.activeLocked()
	p.mu.Unlock()

	if !slices.Equal(old.Online, u.Online) || !had {
		p.out.Presence(room, u.Online)
	}
	if !slices.Equal(old.Typing, u.Typing) {
		p.out.Typing(room, u.Typing)
	}
	if len(u.Online) == 0 && len(u.Typing) == 0 {
		p.out.Stopped(room)
	}
	p.out.Rooms(active)
}

// Online returns who is online in room on any instance.
func (p *SharedPresence) Online(room string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.merged[room].Online)
}

// Active returns the rooms someone is in on any instance, by name, with
// how many people are online in each.
func (p *SharedPresence) Active() []rooms.Summary {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.activeLocked()
}

func (p *SharedPresence) activeLocked() []rooms.Summary {
	out := make([]rooms.Summary, 0, len(p.merged))
	for name, s := range p.merged {
		if len(s.Online) > 0 {
			out = append(out, rooms.Summary{Name: name, Online: len(s.Online)})
		}
	}
	slices.SortFunc(out, func(a, b rooms.Summary) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
