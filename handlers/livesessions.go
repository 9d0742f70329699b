package handlers

import (
	"context"
	"sync"
	"time"
)

// liveSessions knows the live connections (SSE streams, room sockets) of
// each signed-in session, so that signing out, or revoking a session from
// the settings page, closes them at once instead of leaving them running
// until the browser goes away. Only this process's connections: with
// several instances, the others notice at their next reconnect.
//
// A connection's session was looked up before it is held; a session ended in
// between must still end it, so ended ids are remembered for a while (ids
// are never reused) and hold returns a context that is already done.
//
// Widget tokens use a liveSessions of their own, keyed by the token's id:
// revoking one ends the widget streams it has open the same way.
type liveSessions struct {
	mu    sync.Mutex
	conns map[int64]*connSet
	ended map[int64]time.Time // sessions ended in the last endedFor
}

// endedFor is how long an ended session is remembered: far longer than a
// request takes from its session lookup to holding its connection.
const endedFor = time.Minute

// connSet is the cancel functions of one session's connections.
type connSet struct {
	m map[*context.CancelFunc]struct{}
}

func newLiveSessions() *liveSessions {
	return &liveSessions{conns: map[int64]*connSet{}, ended: map[int64]time.Time{}}
}

// hold returns a context for a connection of session id that end cancels,
// and the release to call when the connection is over.
func (l *liveSessions) hold(parent context.Context, id int64) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	key := &cancel
	l.mu.Lock()
	if _, ok := l.ended[id]; ok {
		l.mu.Unlock()
		cancel()
		return ctx, cancel
	}
	set := l.conns[id]
	if set == nil {
		set = &connSet{m: map[*context.CancelFunc]struct{}{}}
		l.conns[id] = set
	}
	set.m[key] = struct{}{}
	l.mu.Unlock()
	return ctx, func() {
		cancel()
		l.mu.Lock()
		delete(set.m, key)
		if len(set.m) == 0 && l.conns[id] == set {
			delete(l.conns, id)
		}
		l.mu.Unlock()
	}
}

// end cancels every connection of session id.
func (l *liveSessions) end(id int64) {
	now := time.Now()
	l.mu.Lock()
	for old, at := range l.ended {
		if now.Sub(at) > endedFor {
			delete(l.ended, old)
		}
	}
	l.ended[id] = now
	var cancels []*context.CancelFunc
	if set := l.conns[id]; set != nil {
		for c := range set.m {
			cancels = append(cancels, c)
		}
	}
	delete(l.conns, id)
	l.mu.Unlock()
	for _, cancel := range cancels {
		(*cancel)()
	}
}
