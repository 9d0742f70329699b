package live

import (
	"os"
	"sync"
	"syscall"
)

// watcher notices clients that leave a stream Beacon holds the socket of,
// without a goroutine per connection: every such socket is registered, for
// its peer's close or reset, with an epoll instance of Beacon's own, which
// itself sits in the Go runtime's poller. One goroutine reads it, parked in
// the poller while nobody leaves; a departure ends its link at once, as
// net/http's background read did for a response it kept.
type watcher struct {
	f    *os.File // the epoll instance
	epfd int

	mu    sync.Mutex
	links map[uint64]*link // guarded by mu; by registration id (descriptors are reused, ids never)
	next  uint64           // guarded by mu

	closeOnce sync.Once
	done      chan struct{} // closed when the reading goroutine has stopped
}

// newWatcher returns a running watcher, or nil if the system refuses one:
// departures are then noticed at the next write (the heartbeat at latest).
func newWatcher() *watcher {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	// Non-blocking, so that os.NewFile puts it in the runtime's poller.
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "beacon-departures")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	w := &watcher{f: f, epfd: fd, links: map[uint64]*link{}, done: make(chan struct{})}
	go w.run(rc)
	return w
}

func (w *watcher) run(rc syscall.RawConn) {
	defer close(w.done)
	events := make([]syscall.EpollEvent, 64)
	var gone []*link
	for {
		var n int
		err := rc.Read(func(fd uintptr) bool {
			var err error
			n, err = syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				n = 0
				return false
			}
			return n > 0
		})
		if err != nil {
			return // closed
		}
		w.mu.Lock()
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if l := w.links[id]; l != nil {
				delete(w.links, id)
				gone = append(gone, l)
			}
		}
		w.mu.Unlock()
		for i, l := range gone {
			l.stop(endGone)
			gone[i] = nil
		}
		gone = gone[:0]
	}
}

// add watches l's socket for its peer leaving, and returns the descriptor
// and the id to remove it with; fd is -1 if it could not be watched.
func (w *watcher) add(rc syscall.RawConn, l *link) (fd int, id uint64) {
	fd = -1
	w.mu.Lock()
	w.next++
	id = w.next
	w.links[id] = l
	w.mu.Unlock()
	var err error
	cerr := rc.Control(func(s uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		if err = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(s), &ev); err == nil {
			fd = int(s)
		}
	})
	if cerr != nil || err != nil {
		w.mu.Lock()
		delete(w.links, id)
		w.mu.Unlock()
		return -1, 0
	}
	return fd, id
}

// remove stops watching fd, registered as id; it must be called before the
// socket is closed, while fd is still the socket's.
func (w *watcher) remove(fd int, id uint64) {
	w.mu.Lock()
	delete(w.links, id)
	w.mu.Unlock()
	syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_DEL, fd, nil) //nolint:errcheck // closing the socket removes it anyway
}

// close stops the watcher and waits for its goroutine.
func (w *watcher) close() {
	w.closeOnce.Do(func() {
		w.f.Close()
		<-w.done
	})
}
