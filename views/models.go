package views

import "time"

// Page is what every full page needs from its handler.
type Page struct {
	// Title is the document title, without the product name.
	Title string
	// LiveURL is the page's SSE URL (topics and the position the page was rendered at);
	// empty for a page without live content.
	LiveURL string
}

// Metrics is one reading of the figures the server measures itself, plus the
// latest value of every metric posted to the ingest API.
type Metrics struct {
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

// Chart is the last Window of every series, drawn as one small SVG chart per series.
type Chart struct {
	Now    time.Time
	Window time.Duration
	Series []Series
}

// Series is one line of the chart.
type Series struct {
	Name   string
	Unit   string
	Points []Point // oldest first
}

// Point is one sample of a series.
type Point struct {
	At    time.Time
	Value float64
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
	Rooms   []RoomSummary
}

// Message is one chat message.
type Message struct {
	Position int64
	User     string
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
	// User is the display name; empty for a viewer, who gets the name form.
	User string
	// SocketURL is the room's WebSocket URL, for a page with a User.
	SocketURL string
	// NameError says why a chosen name was refused.
	NameError string
}

// RoomSummary is one active room on the dashboard.
type RoomSummary struct {
	Name   string
	Online int
}
