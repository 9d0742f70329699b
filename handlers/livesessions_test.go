package handlers

import (
	"context"
	"testing"
)

// TestLiveSessionsEndBeforeHold: a connection whose session ended between
// its lookup and its hold is ended too.
func TestLiveSessionsEndBeforeHold(t *testing.T) {
	l := newLiveSessions()
	a, releaseA := l.hold(context.Background(), 1)
	defer releaseA()
	other, releaseOther := l.hold(context.Background(), 2)
	defer releaseOther()
	if l.count(1) != 1 {
		t.Fatalf("count %d", l.count(1))
	}
	l.end(1)
	if a.Err() == nil || other.Err() != nil {
		t.Fatalf("after end(1): held %v, other session's %v", a.Err(), other.Err())
	}
	late, releaseLate := l.hold(context.Background(), 1)
	defer releaseLate()
	if late.Err() == nil {
		t.Fatal("a connection held after its session ended is live")
	}
	if l.count(1) != 0 {
		t.Fatalf("an ended session still counts %d connections", l.count(1))
	}
	releaseA()
	releaseOther()
	if l.count(2) != 0 {
		t.Fatalf("released connections still count: %d", l.count(2))
	}
}

// count returns how many connections session id holds.
func (l *liveSessions) count(id int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if set := l.conns[id]; set != nil {
		return len(set.m)
	}
	return 0
}
