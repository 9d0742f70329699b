package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults of ExchangeConfig.
const (
	// DefaultExchangeHeartbeat is how often an instance republishes all its
	// states.
	DefaultExchangeHeartbeat = time.Second
	// DefaultExchangeMissed is how many heartbeats an instance may miss
	// before the others forget its states.
	DefaultExchangeMissed = 3
)

// Bounds of the wire format.
const (
	maxInstanceLen = 256
	maxTTL         = time.Hour
	chunkBytes     = 64 << 10 // a heartbeat is sent in messages of about this size
	inboxLen       = 1024     // messages waiting for the exchange's goroutine; more are dropped by NATS
)

// ExchangeConfig configures an Exchange.
type ExchangeConfig struct {
	// Subject carries this exchange's messages, e.g. "beacon.presence".
	// Every instance must use the same. Required.
	Subject string
	// Instance names this instance, unique in the cluster. Required.
	Instance string
	// Heartbeat is how often this instance republishes all its states;
	// default DefaultExchangeHeartbeat.
	Heartbeat time.Duration
	// Missed is how many heartbeats may be missed before the others forget
	// this instance's states; default DefaultExchangeMissed.
	Missed int
}

func (c ExchangeConfig) withDefaults() ExchangeConfig {
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultExchangeHeartbeat
	}
	if c.Missed <= 0 {
		c.Missed = DefaultExchangeMissed
	}
	return c
}

func (c ExchangeConfig) validate() error {
	if err := validSubject(c.Subject); err != nil {
		return fmt.Errorf("cluster: exchange subject %q: %w", c.Subject, err)
	}
	if c.Instance == "" || len(c.Instance) > maxInstanceLen {
		return fmt.Errorf("cluster: exchange instance %q: want 1 to %d bytes", c.Instance, maxInstanceLen)
	}
	if ttl := time.Duration(c.Missed) * c.Heartbeat; ttl > maxTTL {
		return fmt.Errorf("cluster: exchange heartbeat %s × missed %d: at most %s", c.Heartbeat, c.Missed, maxTTL)
	}
	return nil
}

// validSubject accepts a NATS subject without wildcards.
func validSubject(s string) error {
	if s == "" || strings.ContainsAny(s, " \t\r\n*>") || strings.HasPrefix(s, ".") ||
		strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return errors.New("want tokens separated by dots, no wildcards")
	}
	return nil
}

// Exchange shares each instance's small, non-durable state per key (a
// room's members connected to this instance, an instance's figures) with
// every other instance over core NATS, and merges what all of them
// publish. T travels as JSON.
type Exchange[T any] struct {
	nc       *nats.Conn
	cfg      ExchangeConfig
	log      *slog.Logger
	onChange func(key string, states map[string]T)

	sub *nats.Subscription
	in  chan *nats.Msg

	mu    sync.Mutex // guards local and dirty
	local map[string]entry[T]
	dirty map[string]struct{} // keys of local changed since the last flush
	wake  chan struct{}       // a flush is due; capacity 1

	viewMu sync.RWMutex                   // guards view; only run writes it
	view   map[string]map[string]entry[T] // key → instance → state

	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when run returns
	once    sync.Once
}

// entry is one instance's state of one key.
type entry[T any] struct {
	raw     json.RawMessage // as published, to tell a change
	val     T
	expires time.Time // zero for this instance's own
}

// NewExchange subscribes to cfg.Subject and starts the exchange's
// goroutine; Close stops it. onChange is called, from that goroutine only,
// whenever the merged states of a key change (this instance's included),
// with the key and a map of instance name to state that the callee owns;
// an empty map when no instance has the key any more. It must not block
// for long; it may call Set, Delete and States, but not Close (which waits
// for the goroutine that is calling it).
func NewExchange[T any](c *Client, cfg ExchangeConfig, onChange func(key string, states map[string]T)) (*Exchange[T], error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if onChange == nil {
		onChange = func(string, map[string]T) {}
	}
	x := &Exchange[T]{
		nc:       c.nc,
		cfg:      cfg,
		log:      c.log.With("exchange", cfg.Subject),
		onChange: onChange,
		in:       make(chan *nats.Msg, inboxLen),
		local:    map[string]entry[T]{},
		dirty:    map[string]struct{}{},
		wake:     make(chan struct{}, 1),
		view:     map[string]map[string]entry[T]{},
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
	sub, err := c.nc.ChanSubscribe(cfg.Subject, x.in)
	if err != nil {
		return nil, fmt.Errorf("%w: subscribe %s: %w", ErrUnavailable, cfg.Subject, err)
	}
	x.sub = sub
	go x.run()
	return x, nil
}

// Set makes v this instance's state of key; the others learn it at once
// and with every heartbeat. It never waits for the exchange's goroutine.
// It fails only if v cannot be encoded as JSON.
func (x *Exchange[T]) Set(key string, v T) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cluster: exchange %s: encode %q: %w", x.cfg.Subject, key, err)
	}
	x.mu.Lock()
	if cur, ok := x.local[key]; ok && bytes.Equal(cur.raw, raw) {
		x.mu.Unlock()
		return nil
	}
	x.local[key] = entry[T]{raw: raw, val: v}
	x.dirty[key] = struct{}{}
	x.mu.Unlock()
	x.poke()
	return nil
}

// Delete removes this instance's state of key.
func (x *Exchange[T]) Delete(key string) {
	x.mu.Lock()
	if _, ok := x.local[key]; !ok {
		x.mu.Unlock()
		return
	}
	delete(x.local, key)
	x.dirty[key] = struct{}{}
	x.mu.Unlock()
	x.poke()
}

func (x *Exchange[T]) poke() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// States returns the merged states of key as the exchange's goroutine
// last saw them: instance name → state, in a map the caller owns.
func (x *Exchange[T]) States(key string) map[string]T {
	x.viewMu.RLock()
	defer x.viewMu.RUnlock()
	return x.statesLocked(key)
}

func (x *Exchange[T]) statesLocked(key string) map[string]T {
	out := make(map[string]T, len(x.view[key]))
	for inst, e := range x.view[key] {
		out[inst] = e.val
	}
	return out
}

// Close tells the other instances to forget this one's states, stops the
// goroutine and unsubscribes. It is idempotent.
func (x *Exchange[T]) Close() {
	x.once.Do(func() {
		_ = x.sub.Unsubscribe()
		close(x.done)
	})
	<-x.stopped
}

// run owns view and is the only caller of onChange.
func (x *Exchange[T]) run() {
	defer close(x.stopped)
	tick := time.NewTicker(x.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-x.done:
			x.publish(wireMsg{Instance: x.cfg.Instance, Bye: true})
			return
		case m := <-x.in:
			x.receive(m.Data, time.Now())
		case <-x.wake:
			x.flush()
		case now := <-tick.C:
			x.flush()
			x.heartbeat()
			x.expire(now)
		}
	}
}

// flush publishes this instance's changes since the last flush and merges
// them into the view.
func (x *Exchange[T]) flush() {
	x.mu.Lock()
	if len(x.dirty) == 0 {
		x.mu.Unlock()
		return
	}
	set := map[string]entry[T]{}
	var del []string
	for k := range x.dirty {
		if e, ok := x.local[k]; ok {
			set[k] = e
		} else {
			del = append(del, k)
		}
	}
	clear(x.dirty)
	x.mu.Unlock()

	x.publishStates(set, del)
	changed := map[string]struct{}{}
	x.viewMu.Lock()
	for k, e := range set {
		x.put(k, x.cfg.Instance, e, changed)
	}
	for _, k := range del {
		x.remove(k, x.cfg.Instance, changed)
	}
	x.viewMu.Unlock()
	x.notify(changed)
}

// heartbeat republishes every state of this instance.
func (x *Exchange[T]) heartbeat() {
	x.mu.Lock()
	set := maps.Clone(x.local)
	x.mu.Unlock()
	x.publishStates(set, nil)
}

// publishStates sends set and del in messages of about chunkBytes.
func (x *Exchange[T]) publishStates(set map[string]entry[T], del []string) {
	ttl := (time.Duration(x.cfg.Missed) * x.cfg.Heartbeat).Milliseconds()
	m := wireMsg{Instance: x.cfg.Instance, TTL: ttl, Del: del}
	size := 0
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if m.Set == nil {
			m.Set = map[string]json.RawMessage{}
		}
		m.Set[k] = set[k].raw
		size += len(k) + len(set[k].raw) + 8
		if size >= chunkBytes {
			x.publish(m)
			m, size = wireMsg{Instance: x.cfg.Instance, TTL: ttl}, 0
		}
	}
	if len(m.Set) > 0 || len(m.Del) > 0 {
		x.publish(m)
	}
}

// publish sends m; a message lost while NATS is down is made good by the
// next heartbeat.
func (x *Exchange[T]) publish(m wireMsg) {
	b, err := json.Marshal(m)
	if err == nil {
		err = x.nc.Publish(x.cfg.Subject, b)
	}
	if err != nil {
		x.log.Debug("exchange publish failed", "err", err)
	}
}

// receive merges another instance's message into the view.
func (x *Exchange[T]) receive(data []byte, now time.Time) {
	m, err := decodeWire(data)
	if err != nil {
		x.log.Debug("exchange message dropped", "err", err)
		return
	}
	if m.Instance == x.cfg.Instance {
		return // our own, already in the view
	}
	changed := map[string]struct{}{}
	x.viewMu.Lock()
	if m.Bye {
		for k, states := range x.view {
			if _, ok := states[m.Instance]; ok {
				x.remove(k, m.Instance, changed)
			}
		}
	}
	expires := now.Add(time.Duration(m.TTL) * time.Millisecond)
	for k, raw := range m.Set {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			x.log.Warn("exchange state dropped", "instance", m.Instance, "key", k, "err", err)
			continue
		}
		x.put(k, m.Instance, entry[T]{raw: raw, val: v, expires: expires}, changed)
	}
	for _, k := range m.Del {
		x.remove(k, m.Instance, changed)
	}
	x.viewMu.Unlock()
	x.notify(changed)
}

// expire forgets the states of instances that stopped heartbeating.
func (x *Exchange[T]) expire(now time.Time) {
	changed := map[string]struct{}{}
	x.viewMu.Lock()
	for k, states := range x.view {
		for inst, e := range states {
			if !e.expires.IsZero() && now.After(e.expires) {
				x.remove(k, inst, changed)
			}
		}
	}
	x.viewMu.Unlock()
	x.notify(changed)
}

// put sets inst's state of key, noting key in changed if it differs.
// viewMu must be held.
func (x *Exchange[T]) put(key, inst string, e entry[T], changed map[string]struct{}) {
	states := x.view[key]
	if states == nil {
		states = map[string]entry[T]{}
		x.view[key] = states
	}
	if cur, ok := states[inst]; !ok || !bytes.Equal(cur.raw, e.raw) {
		changed[key] = struct{}{}
	}
	states[inst] = e
}

// remove drops inst's state of key, noting key in changed if it had one.
// viewMu must be held.
func (x *Exchange[T]) remove(key, inst string, changed map[string]struct{}) {
	states := x.view[key]
	if _, ok := states[inst]; !ok {
		return
	}
	delete(states, inst)
	if len(states) == 0 {
		delete(x.view, key)
	}
	changed[key] = struct{}{}
}

// notify calls onChange for each changed key, in key order.
func (x *Exchange[T]) notify(changed map[string]struct{}) {
	for _, k := range slices.Sorted(maps.Keys(changed)) {
		x.viewMu.RLock()
		states := x.statesLocked(k)
		x.viewMu.RUnlock()
		x.onChange(k, states)
	}
}

// wireMsg is one message of an exchange: some states of one instance.
type wireMsg struct {
	Instance string                     `json:"i"`
	TTL      int64                      `json:"t,omitempty"` // milliseconds the states live without a heartbeat
	Set      map[string]json.RawMessage `json:"s,omitempty"`
	Del      []string                   `json:"d,omitempty"`
	Bye      bool                       `json:"b,omitempty"` // forget all of this instance's states
}

// decodeWire parses and checks one exchange message from the network.
func decodeWire(data []byte) (wireMsg, error) {
	var m wireMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return wireMsg{}, fmt.Errorf("exchange message: %w", err)
	}
	if m.Instance == "" || len(m.Instance) > maxInstanceLen {
		return wireMsg{}, fmt.Errorf("exchange message: instance: want 1 to %d bytes", maxInstanceLen)
	}
	if (len(m.Set) > 0 || len(m.Del) > 0) && (m.TTL <= 0 || m.TTL > maxTTL.Milliseconds()) {
		return wireMsg{}, fmt.Errorf("exchange message: ttl %d ms: want 1 to %d", m.TTL, maxTTL.Milliseconds())
	}
	if _, ok := m.Set[""]; ok || slices.Contains(m.Del, "") {
		return wireMsg{}, errors.New("exchange message: empty key")
	}
	return m, nil
}
