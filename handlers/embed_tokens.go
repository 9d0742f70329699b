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
// answers htmx with the snippets as a fragment; a form sent without
// JavaScript is redirected to GET /embed/tokens, which shows them once (a
// flash): reloading that page makes no second token.
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
func handleMintWidgetToken(secret []byte, store widgetMaker, site Site, flash flashKeys) echo.HandlerFunc {
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
		if c.Request().Header.Get("HX-Request") == "true" {
			return render(c, http.StatusOK, views.EmbedSnippetFragment(snippetOf(site.origin(c), token, claims)))
		}
		flash.set(c, flashWidgetToken, token)
		return c.Redirect(http.StatusSeeOther, "/embed/tokens")
	}
}

// handleNewWidgetToken serves GET /embed/tokens, where the "Embed" form sent
// without JavaScript lands: the snippets of the token it just made, once.
// Without one (a reload, a bookmark) it goes to /settings, which lists the
// widget tokens.
func handleNewWidgetToken(secret []byte, site Site, flash flashKeys) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := flash.take(c, flashWidgetToken)
		claims, err := widget.Parse(secret, token, time.Now())
		if !ok || err != nil {
			return c.Redirect(http.StatusSeeOther, "/settings")
		}
		c.Response().Header().Set("Cache-Control", "no-store") // shown once
		return render(c, http.StatusOK, views.EmbedSnippetPage(views.Page{Title: "Embed"}, snippetOf(site.origin(c), token, claims)))
	}
}

// snippetOf is the snippets of a widget token, pointing at base.
func snippetOf(base, token string, claims widget.Claims) views.EmbedSnippet {
	return views.EmbedSnippet{
		Widget:  claims.Widget,
		IFrame:  widget.IFrame(base, "/embed", token, claims),
		Stream:  widget.IFrame(base, "/stream", token, claims),
		Expires: time.Unix(claims.Expires, 0),
		Post:    claims.Post,
		Origins: claims.Origins,
	}
}
