package views

import (
	"strings"
	"time"
)

// Widget is the page around an embedded widget (GET /embed/…) or its
// streamed variant (GET /stream/…): a minimal document for a small iframe.
type Widget struct {
	// Title is the document title, without the product name.
	Title string
	// Theme is "light", "dark", or "" to follow prefers-color-scheme.
	Theme string
	// LiveURL is the widget's SSE URL; empty for a page that does not go
	// live (an error page, a stream).
	LiveURL string
}

// WidgetRoom is the view model of the room widget.
type WidgetRoom struct {
	Name     string
	Messages []Message // oldest first
	// Post says whether the token lets visitors send messages; Token is
	// then the token the form sends back, and Guest the name it keeps.
	Post       bool
	Token      string
	Guest      string
	PostAction string
	Problem    string // why the last message was refused
}

// EmbedOffer is what the "Embed" button's form asks the server for.
type EmbedOffer struct {
	Widget string // metrics, chart, activity or room
	Room   string // for a room widget
	CSRF   string // the page's CSRF token: the form is a POST
	// SignedIn shows the button at all: every widget token made is kept
	// under its maker's account, to list and revoke it.
	SignedIn bool
	// CanPost offers "Visitors may post" (room widgets, admins only).
	CanPost bool
}

// OfferFor is the "Embed" button of page p for widget (and room).
func OfferFor(p Page, widget, room string) EmbedOffer {
	return EmbedOffer{Widget: widget, Room: room, CSRF: p.CSRF, SignedIn: p.Viewer.SignedIn(), CanPost: p.Viewer.Admin}
}

// EmbedSnippet is a freshly made widget token, as snippets to copy.
type EmbedSnippet struct {
	Widget  string
	IFrame  string // the live widget, for sites that allow scripts in frames
	Stream  string // the zero-JavaScript variant
	Expires time.Time
	Post    bool
	Origins []string
}

// Themes a widget may be forced to with ?theme=.
const (
	ThemeLight = "light"
	ThemeDark  = "dark"
)

// StreamItems is how many messages or activity items a streamed widget
// shows: it re-renders them on every update.
const StreamItems = 20

// embedStyles are the stylesheets of widget pages.
var embedStyles = []string{"/static/beacon.css", "/static/embed.css"}

// colorScheme is the color-scheme meta of a theme.
func colorScheme(theme string) string {
	if theme == ThemeLight || theme == ThemeDark {
		return theme
	}
	return "light dark"
}

// streamBody opens a streamed widget's body. It stays open: every update is
// appended to it until the stream ends. theme is one of the constants or "".
func streamBody(theme string) string {
	if theme == ThemeLight || theme == ThemeDark {
		return `<body class="stream" data-theme="` + theme + `">`
	}
	return `<body class="stream">`
}

// embedID is the DOM id of part of the "Embed" form of o.
func embedID(o EmbedOffer, part string) string {
	id := "embed-" + o.Widget
	if o.Room != "" {
		id += "-" + o.Room
	}
	return id + "-" + part
}

func joinOrigins(origins []string) string { return strings.Join(origins, ", ") }
