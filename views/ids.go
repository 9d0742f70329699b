package views

import (
	"strconv"
	"strings"
)

// DOM ids, SSE event names and topic names that the server, the fragments and
// static/beacon.js must agree on. Nothing here is spelled anywhere else above
// the database: package db, which views may not import, spells the names of
// the log topics it writes ("activity", "room:", "user:") once more, and a
// test in handlers checks that the two agree.
const (
	// IDLive is the element that holds the page's one SSE connection.
	IDLive = "live"
	// IDIndicator shows the state of the live connection: live, reconnecting or offline.
	IDIndicator = "live-indicator"
	// IDMetrics is the panel of figures the server measures and the metrics scripts post.
	IDMetrics = "metrics-panel"
	// IDChart is the panel that holds the server-rendered SVG charts.
	IDChart = "chart-panel"
	// IDSeriesChart is the chart panel of a metric's page.
	IDSeriesChart = "series-chart"
	// IDActivity is the activity feed's list; new items are inserted at its top.
	IDActivity = "activity-list"
	// IDNotice is a polite live region for messages about the stream itself.
	IDNotice = "live-notice"
)

// EventResync is the named SSE event that tells the page the server re-rendered
// its current state instead of replaying what it missed.
const EventResync = "beacon:resync"

// EventRetry is the named SSE event that carries the retry hint before the
// server ends a stream (eviction, shutdown): htmx 4 ignores a bare "retry:".
const EventRetry = "beacon:retry"

// The one live connection a browser's tabs share (static/tabs.js).
const (
	// QueryShared is the /live query parameter ("shared=1") that asks for
	// it: every event names its topic, and topics the viewer may not read
	// are dropped (and listed in HeaderRefusedTopics) instead of refusing
	// the connection.
	QueryShared = "shared"
	// SharedTopics is how many topics it may carry: the union of the
	// topics of a browser's tabs (a page's own connection carries 16).
	SharedTopics = 64
	// HeaderRefusedTopics lists the topics it dropped, each as its status
	// and its name (path-escaped): "403 server-metrics, 401 user:5".
	HeaderRefusedTopics = "Beacon-Refused-Topics"
)

// Topics of the dashboard. TopicMetrics carries the posted metrics that
// everyone sees, TopicServerMetrics the same panel with the server's own
// figures too, for admins only; the charts have a topic per range
// (TopicChartRange, TopicServerChartRange). TopicChart is the embedded
// chart widget's (the default range, no links to others) and
// TopicStreamChart the zero-JavaScript stream's (ChartCompact).
const (
	TopicMetrics       = "metrics"
	TopicChart         = "chart"
	TopicStreamChart   = "chart-stream"
	TopicActivity      = "activity"
	TopicServerMetrics = "server-metrics"
)

// Chart topics by range, and a posted metric's own: chart:5m (the posted
// metrics), server-chart:5m (the server's series too, for admins),
// chart:5m:queue depth (one metric's page). Metric names hold no commas,
// so a topic list can carry them as they are.
const (
	topicChartPrefix       = "chart:"
	topicServerChartPrefix = "server-chart:"
)

// TopicChartRange is the topic of the dashboard's chart panel over r.
func TopicChartRange(r ChartRange) string { return topicChartPrefix + r.Name }

// TopicServerChartRange is the topic of an admin's chart panel over r.
func TopicServerChartRange(r ChartRange) string { return topicServerChartPrefix + r.Name }

// TopicSeries is the topic of a posted metric's page over r.
func TopicSeries(r ChartRange, name string) string { return topicChartPrefix + r.Name + ":" + name }

// ChartTopic is a chart topic taken apart.
type ChartTopic struct {
	Range ChartRange
	// Series is the metric of a page's topic; empty for a panel's.
	Series string
	// Server says it is an admin's panel.
	Server bool
}

// ParseChartTopic takes a topic made by TopicChartRange,
// TopicServerChartRange or TopicSeries apart; ok is false for any other
// topic. The name of a series is not checked.
func ParseChartTopic(topic string) (ct ChartTopic, ok bool) {
	rest, server := strings.CutPrefix(topic, topicServerChartPrefix)
	if !server {
		if rest, ok = strings.CutPrefix(topic, topicChartPrefix); !ok {
			return ChartTopic{}, false
		}
	}
	name, series, hasSeries := strings.Cut(rest, ":")
	r, ok := ChartRangeNamed(name)
	if !ok || hasSeries && (server || series == "") {
		return ChartTopic{}, false
	}
	return ChartTopic{Range: r, Series: series, Server: server}, true
}

// The data-format of a <time> element, which says how static/beacon-paint.js
// shows it in the viewer's zone. Without one: relative within the hour
// ("3 min ago", "in 5 min"), the clock time on the same day, else the date.
const (
	// TimeFormatSeconds always shows the clock time, with seconds: a
	// reading that is always recent, whose every change should show.
	TimeFormatSeconds = "seconds"
	// TimeFormatClock always shows the clock time.
	TimeFormatClock = "clock"
	// TimeFormatDay shows the date of a midnight (a chart's day tick), or
	// the clock time where the viewer's midnight is elsewhere.
	TimeFormatDay = "day"
)

// A chart's time ticks are drawn once for every viewer, in UTC, with
// data-at (the instant, RFC 3339) and data-format (as <time>'s);
// beacon-paint.js rewrites them, and the zone label marked data-zone, in
// the viewer's zone. A column's hover text starts with its UTC clock time
// ("15:04:05 · …"), dated from the data-end of the plot it is in (one
// attribute a figure, not one a column: a chart is sent every tick).

// ActivityItems is how many activity items the feed shows.
const ActivityItems = 50

// Chat room ids and topics.
const (
	// IDMessages is a room's message list; new messages are appended.
	IDMessages = "messages"
	// IDOnline is a room's list of people online.
	IDOnline = "online"
	// IDTyping is a room's "… is typing" line.
	IDTyping = "typing"
	// IDChatForm is the message form; the server sends it back cleared.
	IDChatForm = "chat-form"
	// IDChatError shows why the last message was refused.
	IDChatError = "chat-error"
	// IDRoomSocket holds a room page's WebSocket.
	IDRoomSocket = "room-socket"
	// IDRooms is the dashboard's list of active rooms.
	IDRooms = "rooms-panel"
	// IDWidgetPost is a room widget's message form.
	IDWidgetPost = "widget-post"
	// IDNewMessages is the "New messages" button that appears under a
	// room's list when a message arrives while the reader is scrolled up.
	IDNewMessages = "new-messages"
	// AttrViewer, on a room's messages panel, is the name the viewer chats
	// under: the typing line leaves it out of what the viewer is shown.
	AttrViewer = "data-viewer"
	// AttrTyping, on the typing line, lists everyone typing (JSON).
	AttrTyping = "data-typing"

	// TopicRooms carries the dashboard's list of active rooms.
	TopicRooms = "rooms"
)

// TopicRoom, TopicPresence and TopicTyping name a room's topics: its messages
// (a log), who is online and who is typing (state).
func TopicRoom(room string) string     { return "room:" + room }
func TopicPresence(room string) string { return "presence:" + room }
func TopicTyping(room string) string   { return "typing:" + room }

// HistoryPage is how many messages a room page shows at first.
const HistoryPage = 50

// Accounts and notifications.
const (
	// IDBell is the header's link to the notifications, with the unread count.
	IDBell = "bell"
	// IDNotifications is the notifications page's list; new ones go on top.
	IDNotifications = "notification-list"
	// IDCSRF is a hidden field with the page's CSRF token, which forms that
	// arrive over the live connection include (hx-include).
	IDCSRF = "csrf"
	// FieldCSRF is the form field that carries the CSRF token.
	FieldCSRF = "_csrf"
	// HeaderCSRF is the request header that may carry it instead.
	HeaderCSRF = "X-CSRF-Token"
)

// TopicUser names a user's private topic: notifications and their reads.
func TopicUser(id int64) string { return topicUserPrefix + strconv.FormatInt(id, 10) }

// UserOfTopic returns the user whose private topic topic is, if it is one:
// any "user:…" topic is, and ok is false only for other kinds (a bad id
// comes back as 0, which is no one's).
func UserOfTopic(topic string) (id int64, ok bool) {
	rest, ok := strings.CutPrefix(topic, topicUserPrefix)
	if !ok {
		return 0, false
	}
	id, _ = strconv.ParseInt(rest, 10, 64)
	return id, true
}

const topicUserPrefix = "user:"

// NotificationID is the DOM id of a notification; NotificationStateID of
// the part of it that says whether it was read.
func NotificationID(pos int64) string      { return "notification-" + strconv.FormatInt(pos, 10) }
func NotificationStateID(pos int64) string { return NotificationID(pos) + "-state" }

// NotificationItems is how many notifications the notifications page shows.
const NotificationItems = 50

// The rooms index (GET /rooms) and who is online now.
const (
	// IDRoomsIndex holds the index's list of rooms; the fragment shared by
	// every viewer replaces it.
	IDRoomsIndex = "rooms-index"
	// IDRoomReads holds how far the viewer has read each room (a data
	// element per room, RoomReadID): static/rooms.js makes the unread
	// counts of the list from them.
	IDRoomReads = "room-reads"
	// IDOnlineNow holds the list of who is online anywhere on the site.
	IDOnlineNow = "online-now"
	// IDRoomReader is on a signed-in reader's live room page: static/rooms.js
	// tells the server (its data-url) when they have read newer messages.
	IDRoomReader = "room-reader"

	// TopicRoomsIndex carries the index's list of rooms; TopicOnline who is
	// online now. Both are state, rendered once for every viewer.
	TopicRoomsIndex = "rooms-index"
	TopicOnline     = "online"
)

// RoomReadID is the DOM id of the data element that says how far the viewer
// has read room; IndexRoomID of room's item in the index.
func RoomReadID(room string) string  { return "read-" + room }
func IndexRoomID(room string) string { return "index-" + room }

// IndexRooms is how many rooms with messages one page of the index lists
// (the first page lists every room with people in it besides);
// IndexPeopleShown how many of the people in a room it names; OnlineShown
// how many people the online list names.
const (
	IndexRooms       = 50
	IndexPeopleShown = 5
	OnlineShown      = 100
)

// HeaderSocketCheck is the header of a room page's socket check: when its
// WebSocket does not open, the page asks the same URL with a plain GET and
// this header, holding the page's origin, and shows the reason the server
// gives (a browser cannot read a refused upgrade's answer).
const HeaderSocketCheck = "X-Beacon-Socket-Check"
