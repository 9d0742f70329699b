package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

// TestHugeFormRefusedUnread: a 40 MB form posted to /login without a CSRF
// token is answered 413 without being read: the server's allocations do
// not grow by anything like the body's size. Before the limit, the form
// parser behind the CSRF check read 10 MB of it into memory (and 8 such
// requests took the process from 32 to 933 MB).
func TestHugeFormRefusedUnread(t *testing.T) {
	in := start(t, "", "")
	conn, err := net.Dial("tcp", in.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) //nolint:errcheck // a safety net, not a timing
	const size = 40 << 20

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", in.Addr, size)
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		copy(chunk, "name=")
		for sent.Load() < size {
			n, err := conn.Write(chunk[:min(len(chunk), size-int(sent.Load()))])
			sent.Add(int64(n))
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a 40 MB form: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "64 KiB") {
		t.Fatalf("a 40 MB form: %d %s; want 413 naming the 64 KiB limit", resp.StatusCode, body)
	}
	// The server closes the connection rather than read the rest: the
	// client's writes fail.
	if err := <-wrote; err == nil {
		t.Fatalf("the server read all %d bytes of a refused body", size)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("refusing the form allocated %d KiB (%d KiB of the body were sent); want far less than the body", grew>>10, sent.Load()>>10)
	}
	t.Logf("sent %d KiB before the server closed; allocated %d KiB", sent.Load()>>10, (after.TotalAlloc-before.TotalAlloc)>>10)
}

// TestProxyHeaderAllLines: behind a proxy that appends its own
// X-Forwarded-For line, a client that sends a new address of its own every
// time still meets its API limit: its key is the proxy's entry, not the
// first line. Before, Header.Get read only the client's line.
func TestProxyHeaderAllLines(t *testing.T) {
	in := start(t, "", "", "--proxy-header", "X-Forwarded-For", "--api-rate", "0.01", "--api-burst", "2")
	var codes []int
	for i := range 3 {
		req, err := http.NewRequest("POST", in.URL+"/api/activity", strings.NewReader(`{"text":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Add("X-Forwarded-For", fmt.Sprintf("6.6.6.%d", i)) // what the client claims
		req.Header.Add("X-Forwarded-For", "203.0.113.7")              // what the proxy saw
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[201 201 429]" {
		t.Fatalf("statuses %v: want the third request from 203.0.113.7 refused whatever the client claims", codes)
	}
}

// TestMetricsListener: with --metrics-addr, /metrics and /healthz are
// served on that listener and not on the main one.
func TestMetricsListener(t *testing.T) {
	in := start(t, "", "", "--metrics-addr", "127.0.0.1:0")
	if in.MetricsURL == "" {
		t.Fatal("beacon did not say where its metrics listener is")
	}
	for _, path := range []string{"/metrics", "/healthz"} {
		if body, status := getBody(t, in.URL+path); status != http.StatusNotFound {
			t.Errorf("main listener GET %s: %d, want 404: %.200s", path, status, body)
		}
	}
	if body, status := getBody(t, in.MetricsURL+"/metrics"); status != http.StatusOK || !strings.Contains(body, "beacon_") {
		t.Errorf("metrics listener GET /metrics: %d %.200s", status, body)
	}
	if body, status := getBody(t, in.MetricsURL+"/healthz"); status != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("metrics listener GET /healthz: %d %s", status, body)
	}
	if body, status := getBody(t, in.MetricsURL+"/"); status != http.StatusNotFound {
		t.Errorf("metrics listener GET /: %d, want 404: %.200s", status, body)
	}
}

// getBody GETs url and returns its body and status.
func getBody(t testing.TB, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body), resp.StatusCode
}

// dribble opens a connection to addr, sends head, then one byte every
// interval for as long as the server takes them, and returns what the
// server answered before it closed the connection. It fails the test if
// the server has not closed it after a minute (a safety net: the server's
// read timeout in these tests is a fraction of a second).
func dribble(t *testing.T, addr, head string, every time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) //nolint:errcheck // the safety net
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		tick := time.NewTicker(every) // the client's pace, not a synchronisation
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := conn.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	defer func() { close(stop); <-wrote }()
	answer, err := io.ReadAll(conn) // until the server closes the connection
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server still held a dribbling connection after a minute (it answered %q)", answer)
	}
	return string(answer)
}

// TestReadTimeout: a client that dribbles its headers or its body a byte at
// a time is cut off at --read-timeout, while streams and sockets opened
// before it live on past it.
func TestReadTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	in := startEmbed(t, "--read-timeout", timeout.String())

	// Streams of every kind, open before the dribblers start.
	live := openStream(t, liveURL(in.URL, views.TopicActivity), "")
	tok := url.QueryEscape(sign(t, in, widget.Claims{Widget: widget.Activity, Origins: []string{"https://example.com"}}))
	embedded := openStream(t, in.URL+"/embed/live?token="+tok, "")
	streamed, err := streamClient(t).Get(in.URL + "/stream/activity?token=" + tok)
	if err != nil || streamed.StatusCode != http.StatusOK {
		t.Fatalf("GET /stream/activity: %v %v", streamed, err)
	}
	defer streamed.Body.Close()
	var streamedSeen strings.Builder
	streamedBody := bufio.NewReader(streamed.Body)
	chat := newChatClient(t, in.Addr, "lobby", "ann", false)
	defer chat.close()

	for round := range 2 {
		body := dribble(t, in.Addr, "POST /api/activity HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testToken+
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\ntext=", 10*time.Millisecond)
		if !strings.HasPrefix(body, "HTTP/1.1 408") || !strings.Contains(body, "not sent in time") {
			t.Fatalf("round %d: a dribbled body was answered %q; want 408 and the connection closed", round, body)
		}
		if head := dribble(t, in.Addr, "GET / HTTP/1.1\r\nX-Slow: ", 10*time.Millisecond); strings.Contains(head, "200 OK") {
			t.Fatalf("round %d: dribbled headers were answered %q", round, head)
		}

		// Each dribbler was cut off one read timeout after it started, so
		// the streams are older than that: they still carry news.
		text := fmt.Sprintf("after the read timeout, round %d", round)
		if _, err := postActivity(http.DefaultClient, in.URL, text); err != nil {
			t.Fatal(err)
		}
		for _, st := range []*sseStream{live, embedded} {
			readUntil(t, st, func(b sseBlock) bool { return strings.Contains(b.Data, text) })
		}
		readStreamUntil(t, streamedBody, &streamedSeen, text)
		if err := chat.say(text); err != nil {
			t.Fatalf("round %d: the room socket: %v", round, err)
		}
		chat.waitFor(t, "the room socket's own message, "+text, func(c *chatClient) bool { return c.seen[text] > 0 })
	}
}

// TestConnsPerAddress: one address holds at most --conns-per-address
// connections, streams and sockets included; the next is answered 429 with
// the reason, and a connection is admitted again once one closes.
func TestConnsPerAddress(t *testing.T) {
	in := start(t, "", "", "--conns-per-address", "3")
	a := openStream(t, liveURL(in.URL, views.TopicActivity), "")
	openStream(t, liveURL(in.URL, views.TopicMetrics), "")
	ws, _, err := dialRoom(t.Context(), nil, in.Addr, "lobby", "ann", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	try := func() (int, string) {
		c := streamClient(t) // a new connection for every request
		resp, err := c.Get(in.URL + "/rooms/lobby")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if status, body := try(); status != http.StatusTooManyRequests || !strings.Contains(body, "too many connections from your address") {
		t.Fatalf("a fourth connection: %d %.300s; want 429 saying why", status, body)
	}
	ws.Close()
	a.Close()
	waitFor(t, 10*time.Second, "a connection admitted after two closed", func() (bool, string) {
		status, body := try()
		return status == http.StatusOK, fmt.Sprintf("%d %.200s", status, body)
	})
}

// TestConnsPerAddressBehindProxy: behind a trusted proxy every connection
// comes from the proxy's address, so the per-address cap is off unless set
// explicitly (then it caps the proxy as a whole).
func TestConnsPerAddressBehindProxy(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want int
	}{
		{nil, nil, defaultConnsPerAddress},
		{[]string{"--proxy-header", "X-Forwarded-For"}, nil, 0},
		{nil, map[string]string{"BEACON_PROXY_HEADER": "X-Forwarded-For"}, 0},
		{[]string{"--proxy-header", "X-Forwarded-For", "--conns-per-address", "5000"}, nil, 5000},
		{[]string{"--proxy-header", "X-Forwarded-For"}, map[string]string{"BEACON_CONNS_PER_ADDRESS": "700"}, 700},
	} {
		c, err := newConfig(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
		if err != nil || c.ConnsPerAddress != tt.want {
			t.Errorf("%v %v: conns-per-address %d, %v; want %d", tt.args, tt.env, c.ConnsPerAddress, err, tt.want)
		}
	}
}

// TestHugeTopicListRefused: a 552 KB /live?topics= list (which cost ~15 s of
// CPU before) is refused by the header limit before any handler runs, and
// one under that limit but over the list's own by the handler, naming the
// field.
func TestHugeTopicListRefused(t *testing.T) {
	in := start(t, "", "")
	parts := make([]string, 0, 40_000)
	for i := range cap(parts) {
		parts = append(parts, fmt.Sprintf("room:r%d", i))
	}
	huge := strings.Join(parts, ",")
	if body, status := getBody(t, in.URL+"/live?topics="+huge); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d KB topic list: %d %.200s; want 431", len(huge)>>10, status, body)
	}
	long := strings.Join(parts[:5000], ",")
	if body, status := getBody(t, in.URL+"/live?topics="+long); status != http.StatusBadRequest || !strings.Contains(body, "topics") {
		t.Errorf("a %d KB topic list: %d %.200s; want 400 naming topics", len(long)>>10, status, body)
	}
}

// TestMaxRooms: past --max-rooms, a socket that would open one more room
// is refused with the reason (a room already open still takes people),
// and the dashboard lists the busiest rooms and counts the rest.
func TestMaxRooms(t *testing.T) {
	const open = views.RoomsShown + 2
	in := start(t, "", "", "--max-rooms", fmt.Sprint(open))
	join := func(room, user string) *websocket.Conn {
		t.Helper()
		conn, _, err := dialRoom(t.Context(), nil, in.Addr, room, user, "", nil)
		if err != nil {
			t.Fatalf("join %s as %s: %v", room, user, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	for i := range open {
		conn := join(fmt.Sprintf("room-%02d", i), "ann")
		if f, err := readChatFrame(conn); err != nil || f.Type != "welcome" {
			t.Fatalf("room-%02d: %+v %v, want a welcome", i, f, err)
		}
	}
	join("room-07", "bob") // the busiest

	refused := join("one-too-many", "ann")
	f, err := readChatFrame(refused)
	if err != nil || f.Type != "error" || !strings.Contains(f.Error, "as many chat rooms open as it holds") {
		t.Fatalf("a room past --max-rooms: %+v %v; want an error frame saying why", f, err)
	}
	var ce *websocket.CloseError
	if _, _, err := refused.ReadMessage(); !errors.As(err, &ce) || !strings.Contains(ce.Text, "chat rooms open") {
		t.Fatalf("a room past --max-rooms closed with %v; want a close frame with the reason", err)
	}

	waitFor(t, 10*time.Second, "the dashboard's Rooms panel", func() (bool, string) {
		page, status := getBody(t, in.URL+"/")
		_, panel, _ := strings.Cut(page, `id="rooms-panel"`)
		panel, _, _ = strings.Cut(panel, "</section>")
		first := strings.Index(panel, "room-07")
		ok := status == 200 && strings.Count(panel, "<li>") == views.RoomsShown &&
			strings.Contains(panel, "and 2 more") && first >= 0 && first < strings.Index(panel, "room-00")
		return ok, panel
	})
}

// TestCountedStreamWritesWithoutWaiting: a stream held under the
// per-address cap (its connection counted by the listener) is still
// written by the writer pool straight to its socket. The counting wrapper
// once hid the socket from live, so every write to every held stream went
// to a goroutine of its own (a slow write) and departures were noticed by
// writes only.
func TestCountedStreamWritesWithoutWaiting(t *testing.T) {
	in := start(t, "", "", "--conns-per-address", "16")
	c := &http.Client{}
	defer c.CloseIdleConnections()
	st, err := dialSSE(t.Context(), c, in.URL+"/live?topics=activity", "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if b, err := st.Next(); err != nil || !isPositionBlock(b) {
		t.Fatalf("the stream began with %+v, %v; want its position", b, err)
	}
	pos, err := postActivity(c, in.URL, "counted")
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := st.Next()
		if err != nil {
			t.Fatalf("the stream ended before event %d: %v", pos, err)
		}
		if strings.Contains(b.Data, "counted") {
			break
		}
	}
	if n, err := metricValue(c, in.URL, "beacon_live_slow_writes_total"); err != nil || n != 0 {
		t.Fatalf("slow writes to an idle loopback stream: %v (%v), want 0: the pool could not write to the counted socket", n, err)
	}
}
