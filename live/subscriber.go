package live

import (
	"strconv"
	"strings"
	"sync"
)

// Subscriber is one connection's view of the hub: a bounded queue of log
// frames and the newest pending frame of each state topic. The hub pushes into
// it; the connection's writer takes from it. Neither ever waits for the other.
type Subscriber struct {
	hub     *Hub
	topics  []string
	user    string
	limit   int
	wake    chan struct{} // holds one token while frames are pending or a ping is due
	removed bool          // guarded by hub.mu
	slots   []int         // guarded by hub.mu; index in the hub's list of each of topics

	mu      sync.Mutex
	log     []*message // guarded by mu; log frames in position order
	state   []*message // guarded by mu; at most one per state topic
	after   int64      // guarded by mu; log frames at or before this position were sent already
	pinged  bool       // guarded by mu
	evicted bool       // guarded by mu
}

// push queues m. On a state topic it replaces the pending frame of the same
// topic; on a log topic it is appended, or, when the queue is full, the
// subscriber is evicted and its queue dropped.
func (s *Subscriber) push(m *message) {
	s.mu.Lock()
	switch {
	case s.evicted:
		s.mu.Unlock()
		return
	case m.class == Log:
		if m.Position <= s.after || (len(s.log) > 0 && m.Position <= s.log[len(s.log)-1].Position) {
			s.mu.Unlock()
			return // sent or queued already
		}
		if len(s.log) >= s.limit {
			s.evicted = true
			s.log = nil
			s.mu.Unlock()
			s.hub.cfg.Metrics.evicted.Inc()
			s.signal()
			return
		}
		s.log = append(s.log, m)
	default:
		replaced := false
		for i, o := range s.state {
			if o.Topic == m.Topic {
				s.state[i] = m
				replaced = true
				break
			}
		}
		if replaced {
			s.hub.cfg.Metrics.conflated.Inc()
		} else {
			s.state = append(s.state, m)
		}
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Subscriber) ping() {
	s.mu.Lock()
	s.pinged = true
	s.mu.Unlock()
	s.signal()
}

func (s *Subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// skipThrough marks every log frame up to pos as sent, dropping queued ones.
func (s *Subscriber) skipThrough(pos int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos <= s.after {
		return
	}
	s.after = pos
	i := 0
	for i < len(s.log) && s.log[i].Position <= pos {
		i++
	}
	s.log = append(s.log[:0], s.log[i:]...)
}

// take moves every pending frame into dst (state frames first, then log
// frames in order) and reports whether a ping was due and whether the
// subscriber was evicted. The queue's arrays are reused, so a steady stream
// allocates nothing here.
func (s *Subscriber) take(dst []*message) (out []*message, ping, evicted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dst = append(dst, s.state...)
	dst = append(dst, s.log...)
	clear(s.state)
	clear(s.log)
	s.state, s.log = s.state[:0], s.log[:0]
	if n := len(dst); n > 0 {
		if last := dst[n-1]; last.class == Log {
			s.after = last.Position
		}
	}
	ping, s.pinged = s.pinged, false
	return dst, ping, s.evicted
}

// FormatID returns the SSE id of the event at pos in the database epoch.
func FormatID(epoch string, pos int64) string {
	return epoch + "-" + strconv.FormatInt(pos, 10)
}

// ParseID splits an SSE id made by FormatID. ok is false for anything else.
func ParseID(id string) (epoch string, pos int64, ok bool) {
	i := strings.IndexByte(id, '-') // epochs hold no dash
	if i <= 0 {
		return "", 0, false
	}
	digits := id[i+1:]
	pos, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || pos < 0 || strconv.FormatInt(pos, 10) != digits {
		return "", 0, false // only what FormatID writes: no sign, no leading zero
	}
	return id[:i], pos, true
}
