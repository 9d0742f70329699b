package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
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
		js, err := json.Marshal(activityOut{Type: "activity", ID: live.FormatID(epoch, a.Position), Activity: a})
		if err != nil {
			return f, err
		}
		f.JSON = js
	case "notification", "read":
		var u db.UserEvent
		if err := json.Unmarshal(ev.Data, &u); err != nil {
			return f, fmt.Errorf("event %d: %w", ev.Position, err)
		}
		c := views.ReadFragment(u.Read, u.Unread)
		out := userEventOut{Type: "read", ID: live.FormatID(epoch, ev.Position), Position: ev.Position, Read: u.Read, Unread: u.Unread}
		if u.Notification != nil {
			c = views.NotificationFragment(notificationView(*u.Notification), u.Unread)
			out.Type, out.Read, out.Notification = "notification", nil, u.Notification
		}
		if err := c.Render(ctx, &buf); err != nil {
			return f, err
		}
		js, err := json.Marshal(out)
		if err != nil {
			return f, err
		}
		f.JSON = js
	case db.KindRoomRead:
		var r db.RoomRead
		if err := json.Unmarshal(ev.Data, &r); err != nil {
			return f, fmt.Errorf("event %d: %w", ev.Position, err)
		}
		if err := views.RoomReadData(views.RoomUnread{Room: r.Room, Unread: r.Unread, Messages: r.Messages}, true).Render(ctx, &buf); err != nil {
			return f, err
		}
	default:
		return f, fmt.Errorf("event %d: unknown kind %q", ev.Position, ev.Kind)
	}
	f.Data = buf.Bytes()
	return f, nil
}

// Publisher publishes every committed event, in commit order, to be
// rendered once if a connection of this instance subscribes to its topic. Its Committed method is the database's commit hook: it runs on the
// database's writer goroutine and never blocks (Hub.Publish does not).
// cmd/beacon sets Hub and Board after opening the database, before the first
// write.
type Publisher struct {
	Hub   *live.Hub
	Board *Board
	Log   *slog.Logger
	// Directory, when set, hears of every message, for the rooms index.
	Directory *Directory

	// sessionEnded closes the live connections of a session that ended
	// (Server.EndSession), on every instance of a cluster, so a sign-out
	// on one closes them on all. Set once the server exists, while
	// commands may already be applied: hence atomic.
	sessionEnded atomic.Pointer[func(id int64)]
	// widgetRevoked closes the live connections of a widget token that
	// was revoked (Server.EndWidget), on every instance alike.
	widgetRevoked atomic.Pointer[func(id int64)]
	// tokenRevoked closes the live connections of an API token that was
	// revoked (Server.EndToken), on every instance alike.
	tokenRevoked atomic.Pointer[func(id int64)]
}

// OnTokenRevoked sets what closes the live connections of an API token
// whose revocation is applied.
func (p *Publisher) OnTokenRevoked(f func(id int64)) { p.tokenRevoked.Store(&f) }

// OnWidgetRevoked sets what closes the live connections of a widget token
// whose revocation is applied.
func (p *Publisher) OnWidgetRevoked(f func(id int64)) { p.widgetRevoked.Store(&f) }

// OnSessionEnded sets what closes the live connections of a session whose
// end is applied.
func (p *Publisher) OnSessionEnded(f func(id int64)) { p.sessionEnded.Store(&f) }

// Committed publishes events that were just committed, as one batch: a
// reader of several of them gets them in one write.
func (p *Publisher) Committed(events []db.Event) {
	frames := make([]live.Frame, 0, len(events))
	now := time.Now() // the latency metric measures commit → socket write
	for _, ev := range events {
		switch ev.Kind {
		case db.KindSessionEnded:
			var e db.SessionEnded
			if f := p.sessionEnded.Load(); f != nil && json.Unmarshal(ev.Data, &e) == nil {
				(*f)(e.Session)
			}
			continue
		case db.KindWidgetRevoked:
			var e db.WidgetRevoked
			if f := p.widgetRevoked.Load(); f != nil && json.Unmarshal(ev.Data, &e) == nil {
				(*f)(e.Token)
			}
			continue
		case db.KindTokenRevoked:
			var e db.TokenRevoked
			if f := p.tokenRevoked.Load(); f != nil && json.Unmarshal(ev.Data, &e) == nil {
				(*f)(e.Token)
			}
			continue
		case db.KindSeriesDeleted:
			var e db.SeriesDeleted
			if json.Unmarshal(ev.Data, &e) == nil {
				p.Board.DeleteSeries(e.Name)
			}
			continue
		}
		if ev.Kind == "message" && p.Directory != nil {
			p.Directory.MessageAdded()
		}
		// Rendered by the hub only if a connection here subscribes to the
		// topic: in a cluster most rooms' members are on other instances.
		frames = append(frames, live.Frame{Topic: ev.Topic, Position: ev.Position, At: now,
			Render: func() ([]byte, []byte, error) {
				f, err := renderEvent(context.Background(), p.Hub.Epoch(), ev)
				return f.Data, f.JSON, err
			}})
	}
	p.Hub.PublishBatch(frames)
	p.Board.Committed(len(events))
}

// logReader reads the durable log and the feed.
type logReader interface {
	EventsAfter(ctx context.Context, topics []string, after int64, limit int) ([]db.Event, int64, error)
	Horizon(ctx context.Context) (horizon, head int64, err error)
	feedReader
	historyReader
	Notifications(ctx context.Context, userID int64, limit int) ([]db.Notification, int, int64, error)
}

// Source is the live.Source of the dashboard's topics: it replays the log
// and renders the current state.
type Source struct {
	epoch  string
	log    logReader
	class  func(string) live.Class
	logger *slog.Logger
}

var _ live.Source = (*Source)(nil)

// NewSource returns the source that resumes live connections from store.
// A read of the log that fails is logged to log at error level.
func NewSource(epoch string, store logReader, log *slog.Logger) *Source {
	return &Source{epoch: epoch, log: store, class: Classify, logger: log}
}

// logFailure logs *err at error level, when it says the log could not be
// read: the stream ends on it (with a retry hint), and nothing else would
// say why. A client that left, a pruned position and shutdown are not
// failures.
func (s *Source) logFailure(ctx context.Context, op string, err *error) {
	if *err == nil || ctx.Err() != nil || errors.Is(*err, live.ErrGap) || errors.Is(*err, db.ErrClosed) {
		return
	}
	s.logger.Error("reading the log failed", "op", op, "err", *err)
}

// messageOut is a chat message as programs read it (subprotocol
// beacon.v1.json): the stored message with its type and resume id.
type messageOut struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	db.Message
}

// activityOut is an activity item as programs read it: the stored item
// with its type and resume id.
type activityOut struct {
	Type string `json:"type"` // "activity"
	ID   string `json:"id"`
	db.Activity
}

// userEventOut is an event of a user's private topic as programs read it
// (a JSON room socket of that user, beacon tail --json): a new
// notification ("notification"), or notifications that were read
// ("read"), with the unread count right after it.
type userEventOut struct {
	Type         string           `json:"type"`
	ID           string           `json:"id"`
	Position     int64            `json:"position"`
	Notification *db.Notification `json:"notification,omitempty"`
	Read         []int64          `json:"read,omitempty"`
	Unread       int              `json:"unread"`
}

// notificationsOut is a user's notifications as they are now, for a
// program that resumed from too far back: it replaces what the program
// had, as the page's list is re-rendered.
type notificationsOut struct {
	Type          string            `json:"type"` // "notifications"
	Notifications []db.Notification `json:"notifications"`
	Unread        int               `json:"unread"`
}

// historyOut is a room's recent messages as programs read them after a
// resync: one frame that replaces what the program had, as a page's list is
// re-rendered, rather than a "message" frame each, which a program could
// not tell from new messages (a bot would answer them again).
type historyOut struct {
	Type     string           `json:"type"` // "history"
	Room     string           `json:"room"`
	Messages []historyMessage `json:"messages"` // oldest first
}

// historyMessage is one message of a history frame: a message frame
// without its type.
type historyMessage struct {
	ID string `json:"id"`
	db.Message
}

// history is the history frame of room's msgs.
func (s *Source) history(room string, msgs []db.Message) historyOut {
	h := historyOut{Type: "history", Room: room, Messages: make([]historyMessage, len(msgs))}
	for i, m := range msgs {
		h.Messages[i] = historyMessage{ID: live.FormatID(s.epoch, m.Position), Message: m}
	}
	return h
}

// Horizon implements live.Source.
func (s *Source) Horizon(ctx context.Context) (_, _ int64, err error) {
	defer s.logFailure(ctx, "horizon", &err)
	return s.log.Horizon(ctx)
}

// Since implements live.Source.
func (s *Source) Since(ctx context.Context, topics []string, after int64, limit int) (_ []live.Frame, err error) {
	defer s.logFailure(ctx, "replay", &err)
	logs := make([]string, 0, len(topics))
	for _, t := range topics {
		if s.class(t) == live.Log {
			logs = append(logs, t)
		}
	}
	if len(logs) == 0 {
		return nil, nil // state topics are not replayed: nothing can be missing
	}
	events, horizon, err := s.log.EventsAfter(ctx, logs, after, limit)
	if err != nil {
		return nil, err
	}
	if after < horizon {
		return nil, live.ErrGap
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
// user's notifications as they are now. A room's frame also has a JSON form
// for programs (historyOut). State topics (metrics, chart, presence, typing) need nothing:
// the hub hands every new subscriber their newest frames.
func (s *Source) Snapshot(ctx context.Context, topics []string) (_ []live.Frame, _ int64, err error) {
	defer s.logFailure(ctx, "snapshot", &err)
	var frames []live.Frame
	var at int64
	read := false // whether at was read together with a snapshot
	add := func(t string, c templ.Component, head int64, js []byte) error {
		var buf bytes.Buffer
		if err := c.Render(ctx, &buf); err != nil {
			return err
		}
		frames = append(frames, live.Frame{Topic: t, Data: buf.Bytes(), JSON: js})
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
			if err := add(t, views.ActivityFeedFragment(activityViews(items)), head, nil); err != nil {
				return nil, 0, err
			}
		case isUserTopic(t):
			id, _ := views.UserOfTopic(t)
			items, unread, head, err := s.log.Notifications(ctx, id, views.NotificationItems)
			if err != nil {
				return nil, 0, err
			}
			if items == nil {
				items = []db.Notification{}
			}
			js, err := json.Marshal(notificationsOut{Type: "notifications", Notifications: items, Unread: unread})
			if err != nil {
				return nil, 0, err
			}
			if err := add(t, views.NotificationsFragment(notificationViews(items), unread), head, js); err != nil {
				return nil, 0, err
			}
		case strings.HasPrefix(t, views.TopicRoom("")):
			room := strings.TrimPrefix(t, views.TopicRoom(""))
			msgs, head, err := s.log.Messages(ctx, room, 0, views.HistoryPage)
			if err != nil {
				return nil, 0, err
			}
			js, err := json.Marshal(s.history(room, msgs))
			if err != nil {
				return nil, 0, err
			}
			if err := add(t, views.MessageListFragment(messageViews(msgs)), head, js); err != nil {
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
