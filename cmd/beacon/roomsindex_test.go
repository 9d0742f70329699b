package main

// HTTP tests of the rooms index (issue 11, item 9): GET /rooms lists every
// room with messages or people, with counts, previews and a signed-in
// viewer's unread counts; POST /rooms/:room/read records reads; the index
// and the online list are for members unless --dashboard public or
// --guests, like the rooms.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/views"
)

// ixRoom is a room as the index page shows it.
type ixRoom struct {
	Name, Count, Unread, Author, Preview, In string
}

// indexOf loads /rooms with c and returns its rooms in order, and the page.
func indexOf(t *testing.T, c *http.Client, base string) ([]ixRoom, *goquery.Document) {
	t.Helper()
	body, status := get(t, c, base+"/rooms")
	if status != http.StatusOK {
		t.Fatalf("GET /rooms: %d %.300s", status, body)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []ixRoom
	doc.Find(`ol[aria-label="Rooms"] > li`).Each(func(_ int, li *goquery.Selection) {
		text := func(sel string) string { return strings.Join(strings.Fields(li.Find(sel).First().Text()), " ") }
		out = append(out, ixRoom{Name: text(".room-link"), Count: text(".count"), Unread: text(".unread"),
			Author: text(".preview .author"), Preview: text(".preview .content"), In: text(".in-room")})
	})
	return out, doc
}

// postAs sends content to room over a JSON room socket signed in as a, and
// waits until it is stored.
func postAs(t *testing.T, in *instance, a *account, room, content string) {
	t.Helper()
	conn, _, err := dialRoom(t.Context(), nil, in.Addr, room, "", "", http.Header{"Cookie": {cookieHeader(t, a.C, in.URL)}})
	if err != nil {
		t.Fatalf("%s: dial %s: %v", a.Name, room, err)
	}
	defer conn.Close()
	msg, _ := json.Marshal(map[string]string{"type": "chat", "content": content})
	if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck // the read fails then
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("%s: waiting for %q in %s: %v", a.Name, content, room, err)
		}
		var f struct{ Type, User, Content, Error string }
		json.Unmarshal(data, &f) //nolint:errcheck // other frames are skipped
		if f.Type == "error" {
			t.Fatalf("%s: posting %q: %s", a.Name, content, data)
		}
		if f.Type == "message" && f.User == a.Name && f.Content == content {
			return
		}
	}
}

// TestRoomsIndexAccess: GET /rooms is the index (no longer a 400), for
// members unless --dashboard public or --guests, and so are its live
// topics; ?name= still opens a room.
func TestRoomsIndexAccess(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--guests=false", "--dashboard", "members")
	out := noRedirects(newJar(t))
	resp, _ := fetchPage(t, out, in.URL+"/rooms")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next=%2Frooms" {
		t.Errorf("signed out, GET /rooms: %d to %q; want 303 to sign in", resp.StatusCode, loc)
	}
	for _, topic := range []string{views.TopicRoomsIndex, views.TopicOnline} {
		if resp, body := peek(t, out, liveURL(in.URL, topic)); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "sign in") {
			t.Errorf("signed out, /live?topics=%s: %d %.200s; want 401 saying to sign in", topic, resp.StatusCode, body)
		}
	}
	if resp, body := postForm(t, out, in.URL+"/rooms/ops/read", url.Values{"position": {"1"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out, POST /rooms/ops/read: %d %.200s; want 401", resp.StatusCode, body)
	}

	ann := signUp(t, in.URL, "ann")
	rooms, doc := indexOf(t, ann.C, in.URL)
	if len(rooms) != 0 || !strings.Contains(doc.Text(), "No rooms yet") || doc.Find("h1").Text() != "Rooms" {
		t.Errorf("a new server's index: %+v %q; want no rooms, said so", rooms, doc.Find("main").Text())
	}
	if live, _ := doc.Find("#" + views.IDLive).Attr("hx-sse:connect"); !strings.Contains(live, url.QueryEscape(views.TopicRoomsIndex+","+views.TopicOnline+","+views.TopicUser(ann.ID))) {
		t.Errorf("the index's live connection is %q; want the index, the online list and ann's topic", live)
	}
	for _, topic := range []string{views.TopicRoomsIndex, views.TopicOnline} {
		if resp, body := peek(t, ann.C, liveURL(in.URL, topic)); resp.StatusCode != http.StatusOK {
			t.Errorf("a member reading %s: %d %.200s", topic, resp.StatusCode, body)
		}
	}
	resp, _ = fetchPage(t, ann.C, in.URL+"/rooms?name=ops")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/rooms/ops" {
		t.Errorf("GET /rooms?name=ops: %d to %q; want 303 to the room", resp.StatusCode, loc)
	}
	for q, field := range map[string]string{"name=no+spaces": "room", "name=": "room", "before=x": "before", "before=0": "before"} {
		if body, status := get(t, ann.C, in.URL+"/rooms?"+q); status != http.StatusBadRequest || !strings.Contains(body, field+":") {
			t.Errorf("GET /rooms?%s: %d %.300s; want 400 naming %s", q, status, body, field)
		}
	}

	// With guests the rooms, and so the index, are open; with a public
	// dashboard too.
	for _, flags := range [][]string{{"--guests", "--dashboard", "members"}, {"--guests=false", "--dashboard", "public"}} {
		open := start(t, "", "", flags...)
		c := noRedirects(newJar(t))
		if _, status := get(t, c, open.URL+"/rooms"); status != http.StatusOK {
			t.Errorf("%v, signed out, GET /rooms: %d, want 200", flags, status)
		}
		st := openStream(t, liveURL(open.URL, views.TopicRoomsIndex+","+views.TopicOnline), "")
		if b, err := st.Next(); err != nil || !isPositionBlock(b) {
			t.Errorf("%v, signed out, the index's live topics: %+v %v", flags, b, err)
		}
	}
}

// TestRoomsIndexListsAndCounts: a room with history and nobody in it is
// listed with its count and newest message; a signed-in reader's unread
// count is the messages by others since they last opened the room;
// opening it, or POST /rooms/:room/read, reads it (announced on their
// topic); bad reads are refused naming the field.
func TestRoomsIndexListsAndCounts(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--presence-grace", "100ms")
	ann := signUp(t, in.URL, "ann")
	bob := signUp(t, in.URL, "bob")
	index := openStream(t, liveURL(in.URL, views.TopicRoomsIndex), "")
	postAs(t, in, bob, "ops", "deploying")
	postAs(t, in, bob, "ops", "done")
	guest := rbDialJSON(t, in, "lobby", "sam")
	guest.say("hello from <b>sam</b>")
	guest.conn.Close()
	// Once both have left their rooms (the live list says so), the rooms
	// have history and nobody in them.
	for {
		b, err := index.Next()
		if err != nil {
			t.Fatalf("waiting for the index to list both rooms with nobody in them: %v", err)
		}
		if strings.Contains(b.Data, `data-room="ops"`) && strings.Contains(b.Data, `data-room="lobby"`) && !strings.Contains(b.Data, "in-room") {
			break
		}
	}

	rooms, _ := indexOf(t, ann.C, in.URL)
	want := []ixRoom{
		{Name: "# lobby", Count: "1 message", Author: "sam", Preview: "hello from <b>sam</b>"},
		{Name: "# ops", Count: "2 messages", Author: "bob", Preview: "done"},
	}
	if len(rooms) != 2 || rooms[0] != want[0] || rooms[1] != want[1] {
		t.Fatalf("ann's index:\n%+v\nwant (nobody in the rooms, nothing unread: ann never opened them)\n%+v", rooms, want)
	}

	// ann opens ops: she has read it. bob says two more.
	if _, status := get(t, ann.C, in.URL+"/rooms/ops"); status != http.StatusOK {
		t.Fatalf("ann opening ops: %d", status)
	}
	postAs(t, in, bob, "ops", "rolled back")
	postAs(t, in, bob, "ops", "sorry")
	rooms, doc := indexOf(t, ann.C, in.URL)
	if rooms[0].Name != "# ops" || rooms[0].Unread != "2 unread" || rooms[0].Count != "4 messages" || rooms[0].Preview != "sorry" {
		t.Errorf("after bob's two new messages, ann's index starts with %+v; want ops, 2 unread of 4", rooms[0])
	}
	if v, _ := doc.Find("#" + views.RoomReadID("ops")).Attr("value"); v != "2" {
		t.Errorf("ann's page says she has %q unread in ops for its script; want 2", v)
	}
	if rooms, _ := indexOf(t, bob.C, in.URL); rooms[0].Unread != "" {
		t.Errorf("bob's own messages count as unread for him: %+v", rooms[0])
	}

	// A read from the room page: refused without its token or with a bad
	// position, recorded and announced on ann's topic otherwise.
	st := userStream(t, in.URL, ann, "")
	if b, err := st.Next(); err != nil || !isPositionBlock(b) {
		t.Fatalf("ann's stream: %+v %v", b, err)
	}
	read := func(room, pos string, token bool) (int, string) {
		form := url.Values{"position": {pos}}
		if token {
			form.Set("_csrf", ann.CSRF)
		}
		resp, body := postForm(t, ann.C, in.URL+"/rooms/"+room+"/read", form)
		return resp.StatusCode, body
	}
	for _, c := range []struct {
		room, pos string
		token     bool
		status    int
		says      string
	}{
		{"ops", "1", false, http.StatusForbidden, "CSRF"},
		{"ops", "", true, http.StatusBadRequest, "position"},
		{"ops", "-3", true, http.StatusBadRequest, "position"},
		{"ops", "999999", true, http.StatusBadRequest, "position"},
		{"bad.room", "1", true, http.StatusBadRequest, "room"},
		{"empty", "1", true, http.StatusNotFound, "room"},
	} {
		if status, body := read(c.room, c.pos, c.token); status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("POST /rooms/%s/read position=%q: %d %.200s; want %d naming %s", c.room, c.pos, status, body, c.status, c.says)
		}
	}
	msgs := rbHistory(t, in, "ops")
	if status, body := read("ops", "1", true); status != http.StatusNoContent {
		t.Errorf("reading ops up to an older position: %d %.200s; want 204 (nothing changes)", status, body)
	}
	if status, body := read("ops", jsonNumber(msgs[len(msgs)-1].Position), true); status != http.StatusNoContent {
		t.Errorf("reading ops to its newest message: %d %.200s; want 204", status, body)
	}
	for {
		b, err := st.Next()
		if err != nil {
			t.Fatalf("waiting for ann's read of ops on her topic: %v", err)
		}
		if strings.Contains(b.Data, `id="`+views.RoomReadID("ops")+`"`) {
			if !strings.Contains(b.Data, `value="0"`) || !strings.Contains(b.Data, `data-messages="4"`) || !b.HasID {
				t.Errorf("ann's read of ops arrived as %+v; want 0 unread of 4, with an id", b)
			}
			break
		}
	}
	if rooms, _ := indexOf(t, ann.C, in.URL); rooms[0].Unread != "" {
		t.Errorf("after ann read ops, her index says %+v", rooms[0])
	}
}

// jsonNumber formats a position for a form.
func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestRoomsIndexLive: the index's topic carries the list again when a
// message is stored and when someone joins a room; the online topic lists
// who is connected anywhere, and drops them after they leave and the
// grace period.
func TestRoomsIndexLive(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--presence-grace", "500ms")
	ann := signUp(t, in.URL, "ann")
	bob := signUp(t, in.URL, "bob")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := dialSSE(ctx, ann.C, liveURL(in.URL, views.TopicRoomsIndex+","+views.TopicOnline), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	until := func(what string, ok func(data string) bool) string {
		t.Helper()
		for {
			b, err := st.Next()
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if b.HasData && ok(b.Data) {
				return b.Data
			}
		}
	}
	until("ann online", func(d string) bool {
		return strings.Contains(d, `id="online-now"`) && strings.Contains(d, "<bdi>ann</bdi>")
	})

	postAs(t, in, bob, "ops", "first")
	until("ops in the index", func(d string) bool {
		return strings.Contains(d, `id="rooms-index"`) && strings.Contains(d, `data-room="ops"`) && strings.Contains(d, "1 message")
	})
	// bob connects from a page of his own: he is online, then not.
	bs, err := dialSSE(ctx, bob.C, liveURL(in.URL, views.TopicActivity), "")
	if err != nil {
		t.Fatal(err)
	}
	until("bob online", func(d string) bool {
		return strings.Contains(d, `id="online-now"`) && strings.Contains(d, "<bdi>bob</bdi>")
	})
	bs.Close()
	left := time.Now()
	until("bob gone", func(d string) bool {
		return strings.Contains(d, `id="online-now"`) && !strings.Contains(d, "<bdi>bob</bdi>")
	})
	if gone := time.Since(left); gone < 500*time.Millisecond {
		t.Errorf("bob left the online list %v after he left, within the grace period", gone)
	}

	// A guest in a room: listed in the room and online, marked a guest.
	sam := rbDialJSON(t, in, "lobby", "sam")
	until("sam in lobby", func(d string) bool {
		return strings.Contains(d, `data-room="lobby"`) && strings.Contains(d, "No messages yet") && strings.Contains(d, "<bdi>sam</bdi>")
	})
	until("sam online as a guest", func(d string) bool {
		return strings.Contains(d, `id="online-now"`) && strings.Contains(d, "<bdi>sam</bdi>") && strings.Contains(d, ">guest<")
	})
	sam.conn.Close()
}
