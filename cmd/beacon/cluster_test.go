package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beacon-live/beacon/cluster"
	"github.com/beacon-live/beacon/views"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startCluster starts n instances, each with a NATS server of its own
// (--nats-embed) routed to the others', as docs/cluster.md runs them. They
// start together: JetStream needs a majority of the servers to elect its
// leader before any of them can open the log.
func startCluster(t *testing.T, n int, flags ...string) []*instance {
	t.Helper()
	in, _ := startClusterWithChild(t, n, "", flags...)
	return in
}

// member is how one instance of a test cluster is started: its database,
// its NATS server's name and addresses, and the cluster's routes.
type memberArgs struct {
	db   string
	args []string
}

// clusterArgs returns the start of n instances routed to each other.
func clusterArgs(t *testing.T, n int) []memberArgs {
	routes := make([]string, n)
	clusterAddrs := make([]string, n)
	for i := range n {
		clusterAddrs[i] = freeAddr(t)
		routes[i] = "nats://" + clusterAddrs[i]
	}
	dir := t.TempDir()
	out := make([]memberArgs, n)
	for i := range n {
		out[i] = memberArgs{db: filepath.Join(dir, fmt.Sprintf("b%d.db", i+1)), args: []string{"--nats-embed",
			"--nats-name", fmt.Sprintf("b%d", i+1), "--nats-store", filepath.Join(dir, fmt.Sprintf("b%d.nats", i+1)),
			"--nats-listen", freeAddr(t)}}
		if n > 1 { // one server alone is a one-node cluster without routes
			out[i].args = append(out[i].args, "--nats-cluster", clusterAddrs[i], "--nats-routes", strings.Join(routes, ","))
		}
	}
	return out
}

// startClusterWithChild starts n instances of one cluster: the first n-1
// in this process, and, when bin is not "", the last as a process of its
// own (which a test can kill); otherwise all n in this process.
func startClusterWithChild(t *testing.T, n int, bin string, flags ...string) ([]*instance, *child) {
	t.Helper()
	members := clusterArgs(t, n)
	in := make([]*instance, n)
	var c *child
	var wg sync.WaitGroup
	for i, m := range members {
		if bin != "" && i == n-1 {
			wg.Go(func() {
				addr := freeLoopback(t)
				c = startChild(t, bin, addr, m.db, append(append(m.args, "--dashboard", "public", "--conns-per-address", "0"), flags...)...)
				in[i] = &instance{URL: "http://" + addr, Addr: addr, DB: m.db}
			})
			continue
		}
		wg.Go(func() { in[i] = start(t, m.db, "", append(m.args, flags...)...) })
	}
	wg.Wait()
	return in, c
}

// on returns a browser on to holding the cookies a has on from: the same
// person going to another instance, as a load balancer would send them.
func (a *account) on(t testing.TB, from, to string) *account {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err1 := url.Parse(from)
	d, err2 := url.Parse(to)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(d, a.C.Jar.Cookies(f))
	return &account{Name: a.Name, ID: a.ID, C: noRedirects(&http.Client{Jar: jar}), CSRF: a.CSRF}
}

// The log is shared: what is posted on one instance reaches the live
// clients of every instance with the same ids, in the same order; a client
// that moves to another instance with its Last-Event-ID misses nothing and
// gets nothing twice; a session made on one works on all, and signing out
// on one closes its streams on all.
func TestClusterSharesOneLog(t *testing.T) {
	if testing.Short() {
		t.Skip("three instances with NATS: not in -short")
	}
	in := startCluster(t, 3)
	a, b, c := in[0], in[1], in[2]

	ann := signUp(t, a.URL, "ann")
	topics := views.TopicActivity + "," + views.TopicRoom("lobby")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var streams []*sseStream
	for _, x := range []*instance{b, c} {
		st, err := dialSSE(ctx, streamClient(t), liveURL(x.URL, topics), "")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.Next(); err != nil { // the position block: the stream is live
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	annOnB := ann.on(t, a.URL, b.URL)
	annStream := userStream(t, b.URL, annOnB, "")
	if _, err := annStream.Next(); err != nil {
		t.Fatal(err)
	}
	annOnC := ann.on(t, a.URL, c.URL)
	annStreamC := userStream(t, c.URL, annOnC, "")
	if _, err := annStreamC.Next(); err != nil {
		t.Fatal(err)
	}

	// A program on C reads the room over its JSON socket.
	program := newChatClient(t, c.Addr, "lobby", "prog", false)
	defer program.close()

	// On A: an activity item, a chat message, an activity item.
	var want []int64
	pos, err := postActivity(http.DefaultClient, a.URL, "first")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, pos)
	chat := newChatClient(t, a.Addr, "lobby", "bob", false)
	defer chat.close()
	if err := chat.say("hello from A"); err != nil {
		t.Fatal(err)
	}
	chat.waitFor(t, "its own message", func(c *chatClient) bool { return len(c.msgs) == 1 })
	_, msgPos, _ := splitChatID(chat.messages()[0].ID)
	want = append(want, msgPos)
	if pos, err = postActivity(http.DefaultClient, a.URL, "second"); err != nil {
		t.Fatal(err)
	}
	want = append(want, pos)

	var ids [2][]string
	for i, st := range streams {
		for len(ids[i]) < len(want) {
			ev, err := st.NextEvent()
			if err != nil {
				t.Fatalf("stream %d: %v after %v", i, err, ids[i])
			}
			if ev.HasID {
				ids[i] = append(ids[i], ev.ID)
			}
		}
	}
	for i, id := range ids[0] {
		epoch, p := mustParseID(t, id)
		if p != want[i] || id != ids[1][i] {
			t.Fatalf("B saw %v and C saw %v, want positions %v under one epoch %s", ids[0], ids[1], want, epoch)
		}
	}
	program.waitFor(t, "A's chat message on C's socket", func(c *chatClient) bool { return len(c.msgs) == 1 })
	if got := program.messages()[0]; got.Position != msgPos || got.ID != ids[0][1] {
		t.Errorf("C's socket has the message as %s, the streams as %s", got.ID, ids[0][1])
	}

	// An API token and a widget token made on A work on B and C: the
	// server secret is the cluster's, made once through the log.
	token := createToken(t, a.URL, ann, "notify")
	for _, x := range []*instance{b, c} {
		if code, body := apiPost(t, x.URL, "/api/notifications", token, map[string]string{"user": "ann", "title": "from " + x.URL}); code != http.StatusCreated {
			t.Errorf("A's API token on %s: %d %s", x.URL, code, body)
		}
	}
	_, _, widgetToken := mintWidget(t, a.URL, ann, url.Values{"widget": {"metrics"}, "origins": {"http://127.0.0.1:1"}, "ttl": {"1h"}})
	if widgetToken == "" {
		t.Fatal("no widget token made on A")
	}
	for _, x := range []*instance{b, c} {
		// Asked at once: an instance that does not know a token yet
		// catches up with the log before it says no.
		if resp, body := fetchPage(t, http.DefaultClient, x.URL+"/embed/metrics?token="+url.QueryEscape(widgetToken)); resp.StatusCode != http.StatusOK {
			t.Errorf("A's widget token on %s at once: %s %.200s", x.URL, resp.Status, body)
		}
	}
	// A browser signed in on A, whose next request goes to C at once, is
	// signed in there too.
	zoe := signUp(t, a.URL, "zoe").on(t, a.URL, c.URL)
	if page, status := get(t, zoe.C, c.URL+"/settings"); status != http.StatusOK || !strings.Contains(page, "zoe") {
		t.Errorf("zoe on C right after signing up on A: %d", status)
	}
	for range 2 { // the two notifications above, on ann's streams
		for _, st := range []*sseStream{annStream, annStreamC} {
			for ev, err := st.NextEvent(); err == nil; ev, err = st.NextEvent() {
				if strings.Contains(ev.Data, "from http") {
					break
				}
			}
		}
	}

	// A notification posted on A reaches ann's streams on B and C.
	n := notify(t, a.URL, "ann", "hello everywhere")
	for i, st := range []*sseStream{annStream, annStreamC} {
		// Her streams carry the activity feed too: skip what was posted
		// before the notification.
		ev, err := st.NextEvent()
		for err == nil && strings.Contains(ev.Data, `id="act-`) {
			ev, err = st.NextEvent()
		}
		if err != nil || !strings.Contains(ev.Data, "hello everywhere") {
			t.Fatalf("ann's stream %d: %+v, %v", i, ev, err)
		}
		if _, p := mustParseID(t, ev.ID); p != n {
			t.Fatalf("ann's stream %d has the notification at %d, want %d", i, p, n)
		}
	}

	// A client of B drops, two items are posted on A, it comes back to C
	// with its last id: exactly those two.
	last := streams[0].LastID
	streams[0].Close()
	var missed []int64
	for _, text := range []string{"while away 1", "while away 2"} {
		p, err := postActivity(http.DefaultClient, a.URL, text)
		if err != nil {
			t.Fatal(err)
		}
		missed = append(missed, p)
	}
	back, err := dialSSE(ctx, streamClient(t), liveURL(c.URL, topics), last)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	var got []int64
	for len(got) < len(missed) {
		ev, err := back.NextEvent()
		if err != nil {
			t.Fatalf("resumed on C: %v after %v", err, got)
		}
		if ev.Event == views.EventResync {
			t.Fatalf("resuming on C resynced instead of replaying")
		}
		got = append(got, itemPositions(ev.Data)...)
	}
	if fmt.Sprint(got) != fmt.Sprint(missed) {
		t.Fatalf("resumed on C with %s: got %v, want %v", last, got, missed)
	}

	// Signing out on A ends ann's streams on B and C.
	resp, _ := postForm(t, ann.C, a.URL+"/logout", url.Values{"_csrf": {ann.CSRF}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %s", resp.Status)
	}
	for i, st := range []*sseStream{annStream, annStreamC} {
		for {
			_, err := st.Next()
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				t.Fatalf("ann's stream %d after signing out on A: %v, want its end", i, err)
			}
		}
	}
}

// Two sign-ups for one name on two instances at once: exactly one
// succeeds, and every instance agrees which.
func TestClusterSignUpRace(t *testing.T) {
	if testing.Short() {
		t.Skip("three instances with NATS: not in -short")
	}
	in := startCluster(t, 3)
	const tries = 5
	for i := range tries {
		name := fmt.Sprintf("zoe%d", i)
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for j, x := range in[:2] {
			wg.Go(func() {
				cl := noRedirects(newJar(t))
				csrf := csrfOf(t, cl, x.URL+"/signup")
				resp, _ := postForm(t, cl, x.URL+"/signup", url.Values{"_csrf": {csrf}, "name": {name}, "password": {fmt.Sprintf("password-%d-%d", i, j)}})
				statuses[j] = resp.StatusCode
			})
		}
		wg.Wait()
		won := -1
		for j, s := range statuses {
			switch s {
			case http.StatusSeeOther:
				if won >= 0 {
					t.Fatalf("%s: both sign-ups succeeded", name)
				}
				won = j
			case http.StatusConflict:
			default:
				t.Fatalf("%s: sign-up answered %d", name, s)
			}
		}
		if won < 0 {
			t.Fatalf("%s: no sign-up succeeded: %v", name, statuses)
		}
		// Every instance signs the winner in, and only with its password.
		for _, x := range in {
			cl := noRedirects(newJar(t))
			csrf := csrfOf(t, cl, x.URL+"/login")
			resp, body := postForm(t, cl, x.URL+"/login", url.Values{"_csrf": {csrf}, "name": {name}, "password": {fmt.Sprintf("password-%d-%d", i, won)}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s signing in on %s: %s %.200s", name, x.URL, resp.Status, body)
			}
		}
	}
}

// A room's presence is the union of every instance's members, and the
// members of an instance that is killed go within a few presence
// heartbeats: the others stop hearing from it.
func TestClusterPresenceAndKill(t *testing.T) {
	if testing.Short() {
		t.Skip("three instances with NATS: not in -short")
	}
	bin := buildBeacon(t)
	in, killable := startClusterWithChild(t, 3, bin)
	// The site's "online now" list, as A shows it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	online, err := dialSSE(ctx, streamClient(t), liveURL(in[0].URL, views.TopicOnline), "")
	if err != nil {
		t.Fatal(err)
	}
	defer online.Close()
	onlineNow := func(what string, names ...string) {
		t.Helper()
		for {
			b, err := online.Next()
			if err != nil {
				t.Fatalf("waiting for %s in A's online list: %v", what, err)
			}
			listed := regexp.MustCompile(`<bdi>([^<]*)</bdi>`).FindAllStringSubmatch(b.Data, -1)
			var got []string
			for _, m := range listed {
				got = append(got, m[1])
			}
			slices.Sort(got)
			if b.HasData && slices.Equal(got, names) {
				return
			}
		}
	}

	ann := newChatClient(t, in[0].Addr, "lobby", "ann", false)
	defer ann.close()
	newChatClient(t, in[1].Addr, "lobby", "bob", false)
	cy := newChatClient(t, in[2].Addr, "lobby", "cy", false)
	ann.waitFor(t, "everyone online, on three instances", func(c *chatClient) bool {
		return fmt.Sprint(c.online) == "[ann bob cy]"
	})
	onlineNow("everyone", "ann", "bob", "cy")
	cy.cancel()
	killable.kill()
	killed := time.Now()
	ann.waitFor(t, "cy gone with her instance", func(c *chatClient) bool {
		return fmt.Sprint(c.online) == "[ann bob]"
	})
	onlineNow("cy gone", "ann", "bob")
	t.Logf("the killed instance's member went after %v (presence grace 5s; heartbeats 1s, 3 missed)",
		time.Since(killed).Round(10*time.Millisecond))
}

// SIGKILL one of three instances during a chat burst of 20 clients: every
// message acknowledged to its sender is in every instance's history exactly
// once, writes go on through the other two, and the killed instance catches
// up when it is started again.
func TestClusterSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("three instances with NATS: not in -short")
	}
	bin := buildBeacon(t)
	rate := []string{"--message-rate", "100000", "--message-burst", "100000"}
	members := clusterArgs(t, 3)
	in := make([]*instance, 3)
	var killable *child
	var wg sync.WaitGroup
	addrC := freeLoopback(t)
	for i, m := range members {
		wg.Go(func() {
			if i == 2 {
				killable = startChild(t, bin, addrC, m.db, append(append(m.args, "--dashboard", "public", "--conns-per-address", "0"), rate...)...)
				in[i] = &instance{URL: "http://" + addrC, Addr: addrC, DB: m.db}
				return
			}
			in[i] = start(t, m.db, "", append(m.args, rate...)...)
		})
	}
	wg.Wait()

	const clients = 20
	var sent sync.Map // content → true, once its sender saw it stored
	ctx, stop := context.WithCancel(t.Context())
	var senders sync.WaitGroup
	chats := make([]*chatClient, clients)
	for i := range clients {
		chats[i] = newChatClient(t, in[i%3].Addr, "burst", fmt.Sprintf("u%02d", i), false)
	}
	for i, c := range chats {
		senders.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				content := fmt.Sprintf("u%02d-%04d", i, n)
				if err := c.say(content); err != nil {
					return // its instance is gone
				}
				if err := c.await("its own message", func(c *chatClient) bool { return c.seen[content] > 0 }); err != nil {
					return // not acknowledged: it may or may not be stored
				}
				sent.Store(content, true)
			}
		})
	}
	acked := func() int {
		n := 0
		sent.Range(func(any, any) bool { n++; return true })
		return n
	}
	waitFor(t, time.Minute, "a burst going", func() (bool, string) { return acked() >= 200, fmt.Sprint(acked()) })
	killable.kill()
	before := acked()
	waitFor(t, time.Minute, "writes going on through two instances", func() (bool, string) {
		return acked() >= before+200, fmt.Sprint(acked() - before)
	})
	stop()
	senders.Wait()

	// The killed instance, started again on its database and NATS store,
	// catches up.
	killable = startChild(t, bin, addrC, members[2].db, append(append(members[2].args, "--dashboard", "public", "--conns-per-address", "0"), rate...)...)
	var want []string
	sent.Range(func(k, _ any) bool { want = append(want, k.(string)); return true })
	for _, x := range in {
		waitFor(t, time.Minute, "the history on "+x.URL, func() (bool, string) {
			hist, err := fetchRoomHistory(x.URL, "burst", 500)
			if err != nil {
				return false, err.Error()
			}
			count := map[string]int{}
			for _, m := range hist {
				count[m.Content]++
			}
			for content, n := range count {
				if n != 1 {
					return false, fmt.Sprintf("%q is there %d times", content, n)
				}
			}
			for _, content := range want {
				if count[content] != 1 {
					return false, fmt.Sprintf("acknowledged %q is missing (%d messages there)", content, len(hist))
				}
			}
			return true, ""
		})
	}
	t.Logf("%d messages acknowledged, %d of them after the SIGKILL; all in every history once", len(want), len(want)-before)
}

// With NATS unreachable, writes answer 503 with the reason and change
// nothing, reads and open streams stay up, /healthz says why; when NATS is
// back everything goes on, on every instance.
func TestClusterNATSDown(t *testing.T) {
	if testing.Short() {
		t.Skip("NATS and two instances: not in -short")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	natsCfg := cluster.ServerConfig{Name: "n1", StoreDir: t.TempDir(), Listen: freeAddr(t), Logger: quiet}
	srv, err := cluster.StartServer(natsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown() }()
	url := srv.ClientURL()
	a := start(t, "", "", "--nats", url, "--nats-name", "a")
	b := start(t, "", "", "--nats", url, "--nats-name", "b")

	if _, err := postActivity(http.DefaultClient, a.URL, "before"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	st, err := dialSSE(ctx, streamClient(t), liveURL(b.URL, views.TopicActivity), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}

	srv.Shutdown()
	health := func(x *instance) (int, string) {
		resp, err := http.Get(x.URL + "/healthz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitFor(t, time.Minute, "/healthz to say NATS is down", func() (bool, string) {
		code, body := health(a)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "NATS"), fmt.Sprint(code, body)
	})
	// Ten seconds without NATS: every write is refused, saying why.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) { // the outage's length, not a synchronisation
		code, body := apiPost(t, a.URL, "/api/activity", testToken, map[string]string{"text": "during"})
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "unavailable") {
			t.Fatalf("a write with NATS down: %d %s, want 503 saying why", code, body)
		}
	}
	if page, status := get(t, http.DefaultClient, b.URL+"/"); status != http.StatusOK || !strings.Contains(page, "before") {
		t.Errorf("reading with NATS down: %d", status)
	}

	srv, err = cluster.StartServer(natsCfg)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "both instances healthy again", func() (bool, string) {
		ca, ba := health(a)
		cb, bb := health(b)
		return ca == http.StatusOK && cb == http.StatusOK, ba + " " + bb
	})
	pos, err := postActivity(http.DefaultClient, a.URL, "after")
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := st.NextEvent()
		if err != nil {
			t.Fatalf("B's stream, open through the outage: %v", err)
		}
		if strings.Contains(ev.Data, "during") {
			t.Fatalf("the refused write reached B's stream: %s", ev.Data)
		}
		if ps := itemPositions(ev.Data); len(ps) == 1 && ps[0] == pos {
			break
		}
	}
	for _, x := range []*instance{a, b} {
		page, _ := get(t, http.DefaultClient, x.URL+"/")
		if strings.Contains(page, "during") || !strings.Contains(page, "after") {
			t.Errorf("%s after the outage: want before and after, not during", x.URL)
		}
	}
}

// natsURL is the client address of the embedded NATS server of an
// instance started with m's flags.
func (m memberArgs) natsURL(t *testing.T) string {
	for i, a := range m.args {
		if a == "--nats-listen" {
			return "nats://" + m.args[i+1]
		}
	}
	t.Fatal("no --nats-listen")
	return ""
}

// sayMany sends n chat messages as a guest and waits until each is stored.
func sayMany(t *testing.T, addr, room, user string, n int) {
	t.Helper()
	if err := sayManyErr(t, addr, room, user, n); err != nil {
		t.Fatal(err)
	}
}

// sayManyErr is sayMany for a goroutine of its own: it returns what went
// wrong.
func sayManyErr(t *testing.T, addr, room, user string, n int) error {
	c := newChatClient(t, addr, room, user, false)
	defer c.close()
	for i := range n {
		if err := c.say(fmt.Sprintf("%s-%05d", user, i)); err != nil {
			return err
		}
	}
	// Its own messages come back once stored and applied here; the room's
	// history, sent on joining, does not count.
	// Each check reads only what came since the last: a room of 100,000
	// messages stays linear.
	last, checked := fmt.Sprintf("%s-%05d", user, n-1), 0
	return c.await("all its messages stored", func(c *chatClient) bool {
		for ; checked < len(c.msgs); checked++ {
			if c.msgs[checked].Content == last {
				return true
			}
		}
		return false
	})
}

// sameHistory waits until the room's history on every instance is want's.
func sameHistory(t *testing.T, room string, want []chatFrame, in ...*instance) {
	t.Helper()
	for _, x := range in {
		waitFor(t, time.Minute, "the history on "+x.URL, func() (bool, string) {
			got, err := fetchRoomHistory(x.URL, room, 500)
			if err != nil {
				return false, err.Error()
			}
			if err := sameMessages(got, want); err != nil {
				return false, err.Error()
			}
			return true, ""
		})
	}
}

// A new instance joins a cluster whose log holds many commands: it starts
// from the newest snapshot and replays the rest, and serves the same
// history. BEACON_TEST_JOIN_MESSAGES sets how many (default 1,000); the
// figures for 100,000 are in the closing notes.
func TestClusterNewInstanceStartsFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("three instances with NATS: not in -short")
	}
	n := 1000
	if v := os.Getenv("BEACON_TEST_JOIN_MESSAGES"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	flags := []string{"--message-rate", "1000000", "--message-burst", "1000000", "--log-level", "info",
		"--nats-snapshot-every", "1s", "--nats-snapshot-commands", strconv.Itoa(max(n/2, 10))}
	members := clusterArgs(t, 3)
	in := make([]*instance, 3)
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { in[i] = start(t, m.db, "", append(m.args, flags...)...) })
	}
	wg.Wait()
	start0 := time.Now()
	// Sixteen senders: one socket's messages are stored one after another.
	var senders sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		senders.Go(func() {
			errs[i] = sayManyErr(t, in[0].Addr, "big", fmt.Sprintf("u%02d", i), n/16+min(1, max(0, n%16-i)))
		})
	}
	senders.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d messages stored through the cluster in %v", n, time.Since(start0).Round(time.Millisecond))
	waitFor(t, 2*time.Minute, "a snapshot", func() (bool, string) {
		for _, x := range in {
			if strings.Contains(x.Logs(), "stored a snapshot") {
				return true, ""
			}
		}
		return false, "none stored yet"
	})
	sayMany(t, in[1].Addr, "big", "bob", 10) // after the snapshot: replayed

	// in[1] has applied its own last message, so everything before it: the
	// whole history (in[0] may still be applying bob's last ones).
	want, err := fetchRoomHistory(in[1].URL, "big", 500)
	if err != nil {
		t.Fatal(err)
	}
	joined := time.Now()
	d := start(t, "", "", append([]string{"--nats", members[0].natsURL(t), "--nats-name", "d"}, flags...)...)
	took := time.Since(joined)
	if !strings.Contains(d.Logs(), "restored the cluster's newest snapshot") {
		t.Errorf("the new instance did not start from a snapshot:\n%s", d.Logs())
	}
	sameHistory(t, "big", want, d)
	t.Logf("a new instance joined a log of %d messages in %v (snapshot, then replay)", len(want), took.Round(time.Millisecond))
}

// A database that ran as one process becomes the first instance of a
// cluster with everything intact: its accounts, rooms, messages and tokens;
// a client holding an id of the old epoch gets the current state and a
// resync; a new instance starts from the snapshot it seeds.
func TestClusterGrowsFromOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("NATS: not in -short")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "alone.db")
	alone := start(t, path, "")
	ann := signUp(t, alone.URL, "ann")
	sayMany(t, alone.Addr, "lobby", "bob", 20)
	want := roomHistory(t, alone.URL, "lobby", 500)
	st, err := dialSSE(t.Context(), streamClient(t), liveURL(alone.URL, views.TopicActivity), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Next(); err != nil {
		t.Fatal(err)
	}
	oldID := st.LastID
	st.Close()
	alone.Stop(t)

	members := clusterArgs(t, 1)
	first := start(t, path, "", append(members[0].args, "--log-level", "info")...)
	sameHistory(t, "lobby", want, first)
	back, err := dialSSE(t.Context(), streamClient(t), liveURL(first.URL, views.TopicActivity), oldID)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	ev, err := back.NextEvent()
	for err == nil && ev.Event != views.EventResync {
		ev, err = back.NextEvent()
	}
	if err != nil {
		t.Fatalf("resuming with an id of the old epoch: %v, want the state and a resync", err)
	}
	if code, body := apiPost(t, first.URL, "/api/activity", testToken, map[string]string{"text": "a cluster now"}); code != http.StatusCreated {
		t.Fatalf("the token after growing up: %d %s", code, body)
	}

	second := start(t, "", "", "--nats", members[0].natsURL(t), "--nats-name", "second", "--log-level", "info")
	if !strings.Contains(second.Logs(), "restored the cluster's newest snapshot") {
		t.Errorf("the second instance did not start from the seed:\n%s", second.Logs())
	}
	sameHistory(t, "lobby", want, second)
	again := signIn(t, second.URL, "ann")
	if again.ID != ann.ID {
		t.Errorf("ann is %d on the second instance, %d where she signed up", again.ID, ann.ID)
	}
}
