package handlers

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/rooms"
	"github.com/beacon-live/beacon/views"
)

// feedReader reads the activity feed and the log position it was read at.
type feedReader interface {
	RecentActivities(ctx context.Context, limit int) ([]db.Activity, int64, error)
}

// activeRooms lists the running chat rooms.
type activeRooms interface {
	Active() []rooms.Summary
}

// handleDashboard serves GET /. The page streams: the shell, the metrics and
// the chart (all in memory) are flushed first; the activity feed is read from
// the database after that, and the live connection, placed after the feed,
// starts at the position the feed was read at (or the bell's, if older).
//
// An admin's metrics and chart hold the server's own figures too (the
// server panel), live on topics only admins may read; everyone else sees
// the posted metrics. ?range= picks the chart's range (views.ChartRanges),
// and with it the chart's live topic.
func handleDashboard(b *Board, feed feedReader, unread unreadReader, active activeRooms, pages chunker, epoch string) echo.HandlerFunc {
	return func(c echo.Context) error {
		page, bellHead, err := pageFor(c, unread, "Dashboard")
		if err != nil {
			return err
		}
		rng, err := chartRange(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		admin := page.Viewer.Admin
		d := views.Dashboard{Page: page, Metrics: b.Metrics(), ChartHTML: b.ChartPage(rng, admin)}
		if d.ChartHTML == nil { // before the board's first drawing
			d.Chart = b.ChartPanel(ctx, rng, admin)
		}
		d.Rooms, d.MoreRooms = busiestRooms(active.Active())
		panels := []string{views.TopicMetrics, views.TopicChartRange(rng)}
		if admin {
			d.Metrics = b.ServerMetrics()
			panels = []string{views.TopicServerMetrics, views.TopicServerChartRange(rng)}
		}
		slow := templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			items, head, err := feed.RecentActivities(ctx, views.ActivityItems)
			if err != nil {
				return err
			}
			panel := views.EmbeddablePanel(views.ActivityPanel(activityViews(items)), views.OfferFor(page, "activity", ""), false)
			if err := panel.Render(ctx, w); err != nil {
				return err
			}
			topics := append(panels, views.TopicRooms, views.TopicActivity)
			if page.Viewer.SignedIn() {
				topics = append(topics, views.TopicUser(page.Viewer.ID))
			}
			return views.LiveConnector(liveURL(topics, epoch, min(head, bellHead))).Render(ctx, w)
		})
		return renderStream(c, pages, views.DashboardPage(d, slow))
	}
}

// liveURL is the SSE URL of a page that shows topics and was rendered at
// position pos.
func liveURL(topics []string, epoch string, pos int64) string {
	q := url.Values{}
	q.Set("topics", strings.Join(topics, ","))
	q.Set("after", live.FormatID(epoch, pos))
	return "/live?" + q.Encode()
}

func activityViews(items []db.Activity) []views.Activity {
	out := make([]views.Activity, len(items))
	for i, a := range items {
		out[i] = activityView(a)
	}
	return out
}

func activityView(a db.Activity) views.Activity {
	return views.Activity{Position: a.Position, Text: a.Text, Link: a.Link, At: a.At}
}

// chunker makes the writer of a streamed page.
type chunker interface {
	Chunked(w http.ResponseWriter, status int) (*live.Chunked, error)
}

// renderStream writes a full page as it renders: every templ.Flush in the
// component sends what is ready, through the same writer as the widget
// streams (deadlines, no proxy buffering, no compression).
func renderStream(c echo.Context, pages chunker, comp templ.Component) error {
	w, err := pages.Chunked(c.Response(), http.StatusOK)
	if err != nil {
		return err
	}
	if err := comp.Render(c.Request().Context(), w); err != nil {
		return err
	}
	w.Flush()
	return w.Err()
}

// chartRange is the chart range a page asks for with ?range=, the default
// without one.
func chartRange(c echo.Context) (views.ChartRange, error) {
	name := c.QueryParam("range")
	if name == "" {
		return views.DefaultChartRange(), nil
	}
	r, ok := views.ChartRangeNamed(name)
	if !ok {
		return r, badField("range", "must be one of %s, got %q", views.ChartRangeNames(), truncate(name, 16))
	}
	return r, nil
}
