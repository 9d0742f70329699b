package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

// widgetMaker stores the widget tokens people make, so that they can be
// listed and revoked.
type widgetMaker interface {
	CreateWidgetToken(ctx context.Context, w db.WidgetToken) (db.WidgetToken, error)
}

// maxWidgetTTL bounds how long a token made from a page may live.
const maxWidgetTTL = 366 * 24 * time.Hour

// handleMintWidgetToken serves POST /embed/tokens, the "Embed" button's form:
// widget, room, post, origins (separated by spaces or commas) and ttl. It
// answers htmx with the snippets as a fragment, and a form sent without
// JavaScript with a page that shows them.
//
// Every token is stored under its maker's account before it is signed with
// its id: its maker (and any admin) lists and revokes it on /settings. So a
// signed-out browser makes none (an anonymous one could not be revoked by
// anyone who knows of it, and would let anyone grow the table). Any member
// may make a read-only widget, as members see what it shows; one that lets
// visitors post needs an admin (the operator's CLI makes any).
//
// The snippets point at the public URL when there is one (behind a proxy
// the request's own address is the proxy's upstream), else at the origin
// the form came from.
func handleMintWidgetToken(secret []byte, store widgetMaker, site Site) echo.HandlerFunc {
	return func(c echo.Context) error {
		claims := widget.Claims{
			Widget: c.FormValue("widget"),
			Room:   strings.TrimSpace(c.FormValue("room")),
			Post:   c.FormValue("post") == "true",
		}
		sess := sessionOf(c)
		switch {
		case sess == nil:
			return &fieldError{Status: http.StatusForbidden, Field: "session",
				Message: "sign in to make a widget: every widget token is kept under its maker's account, to list and revoke it"}
		case claims.Post && !sess.User.Admin():
			return &fieldError{Status: http.StatusForbidden, Field: "post",
				Message: "only an admin may make a widget that visitors can post from"}
		}
		ttl, err := time.ParseDuration(c.FormValue("ttl"))
		if err != nil || ttl <= 0 || ttl > maxWidgetTTL {
			return badField("ttl", "must be a duration from 1s to 8784h (366 days), e.g. 24h")
		}
		claims.Expires = time.Now().Add(ttl).Unix()
		for _, o := range strings.FieldsFunc(c.FormValue("origins"), func(r rune) bool { return r == ',' || r == ' ' }) {
			origin, err := widget.ParseOrigin(o)
			if err != nil {
				return badField("origins", "%s", err.Error())
			}
			claims.Origins = append(claims.Origins, origin)
		}
		if err := claims.Validate(); err != nil {
			return badField("widget", "%s", err.Error())
		}
		stored, err := store.CreateWidgetToken(c.Request().Context(), db.WidgetToken{Widget: claims.Widget, Room: claims.Room,
			Post: claims.Post, Origins: claims.Origins, Expires: time.Unix(claims.Expires, 0), UserID: sess.User.ID})
		if err != nil {
			return err
		}
		claims.ID = stored.ID
		token, err := widget.Sign(secret, claims)
		if err != nil {
			return err
		}
		base := site.origin(c)
		s := views.EmbedSnippet{
			Widget:  claims.Widget,
			IFrame:  widget.IFrame(base, "/embed", token, claims),
			Stream:  widget.IFrame(base, "/stream", token, claims),
			Expires: time.Unix(claims.Expires, 0),
			Post:    claims.Post,
			Origins: claims.Origins,
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			return render(c, http.StatusOK, views.EmbedSnippetFragment(s))
		}
		return render(c, http.StatusOK, views.EmbedSnippetPage(views.Page{Title: "Embed"}, s))
	}
}
