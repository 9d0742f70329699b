package handlers

import (
	"context"
	"sync"
)

// liveSessions knows the live connections (SSE streams, room sockets) of
// each signed-in session, so that signing out, or revoking a session from
// the settings page, closes them at once instead of leaving them running
// until the browser goes away. Only this process's connections: with
// several instances, the others notice at their next reconnect.
type liveSessions struct {
	mu    sync.Mutex
	conns map[int64]*connSet
}

// connSet is the cancel functions of one session's connections.
type connSet struct {
	m map[*context.CancelFunc]struct{}
}

func newLiveSessions() *liveSessions {
	return &liveSessions{conns: map[int64]*connSet{}}
}

// hold returns a context for a connection of session id that end cancels,
// and the release to call when the connection is over.
func (l *liveSessions) hold(parent context.Context, id int64) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	key := &cancel
	l.mu.Lock()
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
	l.mu.Lock()
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

// count returns how many connections session id holds (for tests).
func (l *liveSessions) count(id int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if set := l.conns[id]; set != nil {
		return len(set.m)
	}
	return 0
}
