package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

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

// handleDashboard serves GET /. The metrics and the chart are the board's,
// rendered once a tick for every page; the activity feed is rendered once
// per position of the log for every page. A page whose feed is up to date
// goes out in one write. Otherwise it streams: the shell, the metrics and
// the chart are flushed first; the feed is read from the database after
// that. The live connection, placed after the feed, starts at the position
// the feed was read at (or the bell's, if older).
//
// An admin's metrics and chart hold the server's own figures too (the
// server panel), live on topics only admins may read; everyone else sees
// the posted metrics. ?range= picks the chart's range (views.ChartRanges),
// and with it the chart's live topic.
func handleDashboard(b *Board, feed feedReader, unread unreadReader, active activeRooms, pages chunker, epoch string) echo.HandlerFunc {
	cache := &feedPanel{}
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
		d := views.Dashboard{Page: page, MetricsHTML: b.MetricsPage(admin), ChartHTML: b.ChartPage(rng, admin)}
		if d.MetricsHTML == nil { // before the board's first publish
			d.Metrics = b.Metrics()
			if admin {
				d.Metrics = b.ServerMetrics()
			}
		}
		if d.ChartHTML == nil { // before the board's first drawing
			d.Chart = b.ChartPanel(ctx, rng, admin)
		}
		d.Rooms, d.MoreRooms = busiestRooms(active.Active())
		panels := []string{views.TopicMetrics, views.TopicChartRange(rng)}
		if admin {
			panels = []string{views.TopicServerMetrics, views.TopicServerChartRange(rng)}
		}
		offer := views.OfferFor(page, "activity", "")
		topics := append(panels, views.TopicRooms, views.TopicActivity)
		if page.Viewer.SignedIn() {
			topics = append(topics, views.TopicUser(page.Viewer.ID))
		}
		// feedAt writes the feed rendered at head, and the live connection
		// that goes on from there.
		feedAt := func(ctx context.Context, w io.Writer, html []byte, head int64) error {
			if err := views.EmbeddablePanel(views.Rendered(html), offer, false).Render(ctx, w); err != nil {
				return err
			}
			return views.LiveConnector(liveURL(topics, epoch, min(head, bellHead))).Render(ctx, w)
		}
		if html, head, ok := cache.upTo(b.hub); ok {
			// Nothing slow is left: the page goes out whole.
			return renderWhole(c, views.DashboardPage(d, templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
				return feedAt(ctx, w, html, head)
			})))
		}
		slow := templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
			items, head, err := feed.RecentActivities(ctx, views.ActivityItems)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := views.ActivityPanel(activityViews(items)).Render(ctx, &buf); err != nil {
				return err
			}
			cache.keep(buf.Bytes(), head)
			return feedAt(ctx, w, buf.Bytes(), head)
		})
		return renderStream(c, pages, views.DashboardPage(d, slow))
	}
}

// feedPanel is the dashboard's activity panel rendered once for every page
// while the log has not moved.
type feedPanel struct {
	mu   sync.Mutex
	html []byte // guarded by mu; ActivityPanel as read at pos
	pos  int64  // guarded by mu
}

// upTo returns the panel if it was read at hub's head of the log or later.
func (f *feedPanel) upTo(hub *live.Hub) ([]byte, int64, bool) {
	head, known := hub.Head()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !known || f.html == nil || f.pos < head {
		return nil, 0, false
	}
	return f.html, f.pos, true
}

// keep stores the panel read at pos, unless a newer one is there.
func (f *feedPanel) keep(html []byte, pos int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.html == nil || pos >= f.pos {
		f.html, f.pos = html, pos
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

// pageBufs holds the buffers whole pages are rendered into.
var pageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// renderWhole renders a page whose parts are all at hand into a buffer and
// writes it at once, with its length: one write instead of a chunk per
// flush. Its headers are a streamed page's.
func renderWhole(c echo.Context, comp templ.Component) error {
	buf := pageBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 256<<10 {
			buf.Reset()
			pageBufs.Put(buf)
		}
	}()
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-transform")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(buf.Bytes())
	return err
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
