package handlers

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

// Notification limits.
const (
	maxTitleLen = 200
	maxBodyLen  = 2000
)

// notifications is what the notification routes need from the store.
type notifications interface {
	UserByName(ctx context.Context, name string) (db.User, error)
	AddNotification(ctx context.Context, userID int64, title, body, link string) (db.Notification, error)
	MarkRead(ctx context.Context, userID int64, positions []int64) (int, error)
	Notifications(ctx context.Context, userID int64, limit int) ([]db.Notification, int, int64, error)
	Notification(ctx context.Context, userID, position int64) (db.Notification, error)
}

// handleNotificationsPage serves GET /notifications: the signed-in person's
// feed, read with the unread count at one position, and live from there.
func handleNotificationsPage(store notifications, epoch string) echo.HandlerFunc {
	return func(c echo.Context) error {
		s := sessionOf(c)
		items, unread, head, err := store.Notifications(c.Request().Context(), s.User.ID, views.NotificationItems)
		if err != nil {
			return err
		}
		p := views.Page{Title: "Notifications", CSRF: csrfToken(c),
			Viewer: views.Viewer{ID: s.User.ID, Name: s.User.Name, Unread: unread}}
		p.LiveURL = liveURL([]string{views.TopicUser(s.User.ID)}, epoch, head)
		return render(c, http.StatusOK, views.NotificationsPage(views.Notifications{Page: p, Items: notificationViews(items)}))
	}
}

// handleMarkRead serves POST /notifications/:pos/read, and with no :pos,
// POST /notifications/read (all of them). The change reaches every tab of
// the user over its live connection, this one too; htmx gets 204 and a
// browser without JavaScript is sent back to the list.
func handleMarkRead(store notifications) echo.HandlerFunc {
	return func(c echo.Context) error {
		var positions []int64 // nil: all
		if p := c.Param("pos"); p != "" {
			pos, err := strconv.ParseInt(p, 10, 64)
			if err != nil || pos <= 0 {
				return badField("position", "must be a notification's number, got %q", truncate(p, 20))
			}
			positions = []int64{pos}
		}
		if _, err := store.MarkRead(c.Request().Context(), sessionOf(c).User.ID, positions); err != nil {
			return err
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			return c.NoContent(http.StatusNoContent)
		}
		return c.Redirect(http.StatusSeeOther, "/notifications")
	}
}

// handleOpenNotification serves GET /notifications/:pos/open, where a
// notification's title links: it marks the notification read and redirects
// to the notification's own link (or, without one, to the list). It works
// without script, and from a link opened in a new tab.
//
// It is a GET that changes state, so what it may change is kept small and
// what another site can make of it is nothing:
//   - only the signed-in owner's notification is found (another's is a 404);
//   - it redirects only to the link stored with the notification (checked
//     when it was posted: a path on this site or an http(s) URL), never to
//     anything the request names, so it is no open redirect;
//   - it marks read only a navigation from Beacon's own pages or one the
//     person started (Fetch Metadata: Sec-Fetch-Site same-origin or none, or
//     a browser too old to send it). A link on another site, which the
//     session cookie (SameSite=Lax) still follows, only redirects: at worst
//     it shows a person their own notification's page, and marks nothing.
func handleOpenNotification(store notifications) echo.HandlerFunc {
	return func(c echo.Context) error {
		pos, err := strconv.ParseInt(c.Param("pos"), 10, 64)
		if err != nil || pos <= 0 {
			return badField("position", "must be a notification's number, got %q", truncate(c.Param("pos"), 20))
		}
		ctx, user := c.Request().Context(), sessionOf(c).User.ID
		n, err := store.Notification(ctx, user, pos)
		if err != nil {
			return err // ErrNotFound: not one of this person's
		}
		if !n.Read && ownNavigation(c.Request()) {
			if _, err := store.MarkRead(ctx, user, []int64{pos}); err != nil {
				return err
			}
		}
		c.Response().Header().Set("Cache-Control", "no-store") // every opening is a request
		return c.Redirect(http.StatusSeeOther, cmp.Or(n.Link, "/notifications"))
	}
}

// ownNavigation reports whether a request comes from this site's own pages
// or from the person (typed, a bookmark, another application), by its Fetch
// Metadata; a browser that sends none is taken at its word.
func ownNavigation(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return false
}

// notificationInput is a decoded, valid POST /api/notifications body.
type notificationInput struct {
	User  string
	Title string
	Body  string
	Link  string
}

// handleNotify serves POST /api/notifications: user, title, optional body
// and link, as JSON or a form, with a token of scope notify. A server token
// may notify anyone; a person's token only its owner.
func handleNotify(store notifications) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, ct, err := readBody(c)
		if err != nil {
			return err
		}
		in, err := decodeNotification(ct, body)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		u, err := store.UserByName(ctx, in.User)
		if errors.Is(err, db.ErrNotFound) {
			return &fieldError{Status: http.StatusNotFound, Field: "user", Message: "no user is called " + strconv.Quote(in.User)}
		}
		if err != nil {
			return err
		}
		if t := tokenOf(c); t.UserID != 0 && t.UserID != u.ID {
			return &fieldError{Status: http.StatusForbidden, Field: "user",
				Message: "this token belongs to an account and may notify only that account; use a server token (beacon token create) to notify others"}
		}
		n, err := store.AddNotification(ctx, u.ID, in.Title, in.Body, in.Link)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, n)
	}
}

// decodeNotification decodes and validates a notification posted as JSON
// or as a form.
func decodeNotification(contentType string, body []byte) (notificationInput, error) {
	var in struct {
		User  string `json:"user"`
		Title string `json:"title"`
		Body  string `json:"body"`
		Link  string `json:"link"`
	}
	form, err := decodeBody(contentType, body, &in)
	if err != nil {
		return notificationInput{}, err
	}
	if form != nil {
		in.User, in.Title, in.Body, in.Link = form.Get("user"), form.Get("title"), form.Get("body"), form.Get("link")
	}
	out := notificationInput{User: strings.TrimSpace(in.User), Title: strings.TrimSpace(in.Title),
		Body: strings.TrimSpace(in.Body), Link: strings.TrimSpace(in.Link)}
	if err := checkUserName(out.User); err != nil {
		err.(*fieldError).Field = "user"
		return notificationInput{}, err
	}
	if err := checkText("title", out.Title, maxTitleLen, true); err != nil {
		return notificationInput{}, err
	}
	// A body may have several lines (a build's summary, say): line endings
	// become "\n"; other control characters are refused like in the title.
	out.Body = strings.ReplaceAll(strings.ReplaceAll(out.Body, "\r\n", "\n"), "\r", "\n")
	if err := checkText("body", strings.ReplaceAll(out.Body, "\n", " "), maxBodyLen, false); err != nil {
		return notificationInput{}, err
	}
	if out.Link != "" {
		if err := checkLocalOrHTTPLink(out.Link); err != nil {
			return notificationInput{}, err
		}
	}
	return out, nil
}

// checkLocalOrHTTPLink accepts a path on this site or an absolute http(s) URL.
func checkLocalOrHTTPLink(link string) error {
	if strings.HasPrefix(link, "/") && !strings.HasPrefix(link, "//") {
		if err := checkText("link", link, maxLinkLen, true); err != nil {
			return err
		}
		if u, err := url.Parse(link); err != nil || u.Host != "" || strings.Contains(link, "\\") {
			return badField("link", "must be a path on this site or an absolute http:// or https:// URL")
		}
		return nil
	}
	return checkLink(link)
}

func notificationViews(items []db.Notification) []views.Notification {
	out := make([]views.Notification, len(items))
	for i, n := range items {
		out[i] = notificationView(n)
	}
	return out
}

func notificationView(n db.Notification) views.Notification {
	return views.Notification{Position: n.Position, Title: n.Title, Body: n.Body, Link: n.Link, At: n.At, Read: n.Read}
}
