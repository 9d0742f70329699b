package live

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Subscriber is one connection's view of the hub: a bounded queue of log
// frames and the newest pending frame of each state topic. The hub pushes into
// it; the connection's writer takes from it. Neither ever waits for the other.
type Subscriber struct {
	hub     *Hub
	topics  []string
	user    string
	limit   int
	link    atomic.Pointer[link] // the connection's place in the pump, once it has one: woken through it
	removed bool                 // guarded by hub.mu
	slots   []int                // guarded by hub.mu; index in the hub's list of each of topics
	head    int64                // the hub's head when it subscribed (set by Subscribe, read by its caller)

	mu      sync.Mutex
	log     []*message  // guarded by mu; log frames in position order, in *logBox's array, from logArrays
	logBox  *[]*message // guarded by mu; nil while log is empty
	state   []*message  // guarded by mu; at most one per state topic
	after   int64       // guarded by mu; log frames at or before this position were sent already
	pinged  bool        // guarded by mu
	evicted bool        // guarded by mu
}

// push queues m and reports whether the subscriber must be woken. On a
// state topic it replaces the pending frame of the same topic; on a log
// topic it is appended, or, when the queue is full, the subscriber is
// evicted and its queue dropped.
func (s *Subscriber) push(m *message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.evicted:
		return false
	case m.class == Log:
		if m.Position <= s.after || (len(s.log) > 0 && m.Position <= s.log[len(s.log)-1].Position) {
			return false // sent or queued already
		}
		if len(s.log) >= s.limit {
			s.evicted = true
			s.releaseLog()
			s.hub.cfg.Metrics.evicted.Inc()
			return true
		}
		if s.logBox == nil {
			s.logBox = logArrays.Get().(*[]*message)
			s.log = (*s.logBox)[:0]
		}
		s.log = append(s.log, m)
	default:
		for i, o := range s.state {
			if o.Topic == m.Topic {
				s.state[i] = m
				s.hub.cfg.Metrics.conflated.Inc()
				return true
			}
		}
		s.state = append(s.state, m)
	}
	return true
}

// ping marks a heartbeat due and wakes s (see wakeInto).
func (s *Subscriber) ping(ready []*link) []*link {
	s.mu.Lock()
	s.pinged = true
	s.mu.Unlock()
	return s.wakeInto(ready)
}

// signal wakes s's writer. A subscriber with no link yet needs no wake-up:
// attachLink schedules its link once for what is pending by then.
func (s *Subscriber) signal() {
	if l := s.link.Load(); l != nil {
		l.schedule()
	}
}

// wakeInto wakes s like signal, except that a link that must join the
// pump's queue is appended to ready instead, for the caller to enqueue with
// others at once.
func (s *Subscriber) wakeInto(ready []*link) []*link {
	if l := s.link.Load(); l != nil && l.kick == nil {
		if l.claim() {
			ready = append(ready, l)
		}
		return ready
	}
	s.signal()
	return ready
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

// logArrays holds the arrays of subscribers' log queues: a queue takes one
// when a frame arrives and gives it back when its writer takes the frames,
// so an idle connection holds none, and a burst reuses the arrays of the
// last one instead of growing new ones.
var logArrays = sync.Pool{New: func() any { a := make([]*message, 0, 64); return &a }}

// releaseLog empties the log queue and gives its array back; s.mu is held.
func (s *Subscriber) releaseLog() {
	clear(s.log)
	if s.logBox != nil && cap(s.log) <= 1024 { // a rare large queue need not stay in the pool
		*s.logBox = s.log[:0]
		logArrays.Put(s.logBox)
	}
	s.log, s.logBox = nil, nil
}

// take moves every pending frame into dst (state frames first, then log
// frames in order) and reports whether a ping was due and whether the
// subscriber was evicted. The log queue's array goes back to a pool, so
// neither a steady stream nor a burst allocates here.
func (s *Subscriber) take(dst []*message) (out []*message, ping, evicted bool) {
	out, ping, evicted, _ = s.takeUpTo(dst, math.MaxInt)
	return out, ping, evicted
}

// takeUpTo is take for a writer that writes at most about budget bytes at
// once: every pending state frame (at most one per topic), then log frames
// in order while their SSE encodings fit in budget (one at least). more
// reports log frames left for the next time.
func (s *Subscriber) takeUpTo(dst []*message, budget int) (out []*message, ping, evicted, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.state {
		budget -= len(m.sse)
	}
	dst = append(dst, s.state...)
	clear(s.state)
	s.state = s.state[:0]
	k := 0
	for k < len(s.log) && (k == 0 || budget >= len(s.log[k].sse)) {
		budget -= len(s.log[k].sse)
		k++
	}
	if k > 0 {
		dst = append(dst, s.log[:k]...)
		s.after = s.log[k-1].Position
	}
	if k == len(s.log) {
		s.releaseLog()
	} else {
		n := copy(s.log, s.log[k:])
		clear(s.log[n:])
		s.log = s.log[:n]
		more = true
	}
	ping, s.pinged = s.pinged, false
	return dst, ping, s.evicted, more
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
