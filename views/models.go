package views

import (
	"context"
	"io"
	"time"

	"github.com/a-h/templ"
)

// Page is what every full page needs from its handler.
type Page struct {
	// Title is the document title, without the product name.
	Title string
	// LiveURL is the page's SSE URL (topics and the position the page was rendered at);
	// empty for a page without live content.
	LiveURL string
	// Viewer is the signed-in person; zero when signed out.
	Viewer Viewer
	// CSRF is the token every form of the page carries.
	CSRF string
}

// Viewer is the signed-in person a page is for.
type Viewer struct {
	ID     int64
	Name   string
	Unread int  // unread notifications, for the bell
	Admin  bool // makes ingest and notify tokens and posting widgets, sees the server panel
}

// SignedIn reports whether the page is for a signed-in person.
func (v Viewer) SignedIn() bool { return v.ID != 0 }

// Notification is one item of a user's notification feed.
type Notification struct {
	Position int64
	Title    string
	Body     string
	Link     string // an http or https URL, a local path, or empty
	At       time.Time
	Read     bool
}

// Notifications is the view model of GET /notifications.
type Notifications struct {
	Page
	Items []Notification // newest first
}

// AuthForm is the view model of the sign-in and sign-up pages.
type AuthForm struct {
	Page
	Name  string // as typed, to fill the form again
	Next  string // local path to go to afterwards
	Error string
	// Closed says that sign-up is closed (--signup closed): an admin makes
	// accounts, and the page shows no form.
	Closed bool
}

// Settings is the view model of GET /settings.
type Settings struct {
	Page
	Tokens   []Token
	Sessions []Session
	// NewToken is a token just made, shown this once.
	NewToken string
	Error    string
	// Scopes are the scopes the viewer may give a new token: every one
	// for an admin, none for a member (the form is not shown).
	Scopes []string
	// Widgets are the widget tokens the viewer made, or everyone's for an
	// admin (AllWidgets), newest first.
	Widgets    []WidgetToken
	AllWidgets bool
}

// WidgetToken is a widget token as the settings page lists it.
type WidgetToken struct {
	ID      int64
	Widget  string
	Room    string
	Post    bool
	Origins []string
	Expires time.Time
	By      string // who made it: an account's name, or "" for the command line
	Revoked bool
	Expired bool
}

// Token is an API token as the settings page lists it.
type Token struct {
	ID       int64
	Name     string
	Scopes   []string
	At       time.Time
	LastUsed time.Time
	Revoked  bool
}

// Session is a signed-in browser as the settings page lists it.
type Session struct {
	ID      int64
	Agent   string
	At      time.Time
	Current bool
}

// Metrics is one reading of the figures the server measures itself, plus the
// latest value of every metric posted to the ingest API.
type Metrics struct {
	// Server says whether the reading holds the server's own figures: an
	// admin's panel. Without them (everyone else, and widgets) the panel
	// shows only the posted metrics.
	Server          bool
	At              time.Time
	LiveConnections int
	ActiveUsers     int
	RequestsPerMin  int
	P50, P95        time.Duration
	EventsPerSec    float64
	Goroutines      int
	HeapBytes       uint64
	Custom          []CustomMetric // sorted by name
}

// CustomMetric is the latest value of a metric posted to POST /api/metrics.
type CustomMetric struct {
	Name  string
	Unit  string
	Value float64
	At    time.Time
}

// Activity is one item of the activity feed.
type Activity struct {
	Position int64
	Text     string
	Link     string // an http or https URL, or empty
	At       time.Time
}

// Dashboard is the view model of GET /.
type Dashboard struct {
	Page
	Metrics Metrics
	Chart   Chart
	Rooms   []RoomSummary // the busiest, at most RoomsShown
	// MoreRooms counts the other rooms with people online.
	MoreRooms int
	// MetricsHTML and ChartHTML, when set, are MetricsPanel and ChartPanel
	// (not out of band) rendered already, once a tick for every page:
	// Metrics and Chart are then not read.
	MetricsHTML, ChartHTML []byte
}

// metricsPanel is the page's metrics panel, rendered already or now.
func (d Dashboard) metricsPanel() templ.Component {
	if d.MetricsHTML != nil {
		return Rendered(d.MetricsHTML)
	}
	return MetricsPanel(d.Metrics, false)
}

// chartPanel is the page's chart, rendered already or now.
func (d Dashboard) chartPanel() templ.Component {
	if d.ChartHTML != nil {
		return Rendered(d.ChartHTML)
	}
	return ChartPanel(d.Chart, false)
}

// Rendered is HTML rendered already by a component of this package, written
// as it is.
func Rendered(html []byte) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := w.Write(html)
		return err
	})
}

// Message is one chat message.
type Message struct {
	Position int64
	User     string
	Guest    bool // posted by a signed-out visitor under a chosen name
	Content  string
	At       time.Time
}

// Room is the view model of GET /rooms/:room.
type Room struct {
	Page
	Name     string
	Messages []Message // oldest first
	// Earlier is the position to page back from, or 0 when the history starts here.
	Earlier int64
	Online  []string
	Typing  []string
	// User is the display name; empty for a viewer, who gets the name form
	// (when guests may post) or a link to sign in.
	User string
	// Guests says whether signed-out visitors may post under a chosen name.
	Guests bool
	// LookBack is an older page of the history: it does not go live.
	LookBack bool
	// SocketURL is the room's WebSocket URL, for a page with a User.
	SocketURL string
	// NameError says why a chosen name was refused.
	NameError string
}

// RoomsShown is how many rooms the dashboard's Rooms panel lists, the
// busiest; it counts the rest, so a server with many rooms does not send
// every dashboard the whole list on every change.
const RoomsShown = 20

// RoomSummary is one active room on the dashboard.
type RoomSummary struct {
	Name   string
	Online int
}
