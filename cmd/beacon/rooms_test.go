//go:build unix

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// These tests drive chat rooms over real WebSockets in JSON mode
// (subprotocol beacon.v1.json), against the whole program on a loopback port
// and a real SQLite file. Nothing waits by sleeping: every wait is on a
// condition (a frame arrived, a counter moved) with a generous deadline that
// fails the test.

const roomSubprotocol = "beacon.v1.json"

// roomWait bounds every wait for something the server is expected to do.
const roomWait = 2 * time.Minute

// chatFrame is one message a room socket sends in JSON mode.
type chatFrame struct {
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	Position  int64     `json:"position"`
	Room      string    `json:"room"`
	User      string    `json:"user"`
	Content   string    `json:"content"`
	Timestamp time.Time `json:"timestamp"`
	Online    []string  `json:"online"`
	Typing    []string  `json:"typing"`
	Error     string    `json:"error"`
	Field     string    `json:"field"`
	Resynced  bool      `json:"resynced"`
}

func (f chatFrame) String() string {
	switch f.Type {
	case "message", "": // "" is a message of the history API
		return fmt.Sprintf("#%d %s: %.40q", f.Position, f.User, f.Content)
	case "error":
		return fmt.Sprintf("error %s: %s", f.Field, f.Error)
	default:
		return f.Type + " " + f.ID
	}
}

// roomSocketURL is the address of a room's socket for user, resuming after
// the id after when it is not "".
func roomSocketURL(addr, room, user, after string) string {
	q := url.Values{}
	if user != "" {
		q.Set("name", user)
	}
	if after != "" {
		q.Set("after", after)
	}
	u := "ws://" + addr + "/rooms/" + room + "/ws"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// dialRoom opens a JSON-mode room socket.
func dialRoom(ctx context.Context, d *websocket.Dialer, addr, room, user, after string, h http.Header) (*websocket.Conn, *http.Response, error) {
	if d == nil {
		d = &websocket.Dialer{}
	}
	dd := *d
	dd.Subprotocols = []string{roomSubprotocol}
	if dd.HandshakeTimeout == 0 {
		dd.HandshakeTimeout = 30 * time.Second
	}
	conn, resp, err := dd.DialContext(ctx, roomSocketURL(addr, room, user, after), h)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err == nil && conn.Subprotocol() != roomSubprotocol {
		conn.Close()
		return nil, resp, fmt.Errorf("server chose subprotocol %q, not %q", conn.Subprotocol(), roomSubprotocol)
	}
	return conn, resp, err
}

// readChatFrame reads and decodes one message of a room socket.
func readChatFrame(conn *websocket.Conn) (chatFrame, error) {
	kind, data, err := conn.ReadMessage()
	if err != nil {
		return chatFrame{}, err
	}
	var f chatFrame
	if kind != websocket.TextMessage {
		return f, fmt.Errorf("server sent a message of kind %d", kind)
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("server sent %q: %w", data, err)
	}
	if f.Type == "" {
		return f, fmt.Errorf("server sent a message without a type: %q", data)
	}
	return f, nil
}

// chatClient is a program in a room: one goroutine reads every frame of its
// socket and keeps them; with resume set it reconnects, as a client of
// Beacon should, with ?after=<the last id it saw> whenever its connection
// ends. Frames are kept in the order received, across connections.
type chatClient struct {
	addr, room, user string
	resume           bool
	ctx              context.Context
	cancel           context.CancelFunc
	stop             chan struct{} // closed by close
	done             chan struct{} // closed when the reading goroutine returns

	wmu sync.Mutex // serializes writes to the socket

	mu       sync.Mutex
	conn     *websocket.Conn // guarded by mu; nil between connections
	connects int             // guarded by mu; connections opened
	ends     []error         // guarded by mu; why each connection ended
	stopping bool            // guarded by mu
	msgs     []chatFrame     // guarded by mu; "message" frames in the order received
	seen     map[string]int  // guarded by mu; how often each content arrived
	errs     []chatFrame     // guarded by mu; "error" frames
	welcomes []chatFrame     // guarded by mu
	others   int             // guarded by mu; presence and typing frames
	online   []string        // guarded by mu; who the newest presence frame says is online
	bad      []error         // guarded by mu; frames that were not what the protocol says
	lastID   string          // guarded by mu; the id to resume after
	lastPos  int64           // guarded by mu
	changed  chan struct{}   // guarded by mu; closed and replaced on every change
}

// newChatClient connects user to room and waits for the welcome. The client
// is closed when the test ends.
func newChatClient(t testing.TB, addr, room, user string, resume bool) *chatClient {
	t.Helper()
	c := newChatClientAfter(t, addr, room, user, "", resume)
	c.waitFor(t, "the welcome", func(c *chatClient) bool { return len(c.welcomes) > 0 })
	return c
}

// newChatClientAfter connects user to room after the id after ("" for
// none) and does not wait for anything.
func newChatClientAfter(t testing.TB, addr, room, user, after string, resume bool) *chatClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &chatClient{addr: addr, room: room, user: user, resume: resume, ctx: ctx, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]int{},
		changed: make(chan struct{}), lastID: after}
	conn, resp, err := dialRoom(ctx, nil, addr, room, user, after, nil)
	if err != nil {
		cancel()
		t.Fatalf("%s: connect to room %s: %v (%s)", user, room, err, statusOf(resp))
	}
	c.conn, c.connects = conn, 1
	go c.run(conn)
	t.Cleanup(c.close)
	return c
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

func (c *chatClient) run(conn *websocket.Conn) {
	defer close(c.done)
	for {
		err := c.readAll(conn)
		conn.Close()
		c.mu.Lock()
		c.conn = nil
		c.ends = append(c.ends, err)
		stopping := c.stopping
		c.notify()
		c.mu.Unlock()
		if stopping || !c.resume {
			return
		}
		if conn = c.redial(); conn == nil {
			return
		}
	}
}

// redial connects again after the last id seen, until it succeeds or the
// client is closed. The interval only paces the attempts while the server
// is away.
func (c *chatClient) redial() *websocket.Conn {
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		c.mu.Lock()
		after := c.lastID
		c.mu.Unlock()
		conn, _, err := dialRoom(c.ctx, nil, c.addr, c.room, c.user, after, nil)
		if err == nil {
			c.mu.Lock()
			if c.stopping {
				c.mu.Unlock()
				conn.Close()
				return nil
			}
			c.conn = conn
			c.connects++
			c.notify()
			c.mu.Unlock()
			return conn
		}
		select {
		case <-c.stop:
			return nil
		case <-retry.C:
		}
	}
}

func (c *chatClient) readAll(conn *websocket.Conn) error {
	for {
		f, err := readChatFrame(conn)
		var ce *websocket.CloseError
		if err != nil && (errors.As(err, &ce) || isNetErr(err)) {
			return err
		}
		c.mu.Lock()
		if err != nil {
			c.bad = append(c.bad, err)
		} else {
			c.record(f)
		}
		c.notify()
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// isNetErr reports whether err ended a connection (as opposed to the
// server sending something unexpected).
func isNetErr(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &ne) || strings.Contains(err.Error(), "connection reset")
}

// record keeps f; c.mu is held.
func (c *chatClient) record(f chatFrame) {
	switch f.Type {
	case "message":
		if f.Room != c.room {
			c.bad = append(c.bad, fmt.Errorf("message of room %q on room %q's socket: %v", f.Room, c.room, f))
		}
		if f.Position <= c.lastPos {
			c.bad = append(c.bad, fmt.Errorf("message #%d after #%d", f.Position, c.lastPos))
		}
		c.msgs = append(c.msgs, f)
		c.seen[f.Content]++
		c.lastID, c.lastPos = f.ID, f.Position
	case "welcome":
		c.welcomes = append(c.welcomes, f)
		if _, pos, ok := splitChatID(f.ID); ok && pos >= c.lastPos {
			c.lastID, c.lastPos = f.ID, pos
		} else if !ok {
			c.bad = append(c.bad, fmt.Errorf("welcome with id %q", f.ID))
		}
	case "error":
		c.errs = append(c.errs, f)
	case "presence":
		c.online = f.Online
		c.others++
	case "typing", "history": // history: after a resync, which these clients do not expect
		c.others++
	default:
		c.bad = append(c.bad, fmt.Errorf("frame of unknown type %q", f.Type))
	}
}

func (c *chatClient) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// close ends the client and waits for its goroutine.
func (c *chatClient) close() {
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		<-c.done
		return
	}
	c.stopping = true
	conn := c.conn
	c.mu.Unlock()
	close(c.stop)
	c.cancel()
	if conn != nil {
		conn.Close()
	}
	<-c.done
}

// send writes one message; it fails while the client is between
// connections.
func (c *chatClient) send(kind int, data []byte) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return errors.New("not connected")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the write
	return conn.WriteMessage(kind, data)
}

// say sends a chat message.
func (c *chatClient) say(content string) error {
	b, _ := json.Marshal(map[string]string{"type": "chat", "content": content})
	return c.send(websocket.TextMessage, b)
}

// await waits until cond, called with c.mu held, holds. It gives up after
// roomWait, or when the client has stopped reading for good.
func (c *chatClient) await(what string, cond func(c *chatClient) bool) error {
	deadline := time.NewTimer(roomWait)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok, ch, state := cond(c), c.changed, c.stateLocked()
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-c.done:
			c.mu.Lock()
			ok, state = cond(c), c.stateLocked()
			c.mu.Unlock()
			if ok {
				return nil
			}
			return fmt.Errorf("%s: %s: the client stopped reading first (%s)", c.user, what, state)
		case <-deadline.C:
			return fmt.Errorf("%s: %s: not within %v (%s)", c.user, what, roomWait, state)
		}
	}
}

func (c *chatClient) waitFor(t testing.TB, what string, cond func(c *chatClient) bool) {
	t.Helper()
	if err := c.await(what, cond); err != nil {
		t.Fatal(err)
	}
}

// stateLocked describes the client for a failure message; c.mu is held.
func (c *chatClient) stateLocked() string {
	s := fmt.Sprintf("%d messages, last id %q, %d errors, %d welcomes, %d connections, ends %v",
		len(c.msgs), c.lastID, len(c.errs), len(c.welcomes), c.connects, c.ends)
	if len(c.errs) > 0 {
		s += fmt.Sprintf(", last error %v", c.errs[len(c.errs)-1])
	}
	if len(c.bad) > 0 {
		s += fmt.Sprintf(", protocol problems %v", c.bad)
	}
	return s
}

// messages returns a copy of the message frames received so far.
func (c *chatClient) messages() []chatFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func (c *chatClient) errorFrames() []chatFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// problems returns what the client saw that the protocol does not allow.
func (c *chatClient) problems() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.bad)
}

func (c *chatClient) endings() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ends)
}

// splitChatID splits "<epoch>-<position>".
func splitChatID(id string) (string, int64, bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	pos, err := strconv.ParseInt(id[i+1:], 10, 64)
	return id[:i], pos, err == nil && pos >= 0
}

// historyPage is the body of GET /api/rooms/:room/messages.
type historyPage struct {
	Messages []chatFrame `json:"messages"`
	Before   int64       `json:"before"`
}

// roomHTTP is a client without idle connections, so no goroutine of it
// outlives a test.
func roomHTTP() *http.Client {
	return &http.Client{Timeout: roomWait, Transport: &http.Transport{DisableKeepAlives: true}}
}

// roomHistory reads a room's whole history through the API, a page of limit
// at a time from the newest backwards, and returns it oldest first.
func roomHistory(t testing.TB, base, room string, limit int) []chatFrame {
	t.Helper()
	msgs, err := fetchRoomHistory(base, room, limit)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func fetchRoomHistory(base, room string, limit int) ([]chatFrame, error) {
	hc := roomHTTP()
	var pages [][]chatFrame
	var before int64
	for {
		u := fmt.Sprintf("%s/api/rooms/%s/messages?limit=%d", base, room, limit)
		if before > 0 {
			u += "&before=" + strconv.FormatInt(before, 10)
		}
		resp, err := hc.Get(u)
		if err != nil {
			return nil, err
		}
		var page historyPage
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("GET %s: %s, %v", u, resp.Status, err)
		}
		for i, m := range page.Messages {
			if before > 0 && m.Position >= before {
				return nil, fmt.Errorf("GET %s: message #%d is not before %d", u, m.Position, before)
			}
			if i > 0 && m.Position <= page.Messages[i-1].Position {
				return nil, fmt.Errorf("GET %s: not oldest first: #%d after #%d", u, m.Position, page.Messages[i-1].Position)
			}
		}
		if len(page.Messages) > limit {
			return nil, fmt.Errorf("GET %s: %d messages", u, len(page.Messages))
		}
		pages = append(pages, page.Messages)
		if page.Before == 0 {
			break
		}
		if len(page.Messages) == 0 || page.Before != page.Messages[0].Position {
			return nil, fmt.Errorf("GET %s: before is %d with %d messages", u, page.Before, len(page.Messages))
		}
		before = page.Before
	}
	var all []chatFrame
	for i := len(pages) - 1; i >= 0; i-- {
		all = append(all, pages[i]...)
	}
	return all, nil
}

// sameMessages compares two sequences of messages by position, room, user,
// content and time, and reports the first difference.
func sameMessages(got, want []chatFrame) error {
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.Position != w.Position || g.Room != w.Room || g.User != w.User || g.Content != w.Content || !g.Timestamp.Equal(w.Timestamp) {
			return fmt.Errorf("message %d of %d is %v at %v, want %v at %v", i, len(want), g, g.Timestamp, w, w.Timestamp)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d messages, want %d", len(got), len(want))
	}
	return nil
}

// roomMetric reads one sample of the server's /metrics, 0 when absent.
func roomMetric(base, sample string) (float64, error) {
	resp, err := roomHTTP().Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, nil
}

// pollRoom calls cond until it holds, for conditions nothing announces
// (a metric, a refused join); the interval only paces the polling.
func pollRoom(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	waitFor(t, roomWait, what, cond)
}

// TestRoomOrderForEveryone: 50 clients in one room each send 100 messages;
// every client receives all 5,000 in the same order, which is the
// database's (strictly increasing positions); the history API returns the
// same sequence; every sender sees each of its messages once.
func TestRoomOrderForEveryone(t *testing.T) {
	// The rate limit is TestRoomLimits' subject: here each client sends its
	// 100 messages back to back, so the server allows bursts of 1,000.
	// The queue of each reader holds all 5,000 messages, so no reader is
	// disconnected for falling behind while 50 readers share two cores
	// under -race (that policy is TestRoomSlowReader's subject) and each
	// client's sequence comes from one connection.
	// Guests' messages count against their address, which all clients
	// here share.
	in := start(t, "", "", "--message-rate", "100000", "--message-burst", "100000", "--queue", "8192")
	const room, clients, each = "order", 50, 100

	cs := make([]*chatClient, clients)
	for i := range cs {
		cs[i] = newChatClient(t, in.Addr, room, fmt.Sprintf("user%02d", i), false)
	}
	cs[0].mu.Lock()
	epoch, _, _ := splitChatID(cs[0].welcomes[0].ID)
	cs[0].mu.Unlock()

	began := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			for j := range each {
				if err := c.say(fmt.Sprintf("%s says %03d", c.user, j)); err != nil {
					t.Errorf("%s: send %d: %v", c.user, j, err)
					return
				}
			}
		})
	}
	wg.Wait()
	sent := time.Since(began)
	for _, c := range cs {
		c.waitFor(t, "all 5,000 messages", func(c *chatClient) bool { return len(c.msgs) >= clients*each })
	}
	t.Logf("50 clients sent 5,000 messages in %v; all received them after %v", sent.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	// A last message, sent after every client has all 5,000: whatever a
	// client receives before it is everything it will ever get of them, so
	// a duplicate delivered late shows up too.
	const last = "the end"
	if err := cs[0].say(last); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.waitFor(t, "the last message", func(c *chatClient) bool { return c.seen[last] > 0 })
	}

	want := cs[0].messages()
	if n := len(want); n != clients*each+1 || want[n-1].Content != last {
		t.Fatalf("%s received %d messages ending with %v, want %d ending with %q", cs[0].user, n, want[n-1], clients*each+1, last)
	}
	for i, m := range want {
		if i > 0 && m.Position <= want[i-1].Position {
			t.Fatalf("message %d is #%d, after #%d: not in position order", i, m.Position, want[i-1].Position)
		}
		if m.ID != epoch+"-"+strconv.FormatInt(m.Position, 10) {
			t.Fatalf("message #%d has id %q, want %s-%d", m.Position, m.ID, epoch, m.Position)
		}
	}
	for _, c := range cs {
		got := c.messages()
		if err := sameMessages(got, want); err != nil {
			t.Errorf("%s and %s received different sequences: %v", c.user, cs[0].user, err)
		}
		// Each sender sees its own messages once, in the order it sent
		// them (one connection's messages are stored in the order read).
		var own []string
		for _, m := range got {
			if m.User == c.user && m.Content != last {
				own = append(own, m.Content)
			}
		}
		for j := range each {
			if j >= len(own) || own[j] != fmt.Sprintf("%s says %03d", c.user, j) {
				t.Errorf("%s's own messages came back as %d messages %q…, want each of its 100 once in order", c.user, len(own), own[:min(len(own), 5)])
				break
			}
		}
		if len(own) != each {
			t.Errorf("%s saw %d of its own messages, want %d", c.user, len(own), each)
		}
		if p := c.problems(); len(p) > 0 {
			t.Errorf("%s: %v", c.user, p)
		}
		if e := c.errorFrames(); len(e) > 0 {
			t.Errorf("%s got error frames: %v", c.user, e)
		}
		if ends := c.endings(); len(ends) > 0 {
			t.Errorf("%s was disconnected: %v", c.user, ends)
		}
	}

	for _, limit := range []int{500, 37} { // whole pages, and pages that do not divide 5,001
		if err := sameMessages(roomHistory(t, in.URL, room, limit), want); err != nil {
			t.Errorf("history (limit %d) differs from what the clients received: %v", limit, err)
		}
	}
}

// joinRoom opens a socket and reads its first frame: a welcome for a
// connection the room admitted, an error for one it refused. For a refused
// one it also reads how the server closed it.
func joinRoom(addr, room, user string) (conn *websocket.Conn, first chatFrame, closed error, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), roomWait)
	defer cancel()
	conn, resp, err := dialRoom(ctx, nil, addr, room, user, "", nil)
	if err != nil {
		return nil, first, nil, fmt.Errorf("dial: %v (%s)", err, statusOf(resp))
	}
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	first, err = readChatFrame(conn)
	if err != nil {
		conn.Close()
		return nil, first, nil, fmt.Errorf("first frame: %w", err)
	}
	if first.Type == "welcome" {
		conn.SetReadDeadline(time.Time{}) //nolint:errcheck // as above
		return conn, first, nil, nil
	}
	defer conn.Close()
	for {
		f, err := readChatFrame(conn)
		if err != nil {
			return nil, first, err, nil
		}
		if f.Type != "presence" && f.Type != "typing" {
			return nil, first, nil, fmt.Errorf("refused connection got %v after %v", f, first)
		}
	}
}

// TestRoomLimits tests each limit of a room: connections, message rate,
// message size, malformed input, the Origin of the upgrade and the name.
func TestRoomLimits(t *testing.T) {
	// A room holds 5 connections here instead of the default 1,000, to keep
	// this fast: the limit is one comparison whatever its value
	// (TestRoomLimitAtDefault runs the real 1,000 and 1,001). The message
	// burst and size are the defaults (20, 4 KiB); the rate is lowered in its
	// subtest, see there.
	in := start(t, "", "", "--room-conns", "5")

	t.Run("connections", func(t *testing.T) {
		const room = "full"
		members := make([]*chatClient, 5)
		for i := range members {
			members[i] = newChatClient(t, in.Addr, room, fmt.Sprintf("member%d", i), false)
		}
		conn, first, closed, err := joinRoom(in.Addr, room, "sixth")
		if err != nil {
			t.Fatal(err)
		}
		if conn != nil {
			conn.Close()
			t.Fatalf("connection 6 of a room of 5 was welcomed: %v", first)
		}
		if first.Type != "error" || !strings.Contains(first.Error, "full") {
			t.Errorf("connection 6 got %+v first, want an error saying the room is full", first)
		}
		var ce *websocket.CloseError
		if !errors.As(closed, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != first.Error {
			t.Errorf("connection 6 was closed with %v, want close code 1008 (policy) with the reason %q", closed, first.Error)
		}
		for _, m := range members {
			if ends := m.endings(); len(ends) > 0 {
				t.Errorf("%s was disconnected: %v", m.user, ends)
			}
		}

		// Another room is not affected, and a member who leaves frees a place.
		if conn, first, _, err := joinRoom(in.Addr, "other", "sixth"); err != nil || conn == nil {
			t.Fatalf("joining another room: %v %v", first, err)
		} else {
			conn.Close()
		}
		members[4].close()
		pollRoom(t, "a place after one of 5 members left", func() (bool, string) {
			conn, first, closed, err := joinRoom(in.Addr, room, "sixth")
			if conn != nil {
				conn.Close()
				return true, ""
			}
			return false, fmt.Sprintf("%v %v %v", first, closed, err)
		})
	})

	t.Run("rate size and syntax", func(t *testing.T) {
		// The burst is the default 20; the rate is 1 a second instead of 10,
		// so the 21st message is refused even when a busy machine (CI runs
		// packages in parallel, with -race) takes longer than the 100 ms
		// after which a token would come back at 10 a second. Same limiter,
		// same code path.
		in := start(t, "", "", "--message-rate", "1")
		const room = "rate"
		c := newChatClient(t, in.Addr, room, "quick", false)
		answered := func(n int, prefix string) func(c *chatClient) bool {
			return func(c *chatClient) bool {
				got := len(c.errs)
				for _, m := range c.msgs {
					if strings.HasPrefix(m.Content, prefix) {
						got++
					}
				}
				return got >= n
			}
		}

		// 21 messages at once: the burst is 20, and at 1 a second the next
		// token comes a second after the first message was taken.
		began := time.Now()
		for i := 1; i <= 21; i++ {
			if err := c.say(fmt.Sprintf("burst %02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		c.waitFor(t, "an answer to each of 21 messages", answered(21, "burst "))
		took := time.Since(began)
		t.Logf("21 messages sent and answered in %v", took.Round(time.Millisecond))
		errs := c.errorFrames()
		if len(errs) != 1 || errs[0].Field != "content" || !strings.Contains(errs[0].Error, "too fast") {
			t.Errorf("error frames %v, want one saying too fast about the content (the server took %v to answer 21 messages; a token comes back after 1 s)", errs, took)
		}
		want := c.messages()
		for i, m := range want {
			if i >= 20 || m.Content != fmt.Sprintf("burst %02d", i+1) {
				t.Fatalf("the room received %v, want burst 01 to burst 20", want)
			}
		}
		if err := sameMessages(roomHistory(t, in.URL, room, 50), want); err != nil {
			t.Errorf("history after the burst: %v; want the 20 that were accepted", err)
		}

		// Too large, malformed or meaningless: an error frame each, nothing
		// stored, the connection kept. None of these takes a token.
		bad := []struct {
			what  string
			kind  int
			data  string
			field string
			says  string
		}{
			{"5 KiB of content", websocket.TextMessage, `{"type":"chat","content":"` + strings.Repeat("é", 5<<10/2) + `"}`, "content", "longer than 4 KiB"},
			{"4 KiB and one byte", websocket.TextMessage, `{"type":"chat","content":"` + strings.Repeat("x", 4<<10+1) + `"}`, "content", "longer"},
			{"truncated JSON", websocket.TextMessage, `{"type":"chat","content":"never ends`, "body", "JSON"},
			{"not JSON", websocket.TextMessage, `hello`, "body", "JSON"},
			{"two objects", websocket.TextMessage, `{"type":"chat","content":"a"}{"type":"chat","content":"b"}`, "body", "more than one"},
			{"a closing brace after the object", websocket.TextMessage, `{"type":"chat","content":"a"}}`, "body", ""},
			{"an array", websocket.TextMessage, `[{"type":"chat","content":"a"}]`, "body", "object"},
			{"an unknown field", websocket.TextMessage, `{"type":"chat","content":"a","admin":true}`, "admin", "not a known field"},
			{"an unknown type", websocket.TextMessage, `{"type":"shout","content":"a"}`, "type", "chat"},
			{"no type", websocket.TextMessage, `{"content":"a"}`, "type", "required"},
			{"no content", websocket.TextMessage, `{"type":"chat"}`, "content", "required"},
			{"blank content", websocket.TextMessage, `{"type":"chat","content":" \n\t "}`, "content", "empty"},
			{"content that is not a string", websocket.TextMessage, `{"type":"chat","content":5}`, "content", "string"},
			{"a binary message", websocket.BinaryMessage, `{"type":"chat","content":"a"}`, "body", "text"},
		}
		for _, b := range bad {
			n, m := len(c.errorFrames()), len(c.messages())
			if err := c.send(b.kind, []byte(b.data)); err != nil {
				t.Fatalf("send %s: %v", b.what, err)
			}
			c.waitFor(t, "an answer to "+b.what, func(c *chatClient) bool { return len(c.errs) > n || len(c.msgs) > m })
			if msgs := c.messages(); len(msgs) > m {
				t.Fatalf("%s was accepted: %v", b.what, msgs[m])
			}
			e := c.errorFrames()[n]
			if e.Field != b.field || !strings.Contains(e.Error, b.says) {
				t.Errorf("%s: error frame %+v, want field %q and a message saying %q", b.what, e, b.field, b.says)
			}
		}
		if err := sameMessages(roomHistory(t, in.URL, room, 50), want); err != nil {
			t.Errorf("history after refused messages: %v; want only the 20 of the burst", err)
		}

		// The connection still works: once a token is back, a message is
		// accepted. Each try waits for its answer before the next.
		retry := time.NewTicker(50 * time.Millisecond)
		defer retry.Stop()
		var accepted string
		for try := 1; accepted == ""; try++ {
			if try > 1000 {
				t.Fatal("no message accepted after the burst")
			}
			content := fmt.Sprintf("later %d", try)
			n := len(c.errorFrames())
			if err := c.say(content); err != nil {
				t.Fatal(err)
			}
			c.waitFor(t, "an answer to "+content, func(c *chatClient) bool { return len(c.errs) > n || c.seen[content] > 0 })
			if errs := c.errorFrames(); len(errs) == n {
				accepted = content
			} else if !strings.Contains(errs[n].Error, "too fast") {
				t.Fatalf("%s was refused with %+v", content, errs[n])
			} else {
				<-retry.C
			}
		}
		history := roomHistory(t, in.URL, room, 50)
		if len(history) != 21 || history[20].Content != accepted {
			t.Errorf("history is %v, want the 20 of the burst and %q", history, accepted)
		}
		if ends := c.endings(); len(ends) > 0 {
			t.Errorf("the connection ended: %v", ends)
		}
		if p := c.problems(); len(p) > 0 {
			t.Error(p)
		}
	})

	t.Run("origin", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), roomWait)
		defer cancel()
		const room = "origin"
		// The Origin's scheme, host and port must be the request's own
		// (TestWebSocketOriginMustBeTheServers has the scheme and the proxy).
		for _, origin := range []string{"http://evil.example", "http://" + in.Addr + ".evil.example", "http://127.0.0.1", "null", "not a url"} {
			conn, resp, err := dialRoom(ctx, nil, in.Addr, room, "eve", "", http.Header{"Origin": {origin}})
			if err == nil {
				conn.Close()
				t.Errorf("a socket from Origin %s was accepted", origin)
				continue
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("a socket from Origin %s: %v (%s), want 403", origin, err, statusOf(resp))
			}
		}
		// The room's own origin is accepted, and nobody from the refused
		// handshakes is online.
		conn, resp, err := dialRoom(ctx, nil, in.Addr, room, "self", "", http.Header{"Origin": {"http://" + in.Addr}})
		if err != nil {
			t.Fatalf("a socket from the room's own origin: %v (%s)", err, statusOf(resp))
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
		for {
			f, err := readChatFrame(conn)
			if err != nil {
				t.Fatal(err)
			}
			if f.Type == "presence" {
				if !slices.Equal(f.Online, []string{"self"}) {
					t.Errorf("online %q, want only self", f.Online)
				}
				break
			}
		}
	})

	t.Run("name and room", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), roomWait)
		defer cancel()
		for _, tc := range []struct{ room, user string }{
			{"named", ""}, {"named", "<script>"}, {"named", strings.Repeat("n", 33)}, {"no.dots", "ann"},
			{strings.Repeat("r", 65), "ann"},
		} {
			want := http.StatusBadRequest
			if tc.user == "" {
				want = http.StatusUnauthorized
			}
			conn, resp, err := dialRoom(ctx, nil, in.Addr, tc.room, tc.user, "", nil)
			if err == nil {
				conn.Close()
			}
			if resp == nil || resp.StatusCode != want {
				t.Errorf("room %.10q… user %q: %v (%s), want %d", tc.room, tc.user, err, statusOf(resp), want)
			}
		}
	})
}

// TestRoomLimitAtDefault opens the default 1,000 connections to one room
// (one person in 1,000 tabs, so presence changes once) and checks that
// connection 1,001 is refused with the reason and code 1008.
func TestRoomLimitAtDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	in := start(t, "", "")
	const room, limit = "crowd", 1000
	began := time.Now()
	conns := make([]*websocket.Conn, 0, limit)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range limit {
		conn, first, closed, err := joinRoom(in.Addr, room, "many")
		if err != nil || conn == nil {
			t.Fatalf("connection %d: %v %v %v", i+1, first, closed, err)
		}
		conns = append(conns, conn)
	}
	conn, first, closed, err := joinRoom(in.Addr, room, "many")
	if err != nil {
		t.Fatal(err)
	}
	if conn != nil {
		conn.Close()
		t.Fatal("connection 1,001 was welcomed")
	}
	var ce *websocket.CloseError
	if first.Type != "error" || !strings.Contains(first.Error, "full") ||
		!errors.As(closed, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != first.Error {
		t.Errorf("connection 1,001 got %+v and %v, want an error saying the room is full and close code 1008 with it", first, closed)
	}
	t.Logf("1,000 connections and a refused one in %v", time.Since(began).Round(time.Millisecond))
}

// dialStalled opens a room socket whose TCP receive buffer is 4 KiB, reads
// its welcome, and is then left alone: a client that stops reading.
//
// The buffer is set before connecting. Shrinking it afterwards (SetReadBuffer
// on the connected socket) leaves a window advertised that the buffer cannot
// hold: Linux then prunes the receive queue, the server's retransmissions
// back off exponentially, and the rest of the stream arrives tens of seconds
// late, which looks like a server that never closed the connection.
func dialStalled(t testing.TB, addr, room, user string) (*websocket.Conn, chatFrame) {
	t.Helper()
	nd := &net.Dialer{Control: func(network, address string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	d := &websocket.Dialer{ReadBufferSize: 4096, NetDialContext: nd.DialContext}
	ctx, cancel := context.WithTimeout(context.Background(), roomWait)
	defer cancel()
	conn, resp, err := dialRoom(ctx, d, addr, room, user, "", nil)
	if err != nil {
		t.Fatalf("%s: %v (%s)", user, err, statusOf(resp))
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	for {
		f, err := readChatFrame(conn)
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if f.Type == "welcome" {
			return conn, f
		}
	}
}

// TestRoomSlowReader: a client that stops reading does not hold the others
// back (they receive every message), is disconnected, and then resumes with
// ?after=<the last id it read>, getting every message it missed, in order,
// none twice.
func TestRoomSlowReader(t *testing.T) {
	// A reader whose queue holds 16 messages is disconnected (1013) when it
	// overflows, and a write that waits 2 s gives up; either way the stalled
	// client is cut off and resumes. The rate limit is raised as in
	// TestRoomOrderForEveryone: the sender goes as fast as the readers take.
	in := start(t, "", "", "--queue", "16", "--write-timeout", "2s", "--message-rate", "1000", "--message-burst", "1000")
	const room = "slow"
	sender := newChatClient(t, in.Addr, room, "sender", false)
	readers := []*chatClient{sender}
	for i := range 3 {
		readers = append(readers, newChatClient(t, in.Addr, room, fmt.Sprintf("reader%d", i), false))
	}
	stalled, welcome := dialStalled(t, in.Addr, room, "stalled")

	// 2 KiB messages, until the server has cut the stalled client off,
	// then 100 more. The sender keeps at most window messages ahead of the
	// slowest healthy reader, so a healthy reader's queue (16) cannot fill:
	// only the stalled one's can.
	const window, after, most = 8, 100, 20_000
	content := func(i int) string { return fmt.Sprintf("%05d ", i) + strings.Repeat("m", 2<<10-6) }
	began := time.Now()
	total, evictedAt := 0, -1
	for i := 0; total == 0; i++ {
		if i == most {
			t.Fatalf("the stalled client was not disconnected after %d messages of 2 KiB", most)
		}
		if i >= window {
			for _, r := range readers {
				r.waitFor(t, fmt.Sprintf("message %d", i-window), func(c *chatClient) bool { return len(c.msgs) > i-window })
			}
		}
		if err := sender.say(content(i)); err != nil {
			t.Fatal(err)
		}
		if evictedAt < 0 && i%16 == 15 {
			n, err := roomMetric(in.URL, "beacon_subscribers_evicted_total")
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				evictedAt = i
			}
		}
		if evictedAt >= 0 && i == evictedAt+after {
			total = i + 1
		}
	}
	for _, r := range readers {
		r.waitFor(t, "every message", func(c *chatClient) bool { return len(c.msgs) >= total })
	}
	t.Logf("the stalled client's queue overflowed by message %d; %d messages sent and received by every healthy reader in %v",
		evictedAt+1, total, time.Since(began).Round(time.Millisecond))
	want := roomHistory(t, in.URL, room, 500)
	if len(want) != total {
		t.Fatalf("history holds %d messages, want %d", len(want), total)
	}
	for _, r := range readers {
		if err := sameMessages(r.messages(), want); err != nil {
			t.Errorf("%s: %v", r.user, err)
		}
		if ends, errs, p := r.endings(), r.errorFrames(), r.problems(); len(ends)+len(errs)+len(p) > 0 {
			t.Errorf("%s: disconnected %v, error frames %v, problems %v", r.user, ends, errs, p)
		}
	}
	// The server lets go of the stalled connection (its writer stops).
	pollRoom(t, "the stalled connection to end on the server", func() (bool, string) {
		n, err := roomMetric(in.URL, `beacon_live_connections{transport="ws"}`)
		return err == nil && int(n) == len(readers), fmt.Sprintf("%v WebSocket connections (%v)", n, err)
	})

	// Now the stalled client reads what reached it, then the end of its
	// connection.
	var got []chatFrame
	lastID := welcome.ID
	var end error
	for end == nil {
		f, err := readChatFrame(stalled)
		switch {
		case err != nil:
			end = err
		case f.Type == "message":
			got = append(got, f)
			lastID = f.ID
		case f.Type != "presence" && f.Type != "typing":
			t.Fatalf("the stalled client got %v", f)
		}
	}
	var ce *websocket.CloseError
	// 1013 when the writer saw the overflow between writes; a cut
	// connection (1006, or EOF) when its write to the full socket timed out.
	if errors.As(end, &ce) && ce.Code != 1013 && ce.Code != websocket.CloseAbnormalClosure {
		t.Errorf("the stalled client was closed with %v, want 1013 (try again later) or a cut connection", end)
	} else if ce == nil && !isNetErr(end) {
		t.Errorf("the stalled client's connection ended with %v, want a close or a cut connection", end)
	}
	if len(got) >= total {
		t.Errorf("the stalled client read all %d messages before its connection ended: it was not disconnected", len(got))
	}
	t.Logf("the stalled client read %d messages, then %v", len(got), end)
	stalled.Close()

	// It resumes after the last id it read, is replayed the rest, then
	// welcomed.
	ctx, cancel := context.WithTimeout(context.Background(), roomWait)
	defer cancel()
	conn, resp, err := dialRoom(ctx, nil, in.Addr, room, "stalled", lastID, nil)
	if err != nil {
		t.Fatalf("resume: %v (%s)", err, statusOf(resp))
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	for {
		f, err := readChatFrame(conn)
		if err != nil {
			t.Fatalf("resume after %s, with %d messages: %v", lastID, len(got), err)
		}
		if f.Type == "welcome" {
			if head := readers[0].messages()[total-1].ID; f.Resynced || f.ID != head {
				t.Errorf("welcome %+v after resuming, want id %s and no resync", f, head)
			}
			break
		}
		if f.Type == "message" {
			got = append(got, f)
		}
	}
	if err := sameMessages(got, want); err != nil {
		t.Errorf("the stalled client's messages before and after resuming: %v", err)
	}
}

// TestRoomAnswersPings: the socket's writer, not its reader, answers pings
// (a batch is written straight to the socket, so only one goroutine may
// write). A program that keeps its connection alive with pings gets pongs
// with the same payload, and a message sent after still arrives.
func TestRoomAnswersPings(t *testing.T) {
	in := start(t, "", "")
	conn, resp, err := dialRoom(t.Context(), nil, in.Addr, "pings", "pinger", "", nil)
	if err != nil {
		t.Fatalf("connect: %v (%s)", err, statusOf(resp))
	}
	defer conn.Close()
	pongs := make(chan string, 4)
	conn.SetPongHandler(func(data string) error { pongs <- data; return nil })
	got := make(chan string, 64)
	go func() {
		defer close(got)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			got <- string(data)
		}
	}()
	for _, payload := range []string{"one", "two"} {
		if err := conn.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(roomWait)); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-pongs:
			if p != payload {
				t.Fatalf("pong %q, want %q", p, payload)
			}
		case <-time.After(roomWait):
			t.Fatalf("no pong for ping %q within %v", payload, roomWait)
		}
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"chat","content":"after the pings"}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(roomWait)
	for {
		select {
		case m, ok := <-got:
			if !ok {
				t.Fatal("the connection ended before the message came back")
			}
			if strings.Contains(m, `"after the pings"`) {
				return
			}
		case <-deadline:
			t.Fatalf("the message did not come back within %v", roomWait)
		}
	}
}
