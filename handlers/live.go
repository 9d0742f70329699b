package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// maxTopics bounds how many topics one connection may carry.
const maxTopics = 16

// topicRule says whether a topic exists and whether this request may read
// it: nil, or an error that says why not (404, 403, 401 to sign in).
type topicRule func(topic string) error

// dashboardTopic reports whether topic is one of the dashboard's shared
// topics: every member reads them, and signed-out visitors too when the
// dashboard is public.
func dashboardTopic(topic string) bool {
	switch topic {
	case views.TopicMetrics, views.TopicChart, views.TopicActivity, views.TopicRooms:
		return true
	}
	// A chart's range, or a posted metric's page (a name a metric may have).
	ct, ok := views.ParseChartTopic(topic)
	return ok && !ct.Server && (ct.Series == "" || checkName(ct.Series) == nil)
}

// roomTopic reports whether topic is a room's messages, presence or
// typing: every member reads them, and signed-out visitors too when the
// dashboard is public or guests may post.
func roomTopic(topic string) bool {
	kind, room, ok := strings.Cut(topic, ":")
	if !ok || checkRoom(room) != nil {
		return false
	}
	switch topic {
	case views.TopicRoom(room), views.TopicPresence(room), views.TopicTyping(room):
		return kind != ""
	}
	return false
}

// directoryTopic reports whether topic is the rooms index's or the online
// list's: read like the rooms'.
func directoryTopic(topic string) bool {
	return topic == views.TopicRoomsIndex || topic == views.TopicOnline
}

// serverTopic reports whether topic carries the server panel: an admin's.
func serverTopic(topic string) bool {
	ct, ok := views.ParseChartTopic(topic)
	return topic == views.TopicServerMetrics || ok && ct.Server
}

// topicAccess says which shared topics signed-out visitors may read (Access
// and the guests setting decide).
type topicAccess struct {
	dashboard bool // the dashboard's topics
	rooms     bool // the rooms' topics
	guests    bool // signed-out visitors may post under a chosen name
}

// viewerTopics is the rule of /live: the dashboard's and the rooms' topics
// for members (and for signed-out visitors as open says), the server
// panel's for admins, and a user's private topic for that user only. A
// request with a token of scope read acts as its owner (accountOf); a
// server token reads what an admin reads, and no one's private topic.
func viewerTopics(c echo.Context, open topicAccess) topicRule {
	return func(topic string) error {
		a, ok := accountOf(c)
		signIn := func(what string) error {
			return &fieldError{Status: http.StatusUnauthorized, Field: "topics",
				Message: fmt.Sprintf("sign in (or send an API token with scope read) to read %q: this server shows its %s to members only", topic, what)}
		}
		switch {
		case dashboardTopic(topic):
			if !ok && !open.dashboard {
				return signIn("dashboard")
			}
			return nil
		case roomTopic(topic), directoryTopic(topic):
			if !ok && !open.rooms {
				return signIn("rooms")
			}
			return nil
		case serverTopic(topic):
			if !ok || !a.Admin {
				return &fieldError{Status: http.StatusForbidden, Field: "topics",
					Message: fmt.Sprintf("%q is the server panel's topic; only an admin may read it", topic)}
			}
			return nil
		case !isUserTopic(topic):
			return &fieldError{Status: http.StatusNotFound, Field: "topics", Message: fmt.Sprintf("no such topic %q", topic)}
		}
		switch {
		case !ok:
			return &fieldError{Status: http.StatusForbidden, Field: "topics",
				Message: fmt.Sprintf("%q is a private topic; sign in as its owner to read it", topic)}
		case a.ID == 0:
			return &fieldError{Status: http.StatusForbidden, Field: "topics",
				Message: fmt.Sprintf("%q is a private topic, and a server token is no one's: use a token its owner made (or beacon token create --user)", topic)}
		case topic != views.TopicUser(a.ID):
			return &fieldError{Status: http.StatusForbidden, Field: "topics",
				Message: fmt.Sprintf("%q is another person's private topic", topic)}
		}
		return nil
	}
}

// Classify returns the class of a topic: the activity feed, room messages
// and users' notifications are logs; everything else is state.
func Classify(topic string) live.Class {
	if topic == views.TopicActivity || strings.HasPrefix(topic, views.TopicRoom("")) || isUserTopic(topic) {
		return live.Log
	}
	return live.State
}

// isUserTopic reports whether topic is a user's private topic.
func isUserTopic(topic string) bool {
	_, ok := views.UserOfTopic(topic)
	return ok
}

// handleLive serves GET /live?topics=a,b,c: the page's one SSE connection.
// It resumes from Last-Event-ID, or from the position in ?after= that the
// page was rendered at. Programs (beacon tail) add format=json.
//
// With ?shared=1 it is the one connection a browser's tabs share
// (static/tabs.js): it carries more topics (parseSharedTopics), drops the
// ones this viewer may not read instead of refusing them all, and every
// event names its topic (live.Request.TopicField).
//
// A signed-in viewer's stream belongs to its session: signing out, or
// revoking the session, ends it at once; a program's (a token of scope
// read, bearerAccount) to its token, and revoking the token ends it.
func handleLive(sse *live.SSE, held conns, open topicAccess, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		shared := c.QueryParam(views.QueryShared) == "1"
		var topics []string
		var err error
		if shared {
			topics, err = parseSharedTopics(c, c.QueryParam("topics"), viewerTopics(c, open))
		} else {
			topics, err = parseTopics(c.QueryParam("topics"), viewerTopics(c, open))
		}
		if err != nil {
			return err
		}
		program := false
		switch f := c.QueryParam("format"); f {
		case "":
		case "json":
			program = true // every event named by its topic, its data a JSON object (live/program.go)
		default:
			return badField("format", `must be "json" (for programs: each event named by its topic, its data a JSON object) or left out (got %q)`, truncate(f, 32))
		}
		resume := c.Request().Header.Get("Last-Event-ID")
		if resume == "" {
			resume = c.QueryParam("after")
		}
		r := c.Request()
		a, ok := accountOf(c)
		// The stream outlives this handler (live takes it from net/http
		// once it has started), so its hold on the session or token is on
		// a context of its own, released when the stream ends.
		base := context.WithoutCancel(r.Context())
		ctx, release := held.hold(base, a, ok)
		req := live.Request{Topics: topics, Resume: resume, User: liveUserKey(c, open.guests), Program: program, TopicField: shared}
		if ctx != base {
			req.Context = ctx
		}
		req.OnEnd = func(err error) {
			if err != nil && !errors.Is(err, live.ErrClosed) && ctx.Err() == nil {
				log.Debug("live stream ended", "err", err)
			}
			release()
		}
		sse.Serve(c.Response(), r, req) //nolint:errcheck // OnEnd has it
		return nil
	}
}

// maxTopicList bounds the length of a topic list in bytes: sixteen of the
// longest topics ("presence:" and a 64-character room) with their commas
// take about 1.2 KB.
const maxTopicList = 2 << 10

// maxSharedTopicList is maxTopicList for a connection that a browser's tabs
// share (views.SharedTopics topics): 64 of the longest take about 4.7 KB.
const maxSharedTopicList = 8 << 10

// parseTopics splits a comma-separated topic list, drops duplicates and
// checks each topic. A list longer than maxTopicList bytes or with more than
// maxTopics entries is refused before it is split, so a hostile list costs
// no more than a page's.
func parseTopics(s string, allowed topicRule) ([]string, error) {
	topics, err := splitTopics(s, maxTopics, maxTopicList)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if err := allowed(t); err != nil {
			return nil, err
		}
	}
	return topics, nil
}

// splitTopics splits a comma-separated topic list of at most most entries
// and maxBytes bytes, and drops duplicates; it checks no topic.
func splitTopics(s string, most, maxBytes int) ([]string, error) {
	switch {
	case s == "":
		return nil, badField("topics", "name at least one topic, e.g. topics=metrics,activity")
	case len(s) > maxBytes:
		return nil, badField("topics", "is %d bytes long; a list holds at most %d bytes", len(s), maxBytes)
	case strings.Count(s, ",") >= most:
		return nil, badField("topics", "at most %d topics per connection", most)
	}
	parts := strings.Split(s, ",")
	topics := make([]string, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for _, t := range parts {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, badField("topics", "holds an empty topic name; separate names with single commas")
		}
		if !seen[t] {
			seen[t] = true
			topics = append(topics, t)
		}
	}
	return topics, nil
}

// parseSharedTopics reads the topic list of a connection that a browser's
// tabs share (?shared=1): up to views.SharedTopics topics, each checked on
// its own. The topics this request may not read are dropped, each listed
// with its status in the views.HeaderRefusedTopics response header (so the
// tabs that show them can say why, while the others stay live); only when
// none is left is the connection refused, with the first topic's error.
func parseSharedTopics(c echo.Context, s string, allowed topicRule) ([]string, error) {
	topics, err := splitTopics(s, views.SharedTopics, maxSharedTopicList)
	if err != nil {
		return nil, err
	}
	kept := topics[:0:0]
	var refused []string
	var first error
	for _, t := range topics {
		err := allowed(t)
		if err == nil {
			kept = append(kept, t)
			continue
		}
		if first == nil {
			first = err
		}
		status, _ := classify(err)
		refused = append(refused, strconv.Itoa(status)+" "+url.PathEscape(t))
	}
	if len(refused) > 0 {
		c.Response().Header().Set(views.HeaderRefusedTopics, strings.Join(refused, ", "))
	}
	if len(kept) == 0 {
		return nil, first
	}
	return kept, nil
}
