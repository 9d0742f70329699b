package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/widget"
)

// The chat rate is per account, or per address for guests, across every
// connection and the widget form (issue #10, item 12). The rate here is one
// message in 1,000 s, so the burst is all there is for the test's duration.

// burstFrom opens one room socket per header set (a browser's cookies, or
// a guest's name in the URL), sends perSocket messages on each at once, and
// returns how many were accepted in all.
func burstFrom(t *testing.T, addr, room string, users []string, headers []http.Header, perSocket int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), roomWait)
	defer cancel()
	conns := make([]*websocket.Conn, len(headers))
	for i, h := range headers {
		conn, resp, err := dialRoom(ctx, nil, addr, room, users[i], "", h)
		if err != nil {
			t.Fatalf("socket %d: %v (%s)", i, err, statusOf(resp))
		}
		defer conn.Close()
		if f, err := readChatFrame(conn); err != nil || f.Type != "welcome" {
			t.Fatalf("socket %d: first frame %v %v, want the welcome", i, f, err)
		}
		conns[i] = conn
	}
	accepted := make([]int, len(conns))
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Go(func() {
			prefix := fmt.Sprintf("socket %d says ", i)
			for j := range perSocket {
				b, _ := json.Marshal(map[string]string{"type": "chat", "content": fmt.Sprintf("%s%d", prefix, j)})
				if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
					t.Error(err)
					return
				}
			}
			// Each message is answered on its own socket: by its copy from
			// the room when it was stored, or by an error frame.
			for answered := 0; answered < perSocket; {
				f, err := readChatFrame(conn)
				if err != nil {
					t.Errorf("socket %d after %d answers: %v", i, answered, err)
					return
				}
				switch {
				case f.Type == "message" && strings.HasPrefix(f.Content, prefix):
					accepted[i]++
					answered++
				case f.Type == "error":
					if !strings.Contains(f.Error, "too fast") {
						t.Errorf("socket %d: error %v, want too fast", i, f)
					}
					answered++
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range accepted {
		total += n
	}
	t.Logf("accepted per socket: %v", accepted)
	return total
}

func TestChatRatePerAccount(t *testing.T) {
	const burst, sockets = 5, 8
	in := startEmbed(t, "--message-rate", "0.001", "--message-burst", fmt.Sprint(burst))
	ann := signUp(t, in.URL, "ann")
	headers := make([]http.Header, sockets)
	users := make([]string, sockets)
	for i := range headers {
		headers[i] = http.Header{"Cookie": {cookieHeader(t, ann.C, in.URL)}}
	}
	if n := burstFrom(t, in.Addr, "rate", users, headers, burst); n != burst {
		t.Errorf("%d sockets of one account sent %d messages at once, want the burst of %d", sockets, n, burst)
	}
	// Another account has its own.
	bob := signUp(t, in.URL, "bob")
	if n := burstFrom(t, in.Addr, "rate", []string{""}, []http.Header{{"Cookie": {cookieHeader(t, bob.C, in.URL)}}}, burst); n != burst {
		t.Errorf("another account sent %d messages, want its own burst of %d", n, burst)
	}
}

func TestChatRatePerGuestAddress(t *testing.T) {
	const burst, sockets = 5, 8
	in := startEmbed(t, "--message-rate", "0.001", "--message-burst", fmt.Sprint(burst))
	headers := make([]http.Header, sockets)
	users := make([]string, sockets)
	for i := range headers {
		users[i] = fmt.Sprintf("guest%d", i)
	}
	if n := burstFrom(t, in.Addr, "rate", users, headers, burst); n != burst {
		t.Errorf("%d guests at one address sent %d messages at once, want the burst of %d", sockets, n, burst)
	}
	// The widget's form counts against the same address.
	poster := sign(t, in, widget.Claims{Widget: widget.Room, Room: "rate", Post: true, Origins: []string{"http://127.0.0.1:1"}})
	r, _ := postForm(t, streamClient(t), in.URL+"/embed/rooms/rate/messages", url.Values{"token": {poster}, "name": {"Ann"}, "content": {"one more"}})
	if r.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a widget post from the same address after the burst: %s, want 429", r.Status)
	}
}
