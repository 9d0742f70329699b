//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/widget"
)

// Tests of what users may type: chat content over both kinds of socket and
// the widget's form.

// readUntilType reads a JSON-mode room socket until a frame of type kind.
func readUntilType(t *testing.T, conn *websocket.Conn, kind string) chatFrame {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	for {
		f, err := readChatFrame(conn)
		if err != nil {
			t.Fatalf("waiting for a %q frame: %v", kind, err)
		}
		if f.Type == kind {
			return f
		}
		if kind == "error" && f.Type == "message" {
			t.Fatalf("waiting for an error frame, the server sent %v: it accepted the message", f)
		}
	}
}

// pageFrame is one message of a room socket in page (HTML) mode.
type pageFrame struct {
	ID      string `json:"id"`
	Content string `json:"content"`
}

// readPageUntil reads a page-mode room socket until a message whose content
// holds want.
func readPageUntil(t *testing.T, conn *websocket.Conn, want string) pageFrame {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for a message with %q: %v", want, err)
		}
		var f pageFrame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("page-mode message %q: %v", data, err)
		}
		if strings.Contains(f.Content, want) {
			return f
		}
	}
}

// TestChatRefusesControlCharacters: chat content keeps newlines and tabs
// (CRLF becomes LF) and refuses every other control character with an
// error naming the field, over a program's socket, a page's socket and a
// widget's form, and stores nothing.
func TestChatRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	in := startEmbed(t)
	const room = "controls"
	bad := map[string]string{
		"NUL": "a\x00b", "ESC": "\x1b[2Jwiped", "BEL": "ding\a", "DEL": "a\x7fb",
		"NEL": "a\u0085b", "bare CR": "a\rb", "C1 CSI": "a\u009bb",
	}
	ctx, cancel := context.WithTimeout(context.Background(), roomWait)
	defer cancel()

	conn, resp, err := dialRoom(ctx, nil, in.Addr, room, "prog", "", nil)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, statusOf(resp))
	}
	defer conn.Close()
	readUntilType(t, conn, "welcome")
	for name, content := range bad {
		b, _ := json.Marshal(map[string]string{"type": "chat", "content": content})
		if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
		if f := readUntilType(t, conn, "error"); f.Field != "content" || !strings.Contains(f.Error, "control character") {
			t.Errorf("JSON socket, %s: error frame %+v, want one about the content's control character", name, f)
		}
	}
	b, _ := json.Marshal(map[string]string{"type": "chat", "content": "one\ttwo\r\nthree"})
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
	if f := readUntilType(t, conn, "message"); f.Content != "one\ttwo\nthree" {
		t.Errorf("a message with a tab and CRLF came back as %q, want tab kept and CRLF as LF", f.Content)
	}

	page, resp, err := (&websocket.Dialer{}).DialContext(ctx, roomSocketURL(in.Addr, room, "page", ""), nil)
	if err != nil {
		t.Fatalf("dial page mode: %v (%s)", err, statusOf(resp))
	}
	defer page.Close()
	for name, content := range bad {
		b, _ := json.Marshal(map[string]any{"type": "chat", "content": content, "headers": map[string]string{"HX-Request": "true"}})
		if err := page.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
		f := readPageUntil(t, page, "chat-error")
		if !strings.Contains(f.Content, "content ") || !strings.Contains(f.Content, "control character") {
			t.Errorf("page socket, %s: %s, want the form's error naming the content's control character", name, f.Content)
		}
	}

	c := streamClient(t)
	poster := sign(t, in, widget.Claims{Widget: widget.Room, Room: room, Post: true, Origins: []string{"http://127.0.0.1:1"}})
	for name, content := range bad {
		r, body := postForm(t, c, in.URL+"/embed/rooms/"+room+"/messages", url.Values{"token": {poster}, "name": {"Ann"}, "content": {content}})
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "The message") || !strings.Contains(body, "control character") {
			t.Errorf("widget form, %s: %d %.300s, want 400 saying the message holds a control character", name, r.StatusCode, body)
		}
	}

	history := roomHistory(t, in.URL, room, 50)
	if len(history) != 1 || history[0].Content != "one\ttwo\nthree" {
		t.Errorf("history %v, want only the good message", history)
	}
}

// socketFrame is any frame of a JSON-mode room socket, history included.
type socketFrame struct {
	chatFrame
	Messages []chatFrame `json:"messages"`
}

// readSocketFrame reads one frame of a JSON-mode room socket.
func readSocketFrame(t *testing.T, conn *websocket.Conn) socketFrame {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var f socketFrame
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("the room sent %q: %v", data, err)
	}
	return f
}

// TestJSONResyncSendsHistory: a program that resumes from an id the log
// cannot replay (another database's epoch, or older than retention) is
// welcomed with "resynced": true and then sent one "history" frame with the
// room's recent messages, as a page gets its list re-rendered; then new
// messages arrive as "message" frames, none twice.
func TestJSONResyncSendsHistory(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--retention", "5")
	const room = "again"
	ctx, cancel := context.WithTimeout(context.Background(), roomWait)
	defer cancel()
	conn, resp, err := dialRoom(ctx, nil, in.Addr, room, "prog", "", nil)
	if err != nil {
		t.Fatalf("dial: %v (%s)", err, statusOf(resp))
	}
	defer conn.Close()
	welcome := readUntilType(t, conn, "welcome")
	epoch, _, ok := splitChatID(welcome.ID)
	if !ok {
		t.Fatalf("welcome id %q", welcome.ID)
	}
	say := func(content string) chatFrame {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"type": "chat", "content": content})
		if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
		return readUntilType(t, conn, "message")
	}
	for i := range 12 {
		say(fmt.Sprintf("message %d", i))
	}
	for _, tc := range []struct{ name, after string }{
		{"another epoch", "0123456789abcdef-3"},
		{"beyond retention", epoch + "-1"},
	} {
		history := roomHistory(t, in.URL, room, 50)
		back, resp, err := dialRoom(ctx, nil, in.Addr, room, "back", tc.after, nil)
		if err != nil {
			t.Fatalf("%s: dial: %v (%s)", tc.name, err, statusOf(resp))
		}
		w := readSocketFrame(t, back)
		if w.Type != "welcome" || !w.Resynced {
			t.Fatalf("%s: first frame %+v, want a welcome with resynced", tc.name, w)
		}
		h := readSocketFrame(t, back)
		if h.Type != "history" || h.Room != room {
			t.Fatalf("%s: frame after the welcome %+v, want the room's history", tc.name, h)
		}
		if err := sameMessages(h.Messages, history); err != nil {
			t.Errorf("%s: history frame: %v", tc.name, err)
		}
		for _, m := range h.Messages {
			if _, pos, ok := splitChatID(m.ID); !ok || pos != m.Position {
				t.Errorf("%s: history message %v has id %q, want one to resume from", tc.name, m, m.ID)
			}
		}
		sent := say("after the " + tc.name)
		for {
			f := readSocketFrame(t, back)
			if f.Type == "history" || f.Type == "welcome" {
				t.Fatalf("%s: a second %s frame", tc.name, f.Type)
			}
			if f.Type == "message" {
				if f.Position != sent.Position || f.Content != sent.Content {
					t.Errorf("%s: after the history, message %v, want %v", tc.name, f, sent)
				}
				break
			}
		}
		back.Close()
	}
}

// hostTransport sends every request with Host set to host, as a browser
// does that reached the server under that name.
type hostTransport struct {
	host string
	rt   http.RoundTripper
}

func (h hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return h.rt.RoundTrip(r)
}

// hostClient is a browser with cookies that names host in every request.
func hostClient(t *testing.T, host string) *http.Client {
	c := newJar(t)
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	c.Transport = hostTransport{host: host, rt: tr}
	return c
}

// dialWithOrigin opens a page-mode room socket with the given Origin (none
// when "") and Host (the address's when ""), and returns the status and the
// body of a refusal.
func dialWithOrigin(t *testing.T, in *instance, origin, host string, extra http.Header) (int, string) {
	t.Helper()
	h := http.Header{}
	for k, v := range extra {
		h[k] = v
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	if host != "" {
		h.Set("Host", host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), roomWait)
	defer cancel()
	conn, resp, err := (&websocket.Dialer{}).DialContext(ctx, roomSocketURL(in.Addr, "lobby", "ann", ""), h)
	if err == nil {
		conn.Close()
		return http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("dial with Origin %q, Host %q: %v", origin, host, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}

// TestWebSocketOriginMustBeTheServers: without --public-url a browser's
// socket must come from the server's own origin, scheme, host and port
// alike (the scheme from TLS, or from the trusted proxy's
// X-Forwarded-Proto); a refusal is a 403 whose body says what came and what
// was expected. Programs send no Origin and are let in.
func TestWebSocketOriginMustBeTheServers(t *testing.T) {
	t.Parallel()
	in := start(t, "", "")
	own := "http://" + in.Addr
	for _, tc := range []struct {
		name, origin string
		want         int
	}{
		{"its own origin", own, http.StatusSwitchingProtocols},
		{"no origin (a program)", "", http.StatusSwitchingProtocols},
		{"a foreign scheme", "https://" + in.Addr, http.StatusForbidden},
		{"a foreign host", "http://evil.example:" + strings.Split(in.Addr, ":")[1], http.StatusForbidden},
		{"a foreign port", "http://127.0.0.1:1", http.StatusForbidden},
		{"null", "null", http.StatusForbidden},
	} {
		status, body := dialWithOrigin(t, in, tc.origin, "", nil)
		if status != tc.want {
			t.Errorf("%s (Origin %q): %d, want %d", tc.name, tc.origin, status, tc.want)
		}
		if tc.want == http.StatusForbidden && (!strings.Contains(body, tc.origin) || !strings.Contains(body, own)) {
			t.Errorf("%s: the refusal says %q; want it to name %q and %q", tc.name, body, tc.origin, own)
		}
	}

	// Behind the trusted proxy the page was served over https.
	proxied := start(t, "", "", "--proxy-header", "X-Forwarded-For")
	tls := http.Header{"X-Forwarded-For": {"203.0.113.9"}, "X-Forwarded-Proto": {"https"}}
	if status, body := dialWithOrigin(t, proxied, "https://"+proxied.Addr, "", tls); status != http.StatusSwitchingProtocols {
		t.Errorf("behind the proxy, https origin of an https page: %d %s", status, body)
	}
	if status, _ := dialWithOrigin(t, proxied, "http://"+proxied.Addr, "", tls); status != http.StatusForbidden {
		t.Errorf("behind the proxy, http origin of an https page: %d, want 403", status)
	}
}

// TestPublicURL: with --public-url, every request must name its host (a
// page reached under another name, as after DNS rebinding, is refused with
// a 403 naming both), except the health and metrics probes under an IP
// address; a socket's Origin must be the public URL exactly; and embed
// snippets point at it, from the server and from `beacon embed create`.
func TestPublicURL(t *testing.T) {
	t.Parallel()
	const public = "https://beacon.example.com"
	in := startEmbed(t, "--public-url", public+"/")
	port := strings.Split(in.Addr, ":")[1]

	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"beacon.example.com", "/", http.StatusOK},
		{"BEACON.example.com:443", "/rooms/lobby", http.StatusOK},
		{in.Addr, "/", http.StatusForbidden},
		{"rebound.example:" + port, "/", http.StatusForbidden},
		{"rebound.example:" + port, "/api/rooms/lobby/messages", http.StatusForbidden},
		{"beacon.example.com:8443", "/", http.StatusForbidden},
		{in.Addr, "/healthz", http.StatusOK},
		{"localhost:" + port, "/metrics", http.StatusOK},
		{"rebound.example:" + port, "/healthz", http.StatusForbidden},
		{"rebound.example:" + port, "/metrics", http.StatusForbidden},
	} {
		resp, body := fetchPage(t, hostClient(t, tc.host), in.URL+tc.path)
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s with Host %s: %d, want %d: %.200s", tc.path, tc.host, resp.StatusCode, tc.want, body)
		}
		if tc.want == http.StatusForbidden && (!strings.Contains(body, tc.host) || !strings.Contains(body, "beacon.example.com")) {
			t.Errorf("GET %s with Host %s: the refusal says %.300q; want it to name both hosts", tc.path, tc.host, body)
		}
	}

	for _, tc := range []struct {
		origin, host string
		want         int
	}{
		{public, "beacon.example.com", http.StatusSwitchingProtocols},
		{"", "beacon.example.com", http.StatusSwitchingProtocols},
		{"http://beacon.example.com", "beacon.example.com", http.StatusForbidden},
		{"https://beacon.example.com:8443", "beacon.example.com", http.StatusForbidden},
		{"https://evil.example", "beacon.example.com", http.StatusForbidden},
		{"http://rebound.example:" + port, "rebound.example:" + port, http.StatusForbidden},
	} {
		status, body := dialWithOrigin(t, in, tc.origin, tc.host, nil)
		if status != tc.want {
			t.Errorf("socket with Origin %q, Host %q: %d, want %d: %.200s", tc.origin, tc.host, status, tc.want, body)
		}
		if tc.want == http.StatusForbidden && !strings.Contains(body, public) && !strings.Contains(body, "beacon.example.com") {
			t.Errorf("socket with Origin %q: the refusal says %.300q; want it to name what is expected", tc.origin, body)
		}
	}

	// The Embed button's snippets use the public URL, though the request
	// came over plain HTTP to a loopback address. Making a widget needs an
	// account.
	c := hostClient(t, "beacon.example.com")
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	signup := url.Values{"_csrf": {csrfOf(t, c, in.URL+"/signup")}, "name": {"ann"}, "password": {"password-of-ann"}}
	if r, page := postForm(t, c, in.URL+"/signup", signup); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign up through the public host: %d %.300s", r.StatusCode, page)
	}
	form := url.Values{"widget": {"chart"}, "ttl": {"24h"}, "_csrf": {csrfOf(t, c, in.URL+"/rooms/lobby")}}
	post, _ := postForm(t, c, in.URL+"/embed/tokens", form)
	if r, page := followRedirect(t, c, in.URL, post); r.StatusCode != http.StatusOK ||
		!strings.Contains(page, public+"/embed/chart?token=") || !strings.Contains(page, public+"/stream/chart?token=") {
		t.Errorf("the Embed form: %d, want snippets at %s:\n%.600s", r.StatusCode, public, page)
	}

	var out, errOut strings.Builder
	env := map[string]string{"BEACON_PUBLIC_URL": public}
	if err := run(t.Context(), []string{"embed", "create", "--widget", "metrics", "--origin", "http://127.0.0.1:9", "--db", in.DB},
		func(k string) string { return env[k] }, &out, &errOut); err != nil {
		t.Fatalf("embed create: %v: %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `src="`+public+`/embed/metrics?token=`) {
		t.Errorf("beacon embed create with BEACON_PUBLIC_URL printed:\n%s", out.String())
	}
}
