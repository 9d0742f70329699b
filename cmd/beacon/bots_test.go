package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Tests of bots: programs that chat as an account with a token of scope
// chat, over HTTP and over the JSON socket.

// apiPostForm posts a form to an API route with a bearer token and returns
// the status and body.
func apiPostForm(t testing.TB, base, path, token string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tokenID returns the id of the token named name, as beacon token list
// shows it.
func tokenID(t testing.TB, dbPath, name string) string {
	t.Helper()
	out, _ := runCLI(t, "token", "list", "--db", dbPath)
	m := regexp.MustCompile(`(?m)^(\d+)\s+\S+\s+` + regexp.QuoteMeta(name) + `\s`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token %q in:\n%s", name, out)
	}
	return m[1]
}

// TestChatTokenPostsOverHTTP: a member makes a token of scope chat for
// itself and a program posts with it, as that member, with the checks and
// the per-account budget of the socket.
func TestChatTokenPostsOverHTTP(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--dashboard", "members", "--guests=false", "--message-rate", "0.001", "--message-burst", "3")
	ann := signUp(t, in.URL, "ann") // the admin
	bob := signUp(t, in.URL, "bob") // a member
	bobTok := createToken(t, in.URL, bob, "chat") // a member may make one
	annNotify := createToken(t, in.URL, ann, "notify")

	// Someone in the room sees the bot's message arrive.
	watcher, _, err := dialRoom(t.Context(), nil, in.Addr, "ops", "", "", http.Header{"Cookie": {cookieHeader(t, ann.C, in.URL)}})
	if err != nil {
		t.Fatalf("ann's socket: %v", err)
	}
	defer watcher.Close()
	readUntilType(t, watcher, "welcome")

	status, body := apiPost(t, in.URL, "/api/rooms/ops/messages", bobTok, map[string]string{"content": "deploy finished\n\tall green"})
	var m chatFrame
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &m) != nil || m.User != "bob" || m.Room != "ops" ||
		m.Content != "deploy finished\n\tall green" || m.Position == 0 || m.ID == "" {
		t.Fatalf("POST /api/rooms/ops/messages as bob: %d %s; want 201 and the message, by bob", status, body)
	}
	var withID struct {
		UserID int64 `json:"user_id"`
	}
	json.Unmarshal([]byte(body), &withID) //nolint:errcheck // checked above
	if withID.UserID != bob.ID {
		t.Errorf("the message's user_id is %d, want bob's %d", withID.UserID, bob.ID)
	}
	if got := readUntilType(t, watcher, "message"); got.Position != m.Position || got.User != "bob" {
		t.Errorf("the room got %v, want the bot's message %v", got, m)
	}
	if status, body := apiPostForm(t, in.URL, "/api/rooms/ops/messages", bobTok, url.Values{"content": {"as a form"}}); status != http.StatusCreated ||
		!strings.Contains(body, `"as a form"`) {
		t.Errorf("a form post: %d %s", status, body)
	}

	// What the socket refuses, this refuses, naming the field.
	for _, tc := range []struct {
		name, path, token string
		body              any
		status            int
		says              string
	}{
		{"empty", "/api/rooms/ops/messages", bobTok, map[string]string{"content": "  "}, 400, "content"},
		{"no content", "/api/rooms/ops/messages", bobTok, map[string]string{}, 400, "content"},
		{"another field", "/api/rooms/ops/messages", bobTok, map[string]string{"text": "hi"}, 400, `"field":"text"`},
		{"a control character", "/api/rooms/ops/messages", bobTok, map[string]string{"content": "a\x1b[2Jb"}, 400, "control character"},
		{"too long", "/api/rooms/ops/messages", bobTok, map[string]string{"content": strings.Repeat("x", 5000)}, 400, "content"},
		{"a bad room", "/api/rooms/no%20such/messages", bobTok, map[string]string{"content": "hi"}, 400, "room"},
		{"no token", "/api/rooms/ops/messages", "", map[string]string{"content": "hi"}, 401, "chat"},
		{"an unknown token", "/api/rooms/ops/messages", "bcn_nope-nope-nope-nope-nope", map[string]string{"content": "hi"}, 401, "not known"},
		{"another scope", "/api/rooms/ops/messages", annNotify, map[string]string{"content": "hi"}, 403, "chat"},
		{"a server token", "/api/rooms/ops/messages", testToken, map[string]string{"content": "hi"}, 403, "account"},
	} {
		status, body := apiPost(t, in.URL, tc.path, tc.token, tc.body)
		if status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s; want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}

	// The budget is the account's, shared with its sockets: bob's socket
	// takes the last of it, and the next post is refused.
	sock, _, err := dialRoom(t.Context(), nil, in.Addr, "ops", "", "", http.Header{"Cookie": {cookieHeader(t, bob.C, in.URL)}})
	if err != nil {
		t.Fatalf("bob's socket: %v", err)
	}
	defer sock.Close()
	readUntilType(t, sock, "welcome")
	sock.WriteJSON(map[string]string{"type": "chat", "content": "by hand"}) //nolint:errcheck // the read below fails
	readUntilType(t, sock, "message")
	if status, body := apiPost(t, in.URL, "/api/rooms/ops/messages", bobTok, map[string]string{"content": "one too many"}); status != http.StatusTooManyRequests ||
		!strings.Contains(body, "too fast") {
		t.Errorf("past bob's budget: %d %s; want 429", status, body)
	}

	// Revoked on /settings, the token is refused.
	id := tokenID(t, in.DB, "test chat")
	postForm(t, bob.C, in.URL+"/settings/tokens/"+id+"/revoke", url.Values{"_csrf": {bob.CSRF}})
	if status, body := apiPost(t, in.URL, "/api/rooms/ops/messages", bobTok, map[string]string{"content": "hi"}); status != http.StatusUnauthorized {
		t.Errorf("a revoked chat token: %d %s; want 401", status, body)
	}
}

// notificationFrame is a user-topic frame of a JSON socket.
type notificationFrame struct {
	Type         string  `json:"type"`
	ID           string  `json:"id"`
	Position     int64   `json:"position"`
	Unread       int     `json:"unread"`
	Read         []int64 `json:"read"`
	Notification struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	} `json:"notification"`
}

// readRaw reads a JSON socket until a frame of type kind and returns it
// undecoded.
func readRaw(t *testing.T, conn *websocket.Conn, kind string) []byte {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for a %q frame: %v", kind, err)
		}
		var f struct{ Type string }
		if json.Unmarshal(data, &f) == nil && f.Type == kind {
			return data
		}
	}
}

// TestChatTokenOverJSONSocket: a program opens the JSON socket with its
// token instead of a cookie, from anywhere (no browser sends a bearer
// token, so the Origin check, which keeps other sites from riding on a
// visitor's cookies, has nothing to protect); it chats as the token's
// owner and gets the owner's notifications as JSON; revoking the token
// closes the socket.
func TestChatTokenOverJSONSocket(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--dashboard", "members", "--guests=false")
	signUp(t, in.URL, "ann")
	bob := signUp(t, in.URL, "bob")
	bobTok := createToken(t, in.URL, bob, "chat")
	readTok := createToken(t, in.URL, bob, "read")

	dial := func(h http.Header) (*websocket.Conn, int, string) {
		conn, resp, err := dialRoom(t.Context(), nil, in.Addr, "ops", "", "", h)
		if err == nil {
			return conn, http.StatusSwitchingProtocols, ""
		}
		if resp == nil {
			t.Fatalf("dial: %v", err)
		}
		// dialRoom closed the body: read the refusal again.
		return nil, resp.StatusCode, ""
	}
	for _, tc := range []struct {
		name   string
		h      http.Header
		status int
	}{
		{"no credential", http.Header{}, http.StatusUnauthorized},
		{"an unknown token", http.Header{"Authorization": {"Bearer bcn_unknown-unknown-unknown"}}, http.StatusUnauthorized},
		{"a token without chat", http.Header{"Authorization": {"Bearer " + readTok}}, http.StatusForbidden},
		{"a server token (no account to post as)", http.Header{"Authorization": {"Bearer " + testToken}}, http.StatusForbidden},
		{"bob's cookie from a foreign page", http.Header{"Cookie": {cookieHeader(t, bob.C, in.URL)}, "Origin": {"https://evil.example"}}, http.StatusForbidden},
	} {
		if conn, status, _ := dial(tc.h); status != tc.status {
			if conn != nil {
				conn.Close()
			}
			t.Errorf("%s: %d, want %d", tc.name, status, tc.status)
		}
	}

	// With the token, from any origin; a cookie beside it is not read.
	conn, status, _ := dial(http.Header{"Authorization": {"Bearer " + bobTok}, "Origin": {"https://bots.example"}})
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("bob's chat token over the socket: %d, want 101", status)
	}
	defer conn.Close()
	if w := readUntilType(t, conn, "welcome"); w.User != "bob" {
		t.Errorf("welcome %+v, want bob", w)
	}
	conn.WriteJSON(map[string]string{"type": "chat", "content": "hello from a bot"}) //nolint:errcheck // the read below fails
	if m := readUntilType(t, conn, "message"); m.User != "bob" || m.Content != "hello from a bot" {
		t.Errorf("the bot's message came back as %v", m)
	}

	// Notifications, as JSON.
	if status, body := apiPost(t, in.URL, "/api/notifications", testToken, map[string]string{"user": "bob", "title": "Build #481 failed", "body": "3 tests"}); status != http.StatusCreated {
		t.Fatalf("notify bob: %d %s", status, body)
	}
	var n notificationFrame
	if err := json.Unmarshal(readRaw(t, conn, "notification"), &n); err != nil || n.Notification.Title != "Build #481 failed" ||
		n.Notification.Body != "3 tests" || n.Unread != 1 || n.Position == 0 || n.ID == "" {
		t.Errorf("notification frame %+v (%v)", n, err)
	}
	postForm(t, bob.C, in.URL+"/notifications/read", url.Values{"_csrf": {bob.CSRF}})
	var r notificationFrame
	if err := json.Unmarshal(readRaw(t, conn, "read"), &r); err != nil || r.Unread != 0 || len(r.Read) != 1 || r.Read[0] != n.Position {
		t.Errorf("read frame %+v (%v); want position %d read, none unread", r, err, n.Position)
	}

	// A session's JSON socket gets them too.
	cookieSock, _, err := dialRoom(t.Context(), nil, in.Addr, "ops", "", "", http.Header{"Cookie": {cookieHeader(t, bob.C, in.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	defer cookieSock.Close()
	readUntilType(t, cookieSock, "welcome")
	apiPost(t, in.URL, "/api/notifications", testToken, map[string]string{"user": "bob", "title": "second"})
	if err := json.Unmarshal(readRaw(t, cookieSock, "notification"), &n); err != nil || n.Notification.Title != "second" {
		t.Errorf("a session's JSON socket: notification %+v (%v)", n, err)
	}

	// Revoking the token on /settings closes its socket.
	postForm(t, bob.C, in.URL+"/settings/tokens/"+tokenID(t, in.DB, "test chat")+"/revoke", url.Values{"_csrf": {bob.CSRF}})
	conn.SetReadDeadline(time.Now().Add(roomWait)) //nolint:errcheck // a dead socket fails the read
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
				t.Errorf("after revoking its token the socket ended with %v; want a close 1008", err)
			}
			break
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), roomWait)
	defer cancel()
	if _, resp, err := dialRoom(ctx, nil, in.Addr, "ops", "", "", http.Header{"Authorization": {"Bearer " + bobTok}}); err == nil || resp == nil ||
		resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a revoked token opens a socket: %v", err)
	}
}
