package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// renderEvent renders a durable event as the frame its topic's pages swap
// in. The same function serves the live publish and the replay, so a resumed
// client sees exactly what a connected one saw.
func renderEvent(ctx context.Context, epoch string, ev db.Event) (live.Frame, error) {
	f := live.Frame{Topic: ev.Topic, Position: ev.Position, At: ev.At}
	var buf bytes.Buffer
	switch ev.Kind {
	case "message":
		var m db.Message
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			return f, fmt.Errorf("event %d: %w", ev.Position, err)
		}
		if err := views.MessageFragment(messageViews([]db.Message{m})[0]).Render(ctx, &buf); err != nil {
			return f, err
		}
		js, err := json.Marshal(messageOut{Type: "message", ID: live.FormatID(epoch, m.Position), Message: m})
		if err != nil {
			return f, err
		}
		f.JSON = js
	case "activity":
		var a db.Activity
		if err := json.Unmarshal(ev.Data, &a); err != nil {
			return f, fmt.Errorf("event %d: %w", ev.Position, err)
		}
		if err := views.ActivityItemFragment(activityView(a)).Render(ctx, &buf); err != nil {
			return f, err
		}
	case "notification", "read":
		var u db.UserEvent
		if err := json.Unmarshal(ev.Data, &u); err != nil {
			return f, fmt.Errorf("event %d: %w", ev.Position, err)
		}
		c := views.ReadFragment(u.Read, u.Unread)
		if u.Notification != nil {
			c = views.NotificationFragment(notificationView(*u.Notification), u.Unread)
		}
		if err := c.Render(ctx, &buf); err != nil {
			return f, err
		}
	default:
		return f, fmt.Errorf("event %d: unknown kind %q", ev.Position, ev.Kind)
	}
	f.Data = buf.Bytes()
	return f, nil
}

// Publisher renders every committed event once and publishes it, in commit
// order. Its Committed method is the database's commit hook: it runs on the
// database's writer goroutine and never blocks (Hub.Publish does not).
// cmd/beacon sets Hub and Board after opening the database, before the first
// write.
type Publisher struct {
	Hub   *live.Hub
	Board *Board
	Log   *slog.Logger
}

// Committed publishes events that were just committed, as one batch: a
// reader of several of them gets them in one write.
func (p *Publisher) Committed(events []db.Event) {
	frames := make([]live.Frame, 0, len(events))
	now := time.Now() // the latency metric measures commit → socket write
	for _, ev := range events {
		f, err := renderEvent(context.Background(), p.Hub.Epoch(), ev)
		if err != nil {
			p.Log.Error("render event", "err", err)
			continue
		}
		f.At = now
		frames = append(frames, f)
	}
	p.Hub.PublishBatch(frames)
	p.Board.Committed(len(events))
}

// logReader reads the durable log and the feed.
type logReader interface {
	EventsAfter(ctx context.Context, topics []string, after int64, limit int) ([]db.Event, error)
	Horizon(ctx context.Context) (horizon, head int64, err error)
	feedReader
	historyReader
	Notifications(ctx context.Context, userID int64, limit int) ([]db.Notification, int, int64, error)
}

// Source is the live.Source of the dashboard's topics: it replays the log
// and renders the current state.
type Source struct {
	epoch string
	log   logReader
	class func(string) live.Class
}

var _ live.Source = (*Source)(nil)

// NewSource returns the source that resumes live connections from store.
func NewSource(epoch string, store logReader) *Source {
	return &Source{epoch: epoch, log: store, class: Classify}
}

// messageOut is a chat message as programs read it (subprotocol
// beacon.v1.json): the stored message with its type and resume id.
type messageOut struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	db.Message
}

// Horizon implements live.Source.
func (s *Source) Horizon(ctx context.Context) (int64, int64, error) { return s.log.Horizon(ctx) }

// Since implements live.Source.
func (s *Source) Since(ctx context.Context, topics []string, after int64, limit int) ([]live.Frame, error) {
	logs := make([]string, 0, len(topics))
	for _, t := range topics {
		if s.class(t) == live.Log {
			logs = append(logs, t)
		}
	}
	events, err := s.log.EventsAfter(ctx, logs, after, limit)
	if err != nil {
		return nil, err
	}
	frames := make([]live.Frame, 0, len(events))
	for _, ev := range events {
		f, err := renderEvent(ctx, s.epoch, ev)
		if err != nil {
			return nil, err
		}
		frames = append(frames, f)
	}
	return frames, nil
}

// Snapshot implements live.Source: the feed, a room's last messages or a
// user's notifications as they are now. State topics (metrics, chart, presence, typing) need nothing:
// the hub hands every new subscriber their newest frames.
func (s *Source) Snapshot(ctx context.Context, topics []string) ([]live.Frame, int64, error) {
	var frames []live.Frame
	var at int64
	read := false // whether at was read together with a snapshot
	add := func(t string, c templ.Component, head int64) error {
		var buf bytes.Buffer
		if err := c.Render(ctx, &buf); err != nil {
			return err
		}
		frames = append(frames, live.Frame{Topic: t, Data: buf.Bytes()})
		// Each log topic is read at its own moment. With several, the
		// client starts at the oldest of them: nothing is lost, and an item
		// of another topic may arrive again live (its DOM id is the same).
		if !read || head < at {
			at = head
		}
		read = true
		return nil
	}
	for _, t := range topics {
		switch {
		case t == views.TopicActivity:
			items, head, err := s.log.RecentActivities(ctx, views.ActivityItems)
			if err != nil {
				return nil, 0, err
			}
			if err := add(t, views.ActivityFeedFragment(activityViews(items)), head); err != nil {
				return nil, 0, err
			}
		case isUserTopic(t):
			id, _ := views.UserOfTopic(t)
			items, unread, head, err := s.log.Notifications(ctx, id, views.NotificationItems)
			if err != nil {
				return nil, 0, err
			}
			if err := add(t, views.NotificationsFragment(notificationViews(items), unread), head); err != nil {
				return nil, 0, err
			}
		case strings.HasPrefix(t, views.TopicRoom("")):
			room := strings.TrimPrefix(t, views.TopicRoom(""))
			msgs, head, err := s.log.Messages(ctx, room, 0, views.HistoryPage)
			if err != nil {
				return nil, 0, err
			}
			if err := add(t, views.MessageListFragment(messageViews(msgs)), head); err != nil {
				return nil, 0, err
			}
		}
	}
	if !read {
		// No log topic: the position is the head now. (Reading it again
		// after a snapshot would pass events committed since, whatever the
		// head the snapshot saw, 0 included.)
		_, head, err := s.log.Horizon(ctx)
		if err != nil {
			return nil, 0, err
		}
		at = head
	}
	return frames, at, nil
}
