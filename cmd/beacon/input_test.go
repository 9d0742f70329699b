//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	poster := sign(t, widget.Claims{Widget: widget.Room, Room: room, Post: true, Origins: []string{"http://127.0.0.1:1"}})
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
