package live

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Class says what a topic does with a reader that falls behind.
type Class uint8

const (
	// State topics carry the latest value of something (metrics, a chart,
	// presence). A slow reader skips to the newest frame; nothing queues up.
	State Class = iota
	// Log topics carry durable, ordered events (activity, chat, notifications).
	// Every frame has a position; a reader whose queue overflows is evicted and
	// resumes from its last position.
	Log
)

// Frame is one rendered update of one topic.
type Frame struct {
	// Topic is the topic the frame belongs to.
	Topic string
	// Position is the frame's place in the durable log; it is set on log
	// topics and zero on state topics.
	Position int64
	// Event is the SSE event name; empty for a fragment the page swaps in.
	Event string
	// Data is the rendered fragment.
	Data []byte
	// JSON is the frame for programs (WebSocket subprotocol beacon.v1.json):
	// one JSON object, carrying its own position where it has one. Nil when
	// the topic has nothing to tell programs.
	JSON []byte
	// At is when the event was committed, for the delivery latency metric;
	// zero means unknown.
	At time.Time
	// Render, when set, makes the frame's Data and JSON. On a log frame
	// the hub calls it only if a connection subscribes to the frame's
	// topic when it is published: a frame nobody here listens to (a room
	// whose members are all on other instances of a cluster, a user who
	// is not connected) costs no rendering. On a state frame it is called
	// at once: the hub keeps the newest. It is called at most once, on the
	// publisher's goroutine. A frame it fails to make is dropped and the
	// error logged; a log frame's position still counts as published.
	Render func() (data, json []byte, err error)
}

// message is a published frame with its wire encodings made once for every
// subscriber.
type message struct {
	Frame
	class Class
	sse   []byte // the SSE event
	// unrendered: Render has not made Data yet, and the hub makes it only
	// for a subscriber (render); failed: it could not.
	unrendered, failed bool

	htmlOnce sync.Once
	html     []byte // Data as the inside of a JSON string; see jsonHTML

	topicOnce sync.Once
	topicSSE  []byte // the SSE event with its topic; see sseFor

	programOnce sync.Once
	programSSE  []byte // the program-format SSE event; see program
}

// sseFor returns the frame's SSE event, with a "topic:" line when topicField
// is set (Request.TopicField). That form is made on first use, once: only
// connections that several pages share ask for it.
func (m *message) sseFor(topicField bool) []byte {
	if !topicField {
		return m.sse
	}
	m.topicOnce.Do(func() {
		if len(m.sse) == 0 {
			return // an event that writes nothing stays nothing
		}
		m.topicSSE = append(appendTopic(make([]byte, 0, len(m.sse)+len(m.Topic)+8), m.Topic), m.sse...)
	})
	return m.topicSSE
}

// jsonHTML returns Data as the inside of a JSON string, for WebSocket pages.
// It is made on first use, once: most frames only ever go out as SSE.
func (m *message) jsonHTML() []byte {
	m.htmlOnce.Do(func() { m.html = jsonString(m.Data) })
	return m.html
}

// HubConfig configures a Hub. Zero fields take the defaults below.
type HubConfig struct {
	// Classify returns the class of a topic. Default: every topic is State.
	Classify func(topic string) Class
	// Epoch identifies the database the positions come from; it is the first
	// half of every SSE id.
	Epoch string
	// QueueLen is how many log frames may wait for one slow reader before it is
	// evicted. Default 1024.
	QueueLen int
	// Heartbeat is how often an idle connection gets a comment. Default 15s.
	Heartbeat time.Duration
	// Metrics receives the hub's counters; nil records nothing.
	Metrics *Metrics
	// Log receives what the operator should hear about connections (a
	// client dropped for not reading); nil logs nothing.
	Log *slog.Logger
}

func (c *HubConfig) fill() {
	if c.Classify == nil {
		c.Classify = func(string) Class { return State }
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 1024
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.Metrics == nil {
		c.Metrics = discardMetrics()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Hub fans rendered frames out to subscribers by topic. See the package
// documentation for its guarantees.
type Hub struct {
	cfg HubConfig

	mu     sync.RWMutex
	topics map[string][]*Subscriber // guarded by mu; Publish pushes while holding it (read), so joins are O(1)
	latest map[string]*message      // guarded by mu; newest frame of every State topic
	all    map[*Subscriber]struct{} // guarded by mu
	users  map[string]int           // guarded by mu; live subscriptions per user
	closed bool                     // guarded by mu

	// usersChanged holds a value while the set of users changed since it
	// was last read (UsersChanged); sent to under mu, never waited on.
	usersChanged chan struct{}

	published atomic.Uint64
	head      atomic.Int64  // the newest log position published (or set by SetHead)
	knowsHead atomic.Bool   // SetHead was called: new connections start at head without reading the Source
	shutdown  chan struct{} // closed by Close: every connection is told to come back
	done      chan struct{} // closed when the heartbeat goroutine has stopped
	pump      *pump
	ready     sync.Pool // of *[]*link: links a publish found ready, enqueued after the lock
}

// NewHub returns a running hub. Call Close to stop it.
func NewHub(cfg HubConfig) *Hub {
	cfg.fill()
	h := &Hub{
		cfg:      cfg,
		topics:   make(map[string][]*Subscriber),
		latest:   make(map[string]*message),
		all:      make(map[*Subscriber]struct{}),
		users:    make(map[string]int),
		shutdown: make(chan struct{}),
		done:     make(chan struct{}),

		usersChanged: make(chan struct{}, 1),
	}
	h.ready.New = func() any { return new([]*link) }
	h.pump = newPump(h)
	go h.heartbeat()
	return h
}

// SetHead tells the hub the newest position of the log when it starts.
// From then on the hub follows the log frames it publishes, and a
// connection that does not resume starts at the hub's head instead of
// reading Source.Horizon: no database read per connection. Without it,
// every such connection reads the Source.
func (h *Hub) SetHead(pos int64) {
	h.advance(pos)
	h.knowsHead.Store(true)
}

// Head returns the newest position of the log the hub has seen, and
// whether it knows it (SetHead was called): a page rendered at that
// position or later is up to date.
func (h *Hub) Head() (int64, bool) { return h.head.Load(), h.knowsHead.Load() }

// advance moves the head to pos if pos is newer.
func (h *Hub) advance(pos int64) {
	for {
		cur := h.head.Load()
		if pos <= cur || h.head.CompareAndSwap(cur, pos) {
			return
		}
	}
}

// Epoch returns the epoch the hub writes into SSE ids.
func (h *Hub) Epoch() string { return h.cfg.Epoch }

// Class returns the class of topic.
func (h *Hub) Class(topic string) Class { return h.cfg.Classify(topic) }

// Publish hands f to every subscriber of its topic and returns without
// waiting for any of them. Frames of a log topic must have a position and be
// published in position order; a log frame without one is dropped, and so
// is a frame whose event name or topic holds a control character.
func (h *Hub) Publish(f Frame) { h.PublishBatch([]Frame{f}) }

// PublishBatch publishes frames, in order, as one: every subscriber gets
// all of those of its topics before its writer is woken, so a group of
// events committed together goes out in one write. Frames of log topics
// must be in position order, after every position published before.
func (h *Hub) PublishBatch(frames []Frame) {
	msgs := make([]*message, 0, len(frames))
	anyState, unrendered := false, 0
	for _, f := range frames {
		m := &message{Frame: f, class: h.cfg.Classify(f.Topic)}
		if m.class == Log && f.Position <= 0 {
			h.cfg.Metrics.dropped.Inc()
			continue
		}
		// The event name and the topic are checked now (the topic could
		// not be named on a connection with TopicField); a frame rendered
		// later is encoded then.
		var err error
		if !validField(f.Event) || !validField(f.Topic) {
			err = ErrField
		} else if f.Render == nil {
			err = h.encode(m)
		}
		if err != nil {
			h.cfg.Metrics.dropped.Inc()
			continue
		}
		if f.Render != nil {
			m.unrendered = true
			if m.class == Log {
				unrendered++
			} else if !h.render(m) {
				continue // a state frame is kept as the topic's latest: made now
			}
		}
		h.published.Add(1)
		h.cfg.Metrics.publishedBy[m.class].Inc()
		anyState = anyState || m.class == State
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return
	}
	if unrendered > 0 {
		// Render what subscribers want, outside the lock; one who
		// subscribes between here and the push gets it rendered then.
		want := make([]*message, 0, unrendered)
		h.mu.RLock()
		for _, m := range msgs {
			if m.unrendered && len(h.topics[m.Topic]) > 0 {
				want = append(want, m)
			}
		}
		h.mu.RUnlock()
		for _, m := range want {
			h.render(m)
		}
	}
	rp := h.ready.Get().(*[]*link)
	ready := (*rp)[:0]
	if anyState {
		// Under the write lock, so a concurrent Subscribe gets a state frame
		// either as the latest value or as a push, never neither, and two
		// publishers of one topic cannot leave a reader the older value.
		// State topics change a few times a second at most.
		h.mu.Lock()
		ready = h.pushAll(msgs, ready)
		h.mu.Unlock()
	} else {
		// A concurrent Subscribe that misses a log frame replays it from
		// the log: it was committed before it was published. Pushing holds
		// the read lock: a push is short and never blocks, and joins and
		// leaves stay O(1) instead of copying the topic's list.
		h.mu.RLock()
		ready = h.pushAll(msgs, ready)
		h.mu.RUnlock()
	}
	h.pump.enqueue(ready...)
	clear(ready)
	*rp = ready[:0]
	h.ready.Put(rp)
}

// pushAll pushes msgs to their subscribers and returns ready with the links
// that must be queued; the caller holds mu.
func (h *Hub) pushAll(msgs []*message, ready []*link) []*link {
	for _, m := range msgs {
		if m.class == State {
			h.latest[m.Topic] = m
		} else {
			// Under the lock, so a Subscribe sees the head and the pushes
			// agree: a frame at or before the head it reads was pushed
			// before it joined, one after it is pushed to it.
			h.advance(m.Position)
		}
		subs := h.topics[m.Topic]
		if len(subs) > 0 && !h.render(m) {
			continue // it could not be made: logged, and nothing to send
		}
		for _, s := range subs {
			if s.push(m) {
				ready = s.wakeInto(ready)
			}
		}
	}
	return ready
}

// encode makes m's SSE event from its Data.
func (h *Hub) encode(m *message) error {
	id := ""
	if m.class == Log {
		id = FormatID(h.cfg.Epoch, m.Position)
	}
	sse, err := AppendEvent(nil, id, m.Event, m.Data)
	m.sse = sse
	return err
}

// render makes an unrendered frame's Data, JSON and SSE event with its
// Render, once, and reports whether the frame has them (a frame without
// Render always has). A failure is logged and counted as a dropped frame.
func (h *Hub) render(m *message) bool {
	if !m.unrendered {
		return !m.failed
	}
	m.unrendered = false
	data, js, err := m.Render()
	m.Render = nil // what it holds can go
	if err == nil {
		m.Data, m.JSON = data, js
		err = h.encode(m)
	}
	if err != nil {
		m.failed = true
		h.cfg.Metrics.dropped.Inc()
		h.cfg.Log.Error("render a frame", "topic", m.Topic, "position", m.Position, "err", err)
		return false
	}
	return true
}

// Forget drops the newest frame kept for a State topic, so a topic that is
// gone (a room that stopped) does not hold memory for ever.
func (h *Hub) Forget(topic string) {
	h.mu.Lock()
	delete(h.latest, topic)
	h.mu.Unlock()
}

// Published returns how many frames the hub has accepted since it started.
func (h *Hub) Published() uint64 { return h.published.Load() }

// Counts returns the number of live subscriptions and of distinct users among
// them.
func (h *Hub) Counts() (subscriptions, users int) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.all), len(h.users)
}

// Subscribe registers a subscriber to topics. It gets the newest frame of
// every State topic at once, then everything published after this call.
// user names who is watching ("" for nobody in particular); it feeds Counts.
// The subscriber must be closed with Unsubscribe. It returns nil after Close.
func (h *Hub) Subscribe(topics []string, user string) *Subscriber {
	s := &Subscriber{
		hub:    h,
		topics: dedupe(topics),
		user:   user,
		limit:  h.cfg.QueueLen,
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	s.slots = make([]int, len(s.topics))
	for i, t := range s.topics {
		s.slots[i] = len(h.topics[t])
		h.topics[t] = append(h.topics[t], s)
		if m := h.latest[t]; m != nil {
			s.push(m) // no wake-up: it has no link yet, and attachLink schedules it
		}
	}
	s.head = h.head.Load()
	h.all[s] = struct{}{}
	if user != "" {
		if h.users[user]++; h.users[user] == 1 {
			h.usersChange()
		}
	}
	return s
}

// Unsubscribe removes s from the hub. It is safe to call more than once.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.removed {
		return
	}
	s.removed = true
	for i, t := range s.topics {
		// Swap-remove: the last subscriber of the topic takes s's slot.
		subs := h.topics[t]
		last := len(subs) - 1
		if moved := subs[last]; moved != s {
			subs[s.slots[i]] = moved
			moved.slots[slices.Index(moved.topics, t)] = s.slots[i]
		}
		subs[last] = nil
		if last == 0 {
			delete(h.topics, t)
		} else {
			h.topics[t] = subs[:last]
		}
	}
	delete(h.all, s)
	if s.user != "" {
		if h.users[s.user]--; h.users[s.user] <= 0 {
			delete(h.users, s.user)
			h.usersChange()
		}
	}
}

// Shutdown returns a channel that is closed when the hub starts closing:
// every connection then tells its client to come back later and ends.
func (h *Hub) Shutdown() <-chan struct{} { return h.shutdown }

// Close tells every connection to come back later, refuses new subscribers
// and stops the heartbeat. Connections end on their own; their transports
// wait for them.
func (h *Hub) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		<-h.done
		return
	}
	h.closed = true
	close(h.shutdown)
	var ready []*link
	for s := range h.all {
		if l := s.link.Load(); l != nil && l.end.CompareAndSwap(int32(open), int32(endShutdown)) {
			ready = s.wakeInto(ready)
		}
	}
	h.mu.Unlock()
	h.pump.enqueue(ready...)
	h.pump.close()
	<-h.done
}

// attachLink makes l the way s is woken from now on, and wakes it once for
// what is already pending. A link attached after Close ends at once, with
// the goodbye of a shutdown.
func (h *Hub) attachLink(s *Subscriber, l *link) {
	h.mu.Lock()
	s.link.Store(l)
	if h.closed {
		l.end.CompareAndSwap(int32(open), int32(endShutdown))
	}
	h.mu.Unlock()
	l.schedule()
}

func (h *Hub) heartbeat() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-h.shutdown:
			return
		case <-t.C:
			var ready []*link
			h.mu.RLock()
			for s := range h.all {
				ready = s.ping(ready)
			}
			h.mu.RUnlock()
			h.pump.enqueue(ready...)
		}
	}
}

func (c Class) String() string {
	if c == Log {
		return "log"
	}
	return "state"
}

// dedupe returns topics without repeats, in a slice of its own: a topic named
// twice would deliver every frame twice.
func dedupe(topics []string) []string {
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}
