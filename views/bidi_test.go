package views

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// rlo is RIGHT-TO-LEFT OVERRIDE. Left open in a text, it reverses whatever
// follows it in the same paragraph: a message's time, "3 online", the
// next name of a list.
const rlo = "\u202e"

// evil is s with an unterminated override in it.
func evil(s string) string { return s + rlo + "evil" }

// TestUserTextIsBidiIsolated renders every view with an unterminated
// U+202E in every text a user, a program or a browser supplies, and checks
// that each such text sits alone in a <bdi>, which ends the override where
// the text ends (the isolate's closing PDI), so nothing beside it is
// reordered. Attributes (title, aria-label, value) are shown apart from the
// page's text and need nothing. Error messages are the server's own
// sentences; the user input they quote is quoted with %q, which escapes
// U+202E.
func TestUserTextIsBidiIsolated(t *testing.T) {
	msgs := []Message{
		{Position: 1, User: evil("ann"), Content: evil("hi"), At: now},
		{Position: 2, User: evil("guest"), Guest: true, Content: evil("yo"), At: now},
	}
	acts := []Activity{
		{Position: 3, Text: evil("deployed"), Link: "https://example.com/r/1", At: now},
		{Position: 4, Text: evil("plain"), At: now},
	}
	notes := []Notification{
		{Position: 5, Title: evil("build"), Body: evil("3 tests\nfailed"), Link: "/rooms/x", At: now},
		{Position: 6, Title: evil("no body"), At: now, Read: true},
	}
	page := Page{Title: evil("page"), Viewer: Viewer{ID: 1, Name: evil("ann"), Unread: 2}, CSRF: "csrf"}
	metrics := sampleMetrics()
	metrics.Custom = []CustomMetric{{Name: evil("queue"), Unit: evil("jobs"), Value: 1e21, At: now}}
	figure := func(s Series, size ChartSize) templ.Component {
		return SeriesFigure(SeriesChart{Series: s, Range: DefaultChartRange(), Size: size, End: ChartEnd(now, DefaultChartRange().Column(size))})
	}
	rps := Series{Name: evil("rps"), Unit: evil("req"), Link: SeriesPath(evil("rps")), Buckets: []Bucket{{Start: ChartEnd(now, 5*time.Second).Add(-5 * time.Second), N: 1, Min: 3, Max: 3, Sum: 3, Last: 3}}}
	chart := Chart{Range: DefaultChartRange(), Nav: true, Figures: []templ.Component{
		figure(rps, ChartOverview), figure(Series{Name: evil("empty"), Unit: evil("x")}, ChartOverview)}}
	rooms := []RoomSummary{{Name: evil("lobby"), Online: 3}}
	online := []string{evil("ann"), evil("bob")}
	room := Room{Page: page, Name: evil("lobby"), Messages: msgs, Online: online, Typing: []string{evil("cy")},
		User: evil("ann"), SocketURL: "/rooms/lobby/ws"}
	widgetRoom := WidgetRoom{Name: evil("lobby"), Messages: msgs, Post: true, Token: "t", Guest: evil("g"), PostAction: "/embed/rooms/lobby/messages"}
	settings := Settings{Page: page,
		Tokens:   []Token{{ID: 1, Name: evil("deploy"), Scopes: []string{"notify"}, At: now, LastUsed: now}},
		Sessions: []Session{{ID: 1, Agent: evil("Mozilla/5.0"), At: now}, {ID: 2, Agent: evil("curl"), At: now, Current: true}}}

	indexRooms := []IndexRoom{
		{Name: "lobby", Messages: 2, Last: msgs[1], Online: []string{evil("ann"), evil("bob")}},
		{Name: "empty", Online: online},
	}
	onlineNow := OnlineNow{People: []Person{{Name: evil("ann")}, {Name: evil("sam"), Guest: true}}, More: 2}
	index := RoomsIndex{Page: page, Rooms: indexRooms, Online: onlineNow, UnreadCap: 100,
		Reads: []RoomUnread{{Room: "lobby", Unread: 1, Messages: 2}}}

	for name, c := range map[string]templ.Component{
		"RoomsIndexPage":        RoomsIndexPage(index),
		"RoomsIndexFragment":    RoomsIndexFragment(indexRooms),
		"OnlineNowList":         OnlineNowList(onlineNow, true),
		"RoomPage":              RoomPage(room),
		"RoomPage for a viewer": RoomPage(Room{Page: Page{}, Name: evil("lobby"), Messages: msgs, Online: online, Guests: true}),
		"MessageFragment":       MessageFragment(msgs[0]),
		"MessageListFragment":   MessageListFragment(msgs),
		"OnlineList":            OnlineList(online, true),
		"TypingLine one":        TypingLine([]string{evil("ann")}, true),
		"TypingLine two":        TypingLine([]string{evil("ann"), evil("bob")}, true),
		"TypingLine many":       TypingLine([]string{evil("ann"), evil("bob"), evil("cy"), evil("di")}, true),
		"RoomsPanel":            RoomsPanel(rooms, 3, true),
		"DashboardPage": DashboardPage(Dashboard{Page: page, Metrics: metrics, Chart: chart, Rooms: rooms},
			templ.Join(ActivityPanel(acts), LiveConnector("/live"))),
		"MetricsPanel":     MetricsPanel(metrics, true),
		"ChartPanel":       ChartPanel(chart, true),
		"ChartPanelStatic": StreamFrame(ChartPanelStatic(Chart{Figures: []templ.Component{figure(rps, ChartCompact)}})),
		"SeriesChartPage": SeriesChartPage(SeriesPage{Page: page, Name: evil("rps"), DeleteAction: "/charts/x/delete",
			Panel: SeriesPanel{Range: DefaultChartRange(), Figure: figure(rps, ChartDetail)}}),
		"ActivityItemFragment":  ActivityItemFragment(acts[0]),
		"ActivityFeedFragment":  ActivityFeedFragment(acts),
		"NotificationsPage":     NotificationsPage(Notifications{Page: page, Items: notes}),
		"NotificationFragment":  NotificationFragment(notes[1], 1),
		"NotificationsFragment": NotificationsFragment(notes, 1),
		"SettingsPage":          SettingsPage(settings),
		"LoginPage":             LoginPage(AuthForm{Page: page, Name: evil("ann")}),
		"ErrorPage":             ErrorPage(page, 404, "No such page."),
		"RoomWidget":            WidgetPage(Widget{Title: evil("lobby"), LiveURL: "/embed/live?token=t"}, RoomWidget(widgetRoom)),
		"RoomWidgetStatic":      StreamFrame(RoomWidgetStatic(widgetRoom)),
		"ActivityWidgetStatic":  StreamFrame(ActivityWidgetStatic(acts)),
		"EmbedSnippetPage": EmbedSnippetPage(page, EmbedSnippet{Widget: "room", IFrame: "<iframe>", Stream: "<iframe>",
			Expires: now, Origins: []string{"https://a.example", "https://b.example"}}),
	} {
		t.Run(name, func(t *testing.T) {
			doc := render(t, c)
			found := 0
			doc.Find("body, body *").Contents().Each(func(_ int, n *goquery.Selection) {
				if goquery.NodeName(n) != "#text" || !strings.Contains(n.Text(), rlo) {
					return
				}
				if n.ParentsFiltered("svg").Length() > 0 {
					return // an SVG's title is its accessible name, not painted text
				}
				found++
				if p := n.Parent(); goquery.NodeName(p) != "bdi" || p.Contents().Length() != 1 {
					t.Errorf("%q is not alone in a <bdi> (it is in %s)", n.Text(), path(n))
				}
			})
			if found == 0 && name != "ErrorPage" && name != "EmbedSnippetPage" {
				t.Errorf("no user text was rendered: the test does not test this view")
			}
		})
	}
}

// path is where n is, for a failure message: "li.message > span.content".
func path(n *goquery.Selection) string {
	var parts []string
	for p := n.Parent(); p.Length() > 0 && len(parts) < 3; p = p.Parent() {
		s := goquery.NodeName(p)
		if class, ok := p.Attr("class"); ok {
			s += "." + strings.ReplaceAll(class, " ", ".")
		}
		parts = append([]string{s}, parts...)
	}
	return strings.Join(parts, " > ")
}
