package views

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// The index names each room with its count, its newest message (a guest's
// marked) and who is in it (five names, then how many more); the viewer's
// page carries their unread counts and reads, the shared fragment neither.
func TestRoomsIndexPage(t *testing.T) {
	rooms := []IndexRoom{
		{Name: "ops", Messages: 1204, Last: Message{Position: 9, User: "sam", Guest: true, Content: "deployed", At: now}, LastUserID: 0,
			Online: []string{"a", "b", "c", "d", "e", "f", "g"}},
		{Name: "lobby", Messages: 1, Last: Message{Position: 4, User: "ann", Content: "hi", At: now}, LastUserID: 1},
		{Name: "quiet", Messages: 3, Last: Message{Position: 2, User: "bob", Content: "bye", At: now}, LastUserID: 2},
		{Name: "new", Online: []string{"cy"}},
	}
	ix := RoomsIndex{
		Page:      Page{Title: "Rooms", Viewer: Viewer{ID: 1, Name: "ann"}},
		Rooms:     rooms,
		UnreadCap: 100,
		Reads: []RoomUnread{
			{Room: "ops", Unread: 99, Messages: 1203}, // one more since: 100, the cap
			{Room: "lobby", Unread: 0, Messages: 0},   // her own message is the newest
			{Room: "quiet", Unread: 2, Messages: 3},
		},
		Older:   2,
		Online:  OnlineNow{People: []Person{{Name: "ann"}, {Name: "sam", Guest: true}}, More: 3},
		LiveURL: "/live?topics=rooms-index",
	}
	doc := render(t, RoomsIndexPage(ix))
	items := doc.Find(`ol[aria-label="Rooms"] > li`)
	type row struct{ name, unread, count, preview, in string }
	var got []row
	items.Each(func(_ int, li *goquery.Selection) {
		in := strings.TrimSpace(text(li.Find(".in-room-label")) + " " + strings.Join(li.Find(".in-room li").Map(func(_ int, s *goquery.Selection) string {
			return text(s)
		}), " ") + " " + text(li.Find(".in-room .more")))
		got = append(got, row{text(li.Find(".room-link")), text(li.Find(".unread")), text(li.Find(".count")),
			text(li.Find(".preview")), in})
	})
	want := []row{
		{"# ops", "99+ unread", "1,204 messages", "sam guest deployed 29 Nov 2026, 10:30 UTC", "In the room: a b c d e and 2 more"},
		{"# lobby", "", "1 message", "ann hi 29 Nov 2026, 10:30 UTC", ""},
		{"# quiet", "2 unread", "3 messages", "bob bye 29 Nov 2026, 10:30 UTC", ""},
		{"# new", "", "0 messages", "No messages yet.", "In the room: cy"},
	}
	if len(got) != len(want) {
		t.Fatalf("rooms %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("room %d reads %+v, want %+v", i, got[i], want[i])
		}
	}
	if href, _ := items.First().Find("a").Attr("href"); href != "/rooms/ops" {
		t.Errorf("ops links to %q", href)
	}
	reads := doc.Find("#" + IDRoomReads)
	if v, _ := reads.Attr("data-viewer"); v != "1" || reads.Find("data").Length() != 3 {
		t.Errorf("the reads are for viewer %q, %d rooms; want 1 and 3", v, reads.Find("data").Length())
	}
	if v, _ := doc.Find("#" + RoomReadID("quiet")).Attr("value"); v != "2" {
		t.Errorf("quiet's read says %q unread", v)
	}
	if text(doc.Find(`[aria-label="Online now"]`)) != "ann sam guest" || text(doc.Find("#"+IDOnlineNow+" .more")) != "and 3 more" {
		t.Errorf("online now reads %q %q", text(doc.Find(`[aria-label="Online now"]`)), text(doc.Find("#"+IDOnlineNow+" .more")))
	}
	if href, _ := doc.Find(`nav[aria-label="More rooms"] a`).Attr("href"); href != "/rooms?before=2" {
		t.Errorf("older rooms link to %q", href)
	}
	if doc.Find("#"+IDLive).Length() != 1 {
		t.Error("the first page does not go live")
	}
	assertCSPClean(t, doc)

	shared := render(t, RoomsIndexFragment(rooms))
	if oob, _ := shared.Find("#" + IDRoomsIndex).Attr("hx-swap-oob"); oob != "true" {
		t.Errorf("the shared fragment is not out of band: %q", oob)
	}
	if n := strings.TrimSpace(shared.Find(".unread").Text()); n != "" {
		t.Errorf("the shared fragment carries unread counts: %q", n)
	}
	if shared.Find("[data-room]").Length() != 4 || shared.Find("#"+IDRoomReads).Length() != 0 {
		t.Error("the shared fragment lacks its rooms, or carries a viewer's reads")
	}

	// Signed out: no reads, no counts; an older page does not go live.
	out := render(t, RoomsIndexPage(RoomsIndex{Rooms: rooms, LookBack: true}))
	if out.Find("#"+IDRoomReads).Length() != 0 || out.Find("#"+IDLive).Length() != 0 || text(out.Find("h2").First()) != "Older rooms" {
		t.Error("a signed-out look back carries reads, or goes live, or is not called older")
	}
	if empty := render(t, RoomsIndexPage(RoomsIndex{})); !strings.Contains(text(empty.Find("main")), "No rooms yet") {
		t.Errorf("an empty index reads %q", text(empty.Find("main")))
	}
}
