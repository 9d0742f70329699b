package views

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// TestBeaconPaintMirrorsIDs keeps static/beacon-paint.js in step with
// ids.go, like TestBeaconJSMirrorsIDs.
func TestBeaconPaintMirrorsIDs(t *testing.T) {
	js, err := os.ReadFile("../static/beacon-paint.js")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"messages":      IDMessages,
		"newMessages":   IDNewMessages,
		"typing":        IDTyping,
		"chatForm":      IDChatForm,
		"viewer":        AttrViewer,
		"typingList":    AttrTyping,
		"formatSeconds": TimeFormatSeconds,
		"formatClock":   TimeFormatClock,
	} {
		m := regexp.MustCompile(`\b` + key + `:\s*'([^']*)'`).FindSubmatch(js)
		if m == nil || string(m[1]) != want {
			t.Errorf("beacon-paint.js %s: %q, ids.go says %q", key, m, want)
		}
	}
	if m := regexp.MustCompile(`\bformatClock:\s*'([^']*)'`).FindSubmatch(mustRead(t, "../static/beacon.js")); m == nil || string(m[1]) != TimeFormatClock {
		t.Errorf("beacon.js formatClock: %q, ids.go says %q", m, TimeFormatClock)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTimesSayTheirZone: every <time> carries its instant, a tooltip, and a
// text that names its zone (UTC): a page without script, such as a /stream/
// widget, cannot show the viewer's zone, and must not pass UTC off as it.
// The page's script rewrites them by their data-format.
func TestTimesSayTheirZone(t *testing.T) {
	yesterday := now.Add(-11 * time.Hour) // 23:30 on the 28th
	m := Metrics{At: now, Custom: []CustomMetric{
		{Name: "today", Value: 1, At: now.Add(-3 * time.Second)},
		{Name: "older", Value: 2, At: yesterday},
	}}
	doc := render(t, StreamFrame(MetricsPanel(m, false)))
	type want struct{ datetime, format, text string }
	check := func(what string, s *goquery.Selection, w want) {
		t.Helper()
		dt, _ := s.Attr("datetime")
		format, _ := s.Attr("data-format")
		title, _ := s.Attr("title")
		if s.Length() != 1 || dt != w.datetime || format != w.format || text(s) != w.text || !strings.HasSuffix(title, " UTC") {
			t.Errorf("%s: <time datetime=%q data-format=%q title=%q>%s</time>, want %+v", what, dt, format, title, text(s), w)
		}
	}
	check("measured at", doc.Find("p.meta time"), want{"2026-11-29T10:30:00Z", TimeFormatSeconds, "10:30:00 UTC"})
	if got := text(doc.Find("p.meta")); got != "Measured at 10:30:00 UTC" {
		t.Errorf("the reading's time reads %q", got)
	}
	card := func(name string) *goquery.Selection {
		return doc.Find("dt").FilterFunction(func(_ int, s *goquery.Selection) bool { return text(s) == name }).Parent().Find("time")
	}
	check("a value from today", card("today"), want{"2026-11-29T10:29:57Z", "", "10:29:57 UTC"})
	check("a value from yesterday", card("older"), want{"2026-11-28T23:30:00Z", "", "28 Nov 2026, 23:30 UTC"})

	msg := render(t, MessageItem(Message{Position: 1, User: "ann", Content: "hi", At: now}))
	check("a message", msg.Find("time"), want{"2026-11-29T10:30:00Z", "", "29 Nov 2026, 10:30 UTC"})
	act := render(t, ActivityItem(Activity{Position: 1, Text: "x", At: now}))
	check("an activity item", act.Find("time"), want{"2026-11-29T10:30:00Z", "", "29 Nov 2026, 10:30 UTC"})
	note := render(t, NotificationItem(Notification{Position: 1, Title: "x", At: now}, ""))
	check("a notification", note.Find("time"), want{"2026-11-29T10:30:00Z", "", "29 Nov 2026, 10:30 UTC"})
	snippet := render(t, EmbedSnippetFragment(EmbedSnippet{Widget: "metrics", Expires: now}))
	check("a widget token's expiry", snippet.Find("time"), want{"2026-11-29T10:30:00Z", "", "29 Nov 2026, 10:30 UTC"})
	if got := text(snippet.Find(".expires")); got != "Valid until 29 Nov 2026, 10:30 UTC" {
		t.Errorf("the snippet's expiry reads %q", got)
	}
	settings := render(t, SettingsPage(Settings{
		Tokens:   []Token{{ID: 1, Name: "t", At: now, LastUsed: now}},
		Sessions: []Session{{ID: 1, Agent: "x", At: now}},
		Widgets:  []WidgetToken{{ID: 1, Widget: "metrics", Expires: now}},
	}))
	if n := settings.Find("td time[datetime='2026-11-29T10:30:00Z']").Length(); n != 4 {
		t.Errorf("the settings page shows %d of its 4 times as <time> elements", n)
	}
}

// TestRoomPageEmptyStateAndMarker: a room's list comes with its empty
// state (shown by CSS while the list is empty), the hidden "New messages"
// button in a polite live region, and the viewer's name for the typing line.
func TestRoomPageEmptyStateAndMarker(t *testing.T) {
	empty := render(t, RoomPage(Room{Name: "lobby", User: "ann", SocketURL: "/rooms/lobby/ws"}))
	p := empty.Find("#" + IDMessages + " ~ p.empty")
	if _, hidden := p.Attr("hidden"); text(p) != "No messages yet — say hello" || hidden {
		t.Errorf("an empty room's list is followed by %q (hidden %v), want the empty state shown", text(p), hidden)
	}
	marker := empty.Find("button#" + IDNewMessages)
	if _, hidden := marker.Attr("hidden"); text(marker) != "New messages" || !hidden || marker.AttrOr("type", "") != "button" {
		t.Errorf("the marker is %q (hidden %v), want a hidden button New messages", text(marker), hidden)
	}
	if live := marker.Parent().AttrOr("aria-live", ""); live != "polite" {
		t.Errorf("the marker's slot has aria-live %q, want polite", live)
	}
	if v := empty.Find("section.messages-panel").AttrOr(AttrViewer, ""); v != "ann" {
		t.Errorf("the messages panel names the viewer %q, want ann", v)
	}
	if tab := empty.Find("#"+IDMessages).AttrOr("tabindex", ""); tab != "0" {
		t.Errorf("the scrolling list has tabindex %q, want 0 (keyboard scrolling)", tab)
	}
	full := render(t, RoomPage(Room{Name: "lobby", Messages: []Message{{Position: 1, User: "bob", Content: "hi", At: now}}}))
	if _, hidden := full.Find("#" + IDMessages + " ~ p.empty").Attr("hidden"); !hidden {
		t.Error("a room with messages shows its empty state")
	}
	if full.Find("section.messages-panel").Is("[" + AttrViewer + "]") {
		t.Error("a viewer without a name is named on the panel")
	}
	widget := render(t, RoomWidget(WidgetRoom{Name: "lobby"}))
	if widget.Find("#"+IDNewMessages).Length() != 1 || text(widget.Find("p.empty")) != "No messages yet — say hello" {
		t.Error("the room widget lacks the marker or the empty state")
	}
}

// TestTypingLineListsEveryone: the line is rendered once for the room, so
// it lists everyone typing for each page to leave its viewer out.
func TestTypingLineListsEveryone(t *testing.T) {
	for _, typing := range [][]string{nil, {"ann"}, {"ann", "bob", "<c>", "d"}} {
		doc := render(t, TypingLine(typing, true))
		var got []string
		if err := json.Unmarshal([]byte(doc.Find("#"+IDTyping).AttrOr(AttrTyping, "")), &got); err != nil || len(got) != len(typing) {
			t.Errorf("TypingLine(%q) lists %q (%v)", typing, got, err)
		}
		for i := range typing {
			if got[i] != typing[i] {
				t.Errorf("TypingLine(%q) lists %q", typing, got)
			}
		}
	}
}

// TestNotificationLinksThroughOpen: a notification's title links to the
// route that marks it read and redirects to its link.
func TestNotificationLinksThroughOpen(t *testing.T) {
	doc := render(t, NotificationItem(Notification{Position: 42, Title: "Build failed", Link: "https://ci.example.com/481", At: now}, ""))
	if href := doc.Find("a.title").AttrOr("href", ""); href != "/notifications/42/open" {
		t.Errorf("the title links to %q, want /notifications/42/open", href)
	}
	doc = render(t, NotificationItem(Notification{Position: 42, Title: "No link", At: now}, ""))
	if doc.Find("a").Length() != 0 {
		t.Error("a notification without a link has one")
	}
}

// TestSettingsShowsBrowsersAndCopy: sessions are named for people, with the
// header in a tooltip; a new token has a copy button (hidden until script
// shows it).
func TestSettingsShowsBrowsersAndCopy(t *testing.T) {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	doc := render(t, SettingsPage(Settings{NewToken: "bcn_secret", Sessions: []Session{{ID: 3, Agent: ua, At: now, Current: true}}}))
	cell := doc.Find("#session-3 td").First()
	if text(cell) != "Chrome on Linux" || cell.AttrOr("title", "") != ua {
		t.Errorf("the session reads %q (title %q), want Chrome on Linux with the header as its title", text(cell), cell.AttrOr("title", ""))
	}
	b := doc.Find("button[data-copy='new-token']")
	if _, hidden := b.Attr("hidden"); text(b) != "Copy" || !hidden || doc.Find("#new-token").Text() != "bcn_secret" {
		t.Errorf("the new token's copy button: %q hidden %v", text(b), hidden)
	}
	assertCSPClean(t, doc)
}
