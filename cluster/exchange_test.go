package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// watcher records what an exchange's onChange reported last, per key.
type watcher struct {
	mu   sync.Mutex // guards last
	last map[string]map[string][]string
}

func (w *watcher) onChange(key string, states map[string][]string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[string]map[string][]string{}
	}
	w.last[key] = states
}

// union is the sorted union of the members reported for key, e.g. "a,b".
func (w *watcher) union(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var all []string
	for _, members := range w.last[key] {
		all = append(all, members...)
	}
	slices.Sort(all)
	return strings.Join(all, ",")
}

// instances is the sorted list of instances reported for key.
func (w *watcher) instances(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(slices.Sorted(maps.Keys(w.last[key])), ",")
}

type member struct {
	c *Client
	x *Exchange[[]string]
	w *watcher
}

func newMember(t *testing.T, url, name string, cfg ExchangeConfig) *member {
	t.Helper()
	m := &member{c: dial(t, url), w: &watcher{}}
	cfg.Instance = name
	x, err := NewExchange(m.c, cfg, m.w.onChange)
	if err != nil {
		t.Fatal(err)
	}
	m.x = x
	t.Cleanup(x.Close)
	return m
}

func TestExchangeMergesInstancesAndForgetsOneThatStops(t *testing.T) {
	n := startNode(t)
	cfg := ExchangeConfig{Subject: "test.presence", Heartbeat: 20 * time.Millisecond, Missed: 3}
	a := newMember(t, n.url(), "A", cfg)
	b := newMember(t, n.url(), "B", cfg)
	c := newMember(t, n.url(), "C", cfg)

	must(t, a.x.Set("lobby", []string{"ann"}))
	must(t, b.x.Set("lobby", []string{"bob", "bea"}))
	must(t, c.x.Set("lobby", []string{"cid"}))
	must(t, c.x.Set("ops", []string{"cid"}))
	for _, m := range []*member{a, b, c} {
		waitFor(t, 10*time.Second, "the union of lobby", func() bool { return m.w.union("lobby") == "ann,bea,bob,cid" })
		waitFor(t, 10*time.Second, "ops", func() bool { return m.w.union("ops") == "cid" })
	}
	if got := a.x.States("lobby"); len(got) != 3 || got["B"][1] != "bea" {
		t.Fatalf("States(lobby) on A: %v", got)
	}

	// A change and a delete travel.
	must(t, b.x.Set("lobby", []string{"bob"}))
	c.x.Delete("ops")
	waitFor(t, 10*time.Second, "bea leaving", func() bool { return a.w.union("lobby") == "ann,bob,cid" })
	waitFor(t, 10*time.Second, "ops emptied", func() bool { return a.w.instances("ops") == "" && len(a.x.States("ops")) == 0 })

	// C dies without a word (its connection is cut before its goodbye):
	// the others forget it once it misses its heartbeats.
	c.c.Close()
	c.x.Close()
	waitFor(t, 10*time.Second, "C forgotten by A", func() bool { return a.w.instances("lobby") == "A,B" })
	waitFor(t, 10*time.Second, "C forgotten by B", func() bool { return b.w.union("lobby") == "ann,bob" })
}

func TestExchangeForgetsAnInstanceThatSaysGoodbye(t *testing.T) {
	n := startNode(t)
	// Heartbeats too rare to expire anything during the test: only the
	// goodbye can remove B.
	cfg := ExchangeConfig{Subject: "test.bye", Heartbeat: time.Hour, Missed: 1}
	a := newMember(t, n.url(), "A", cfg)
	b := newMember(t, n.url(), "B", cfg)
	must(t, b.x.Set("room", []string{"bob"}))
	waitFor(t, 10*time.Second, "bob on A", func() bool { return a.w.union("room") == "bob" })
	b.x.Close()
	waitFor(t, 10*time.Second, "bob gone from A", func() bool { return a.w.instances("room") == "" })
}

func TestExchangeConfigErrorsNameTheField(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	for _, tc := range []struct {
		cfg  ExchangeConfig
		want string
	}{
		{ExchangeConfig{Instance: "a"}, "subject"},
		{ExchangeConfig{Subject: "p.>", Instance: "a"}, "subject"},
		{ExchangeConfig{Subject: "p"}, "instance"},
		{ExchangeConfig{Subject: "p", Instance: strings.Repeat("a", 300)}, "instance"},
		{ExchangeConfig{Subject: "p", Instance: "a", Heartbeat: time.Hour, Missed: 2}, "heartbeat"},
	} {
		x, err := NewExchange[int](c, tc.cfg, nil)
		if err == nil {
			x.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewExchange(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
}

func TestDecodeWireRejectsBadMessages(t *testing.T) {
	for _, in := range []string{
		``, `{`, `[]`, `{"i":""}`,
		fmt.Sprintf(`{"i":%q}`, strings.Repeat("x", 300)),
		`{"i":"a","s":{"k":1}}`,                 // no ttl
		`{"i":"a","t":99999999999,"s":{"k":1}}`, // ttl past an hour
		`{"i":"a","t":10,"s":{"":1}}`,           // empty key
		`{"i":"a","t":10,"d":[""]}`,             // empty key
	} {
		if _, err := decodeWire([]byte(in)); err == nil {
			t.Errorf("decodeWire(%q) accepted", in)
		}
	}
	m, err := decodeWire([]byte(`{"i":"a","t":10,"s":{"k":["x"]},"d":["j"]}`))
	if err != nil || m.Instance != "a" || string(m.Set["k"]) != `["x"]` || m.Del[0] != "j" {
		t.Fatalf("decodeWire of a good message: %+v, %v", m, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
