package handlers

import (
	"context"
	"math"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/views"
)

// unreadReader reads a user's unread count.
type unreadReader interface {
	Unread(ctx context.Context, userID int64) (int, int64, error)
}

// logHead reads the log's head: where the live connection of a page that
// read nothing at a position of its own (a signed-out viewer's) starts.
type logHead interface {
	Horizon(ctx context.Context) (horizon, head int64, err error)
}

// pageFor returns the Page of a full page for the request's viewer: the
// title, the CSRF token, and for a signed-in viewer the bell's count, read
// at position head. A page that goes live starts its stream at the lowest
// position it read anything at (so nothing is missed; what arrives twice is
// harmless: the bell carries a count, not an increment, and lists drop
// copies). Signed out, head is the largest position.
func pageFor(c echo.Context, unread unreadReader, title string) (views.Page, int64, error) {
	p := views.Page{Title: title, CSRF: csrfToken(c)}
	s := sessionOf(c)
	if s == nil {
		return p, math.MaxInt64, nil
	}
	n, head, err := unread.Unread(c.Request().Context(), s.User.ID)
	if err != nil {
		return p, 0, err
	}
	p.Viewer = views.Viewer{ID: s.User.ID, Name: s.User.Name, Unread: n, Admin: s.User.Admin()}
	return p, head, nil
}
