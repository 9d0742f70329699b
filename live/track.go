package live

import (
	"context"
	"sync"
)

// tracker counts a transport's open connections so that shutdown can wait
// for them. Unlike a sync.WaitGroup, a connection may start while someone
// waits (a request that arrives during shutdown still gets its retry hint).
type tracker struct {
	mu    sync.Mutex
	n     int           // guarded by mu
	empty chan struct{} // guarded by mu; closed when n drops to 0; nil while nobody waits
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n--; t.n == 0 && t.empty != nil {
		close(t.empty)
		t.empty = nil
	}
}

// wait blocks until no connection is open or ctx is done.
func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.empty == nil {
		t.empty = make(chan struct{})
	}
	empty := t.empty
	t.mu.Unlock()
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
