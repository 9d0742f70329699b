package handlers

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

// handleWidgetStream serves GET /stream/:widget and /stream/rooms/:room: the
// widget as one chunked HTML document that needs no JavaScript. Every
// update appends the widget as it is now; the stylesheet shows only the
// newest. The stream ends after its lifetime, or when the token expires,
// with an element that reloads the frame; revoking the token ends it at
// once.
//
// State widgets (metrics, chart) append the panel the hub published,
// rendered once for every viewer (the chart's compact, on ticks only);
// an update whose bytes are the ones the viewer has appends nothing, so
// an unchanged widget costs its viewers nothing. Log widgets (activity, room) re-read
// their newest items, since a page that cannot run script cannot insert
// one item into a list, once per event for all viewers (logFrames).
func handleWidgetStream(streams *live.Streams, auth widgetAuth, data widgetData, kind string, log *slog.Logger) echo.HandlerFunc {
	cache := &logFrames{byTopic: map[string]logFrame{}}
	return func(c echo.Context) error {
		room, err := widgetRoom(c, kind)
		if err != nil {
			return err
		}
		claims, err := auth.check(c, kind, room)
		if err != nil {
			return widgetError(c, err)
		}
		page := views.Widget{Title: widgetTitle(claims), Theme: theme(c)}
		current := func(ctx context.Context) (templ.Component, error) {
			return data.streamed(ctx, claims)
		}
		topics := widgetTopics(claims)
		if claims.Widget == widget.Chart {
			topics = []string{views.TopicStreamChart} // compact, and published on ticks only
		}
		// sent is the widget as the viewer has it: an update that would
		// append the same again appends nothing. Start and Update run one
		// at a time, on whichever of the pump's writers serves the stream.
		var sent []byte
		// Revoking the token ends the stream. The stream outlives this
		// handler (live takes it from net/http once it has started), so the
		// hold is on a context of its own, released when the stream ends.
		held, release := auth.conns.hold(context.WithoutCancel(c.Request().Context()), claims.ID)
		err = streams.Serve(c.Response(), c.Request(), live.StreamPage{
			Topics:   topics,
			Lifetime: time.Until(time.Unix(claims.Expires, 0)),
			Context:  held,
			OnEnd: func(err error) {
				if err != nil && !errors.Is(err, live.ErrClosed) && held.Err() == nil {
					log.Debug("widget stream ended", "err", err)
				}
				release()
			},
			Start: func(ctx context.Context, w io.Writer) error {
				body, err := current(ctx)
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				if err := body.Render(ctx, &buf); err != nil {
					return err
				}
				sent = buf.Bytes()
				if err := views.StreamStart(page).Render(ctx, w); err != nil {
					return err
				}
				return views.StreamFrame(views.Rendered(sent)).Render(ctx, w)
			},
			Update: func(ctx context.Context, w io.Writer, frames []live.Frame) error {
				last := frames[len(frames)-1]
				html := last.Data
				if Classify(last.Topic) == live.Log {
					var err error
					if html, err = cache.get(ctx, last.Topic, last.Position, current); err != nil {
						return err
					}
				}
				if bytes.Equal(html, sent) {
					return nil
				}
				sent = html
				return views.StreamFrame(views.Rendered(html)).Render(ctx, w)
			},
			End: func(w io.Writer, reload time.Duration) error {
				secs := int(math.Ceil(reload.Seconds()))
				return views.StreamEnd(secs).Render(context.Background(), w)
			},
		})
		if err != nil && !errors.Is(err, live.ErrClosed) && !c.Response().Committed {
			return err // nothing was sent: the error page can be
		}
		return nil
	}
}

// metricsPanel is the posted metrics' panel as pages show it: the one the
// board rendered at its last publish for every page, or, before the first,
// rendered now.
func (d widgetData) metricsPanel() templ.Component {
	if html := d.board.MetricsPage(false); html != nil {
		return views.Rendered(html)
	}
	return views.MetricsPanel(d.board.Metrics(), false)
}

// streamed renders the widget of claims as a stream shows it: the same
// panels as the dashboard for state widgets, the newest items of a log.
func (d widgetData) streamed(ctx context.Context, claims widget.Claims) (templ.Component, error) {
	switch claims.Widget {
	case widget.Metrics:
		return d.metricsPanel(), nil
	case widget.Chart:
		return views.ChartPanelStatic(d.board.StreamChart(ctx)), nil
	case widget.Activity:
		items, _, err := d.feed.RecentActivities(ctx, views.StreamItems)
		return views.ActivityWidgetStatic(activityViews(items)), err
	default:
		msgs, _, err := d.history.Messages(ctx, claims.Room, 0, views.StreamItems)
		return views.RoomWidgetStatic(views.WidgetRoom{Name: claims.Room, Messages: messageViews(msgs)}), err
	}
}

// logFrames renders a log widget's newest items once per event for every
// viewer of its stream: without it, each event of a room with N viewers
// was N reads of the database and N renders.
type logFrames struct {
	mu      sync.Mutex
	byTopic map[string]logFrame // guarded by mu
}

// logFrame is a log widget rendered as of position.
type logFrame struct {
	position int64
	html     []byte
}

// maxLogFrames bounds the topics kept; past it the table starts over.
const maxLogFrames = 1024

// get returns the widget of topic rendered as of position or later,
// rendering it with current when no viewer has yet. A render that raced a
// newer event is kept only if it is not older than what is there.
func (l *logFrames) get(ctx context.Context, topic string, position int64,
	current func(context.Context) (templ.Component, error)) ([]byte, error) {
	l.mu.Lock()
	f, ok := l.byTopic[topic]
	l.mu.Unlock()
	if ok && f.position >= position {
		return f.html, nil
	}
	c, err := current(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.byTopic) >= maxLogFrames {
		clear(l.byTopic)
	}
	if f, ok := l.byTopic[topic]; !ok || f.position < position {
		l.byTopic[topic] = logFrame{position: position, html: buf.Bytes()}
	}
	return buf.Bytes(), nil
}
