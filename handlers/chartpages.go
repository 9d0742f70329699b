package handlers

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/views"
)

// seriesDeleter deletes a posted metric's samples and tells every
// instance to drop its series.
type seriesDeleter interface {
	DeleteSeries(ctx context.Context, name string, now time.Time) (int64, error)
}

// seriesName is the metric named by the route's :name, unescaped (a name
// may hold "/" and spaces, sent as %2F and %20).
func seriesName(c echo.Context) (string, error) {
	name, err := url.PathUnescape(c.Param("name"))
	if err != nil {
		return "", badField("name", "is not a valid path segment")
	}
	if err := checkName(name); err != nil {
		return "", err
	}
	return name, nil
}

// errNoSeries answers a metric's page or deletion for a name the board
// does not show.
func errNoSeries(name string) error {
	return &fieldError{Status: http.StatusNotFound, Field: "name",
		Message: "no metric named " + truncate(name, maxNameLen) + " (POST /api/metrics makes one)"}
}

// handleSeriesPage serves GET /charts/:name: one posted metric's chart over
// ?range=, live on its own topic, drawn by the board once per tick for
// every viewer. An admin gets a form that deletes the series.
func handleSeriesPage(b *Board, unread unreadReader, head logHead, epoch string) echo.HandlerFunc {
	return func(c echo.Context) error {
		name, err := seriesName(c)
		if err != nil {
			return err
		}
		rng, err := chartRange(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		panel, ok := b.SeriesPanel(ctx, rng, name)
		if !ok {
			return errNoSeries(name)
		}
		page, pos, err := pageFor(c, unread, name)
		if err != nil {
			return err
		}
		topics := []string{views.TopicSeries(rng, name)}
		if page.Viewer.SignedIn() {
			topics = append(topics, views.TopicUser(page.Viewer.ID))
		}
		if pos == math.MaxInt64 { // signed out: no bell's position to start from
			if _, pos, err = head.Horizon(ctx); err != nil {
				return err
			}
		}
		page.LiveURL = liveURL(topics, epoch, pos)
		p := views.SeriesPage{Page: page, Name: name, Panel: panel}
		if page.Viewer.Admin {
			p.DeleteAction = views.SeriesPath(name) + "/delete"
		}
		return render(c, http.StatusOK, views.SeriesChartPage(p))
	}
}

// handleDeleteSeries serves POST /charts/:name/delete, an admin's: the
// metric's samples leave the database and its series every dashboard, on
// every instance, at once (Publisher.Committed, Board.DeleteSeries); the
// browser is sent back to the dashboard.
func handleDeleteSeries(b *Board, store seriesDeleter) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !isAdmin(c) {
			return &fieldError{Status: http.StatusForbidden, Field: "session",
				Message: "only an admin deletes a series"}
		}
		name, err := seriesName(c)
		if err != nil {
			return err
		}
		known := b.HasSeries(name)
		n, err := store.DeleteSeries(c.Request().Context(), name, time.Now())
		if err != nil {
			return err
		}
		if !known && n == 0 {
			return errNoSeries(name)
		}
		return c.Redirect(http.StatusSeeOther, "/")
	}
}
