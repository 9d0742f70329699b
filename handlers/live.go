package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// maxTopics bounds how many topics one connection may carry.
const maxTopics = 16

// topicRule says whether a topic exists and whether this request may read
// it: nil, or an error that says why not (404, 403).
type topicRule func(topic string) error

// publicTopics are the topics anyone may read: the dashboard's, and every
// room's messages, presence and typing (read-only, for viewers and embeds).
func publicTopics(topic string) bool {
	switch topic {
	case views.TopicMetrics, views.TopicChart, views.TopicActivity, views.TopicRooms:
		return true
	}
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

// viewerTopics is the rule of /live: the public topics for anyone, and a
// user's private topic for that user only.
func viewerTopics(c echo.Context) topicRule {
	return func(topic string) error {
		if publicTopics(topic) {
			return nil
		}
		if !isUserTopic(topic) {
			return &fieldError{Status: http.StatusNotFound, Field: "topics", Message: fmt.Sprintf("no such topic %q", topic)}
		}
		s := sessionOf(c)
		switch {
		case s == nil:
			return &fieldError{Status: http.StatusForbidden, Field: "topics",
				Message: fmt.Sprintf("%q is a private topic; sign in as its owner to read it", topic)}
		case topic != views.TopicUser(s.User.ID):
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
// page was rendered at.
//
// A signed-in viewer's stream belongs to its session: signing out, or
// revoking the session, ends it at once.
func handleLive(sse *live.SSE, sessions *liveSessions, log *slog.Logger) echo.HandlerFunc {
	return func(c echo.Context) error {
		topics, err := parseTopics(c.QueryParam("topics"), viewerTopics(c))
		if err != nil {
			return err
		}
		resume := c.Request().Header.Get("Last-Event-ID")
		if resume == "" {
			resume = c.QueryParam("after")
		}
		r := c.Request()
		req := live.Request{Topics: topics, Resume: resume, User: viewerKey(c)}
		release := func() {}
		if s := sessionOf(c); s != nil {
			// The stream outlives this handler (live takes it from net/http
			// once it has started), so its hold on the session is on a
			// context of its own, released when the stream ends.
			req.Context, release = sessions.hold(context.WithoutCancel(r.Context()), s.ID)
		}
		req.OnEnd = func(err error) {
			release()
			if err != nil && !errors.Is(err, live.ErrClosed) {
				log.Debug("live stream ended", "err", err)
			}
		}
		sse.Serve(c.Response(), r, req) //nolint:errcheck // OnEnd has it
		return nil
	}
}

// parseTopics splits a comma-separated topic list, drops duplicates and
// checks each topic.
func parseTopics(s string, allowed topicRule) ([]string, error) {
	if s == "" {
		return nil, badField("topics", "name at least one topic, e.g. topics=metrics,activity")
	}
	parts := strings.Split(s, ",")
	topics := make([]string, 0, len(parts))
	for _, t := range parts {
		t = strings.TrimSpace(t)
		if t == "" {
			return nil, badField("topics", "holds an empty topic name; separate names with single commas")
		}
		if !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) > maxTopics {
		return nil, badField("topics", "at most %d topics per connection", maxTopics)
	}
	for _, t := range topics {
		if err := allowed(t); err != nil {
			return nil, err
		}
	}
	return topics, nil
}
