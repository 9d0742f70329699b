package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
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
// with an element that reloads the frame.
//
// State widgets (metrics, chart) append the panel the hub published,
// rendered once for every viewer; log widgets (activity, room) re-read
// their newest items, since a page that cannot run script cannot insert
// one item into a list.
func handleWidgetStream(streams *live.Streams, auth widgetAuth, data widgetData, kind string, log *slog.Logger) echo.HandlerFunc {
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
		err = streams.Serve(c.Response(), c.Request(), live.StreamPage{
			Topics:   widgetTopics(claims),
			Lifetime: time.Until(time.Unix(claims.Expires, 0)),
			Start: func(ctx context.Context, w io.Writer) error {
				body, err := current(ctx)
				if err != nil {
					return err
				}
				if err := views.StreamStart(page).Render(ctx, w); err != nil {
					return err
				}
				return views.StreamFrame(body).Render(ctx, w)
			},
			Update: func(ctx context.Context, w io.Writer, frames []live.Frame) error {
				body := templ.Component(templ.Raw(string(frames[len(frames)-1].Data)))
				if Classify(frames[0].Topic) == live.Log {
					var err error
					if body, err = current(ctx); err != nil {
						return err
					}
				}
				return views.StreamFrame(body).Render(ctx, w)
			},
			End: func(w io.Writer, reload time.Duration) error {
				secs := int(math.Ceil(reload.Seconds()))
				return views.StreamEnd(secs).Render(context.Background(), w)
			},
		})
		if err != nil && !errors.Is(err, live.ErrClosed) && c.Request().Context().Err() == nil {
			if !c.Response().Committed {
				return err
			}
			log.Debug("widget stream ended", "err", err)
		}
		return nil
	}
}

// streamed renders the widget of claims as a stream shows it: the same
// panels as the dashboard for state widgets, the newest items of a log.
func (d widgetData) streamed(ctx context.Context, claims widget.Claims) (templ.Component, error) {
	switch claims.Widget {
	case widget.Metrics:
		return views.MetricsPanel(d.board.Metrics(), false), nil
	case widget.Chart:
		return views.ChartPanel(d.board.Chart(time.Now()), false), nil
	case widget.Activity:
		items, _, err := d.feed.RecentActivities(ctx, views.StreamItems)
		return views.ActivityWidgetStatic(activityViews(items)), err
	default:
		msgs, _, err := d.history.Messages(ctx, claims.Room, 0, views.StreamItems)
		return views.RoomWidgetStatic(views.WidgetRoom{Name: claims.Room, Messages: messageViews(msgs)}), err
	}
}
