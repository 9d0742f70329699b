package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

// maxWidgetTTL bounds how long a token made from a page may live.
const maxWidgetTTL = 366 * 24 * time.Hour

// handleMintWidgetToken serves POST /embed/tokens, the "Embed" button's form:
// widget, room, post, origins (separated by spaces or commas) and ttl. It
// answers htmx with the snippets as a fragment, and a form sent without
// JavaScript with a page that shows them.
//
// Anyone who can open the dashboard may make a read-only token, as anyone
// can read the data it shows; a token that lets visitors post needs a
// signed-in person (the operator's CLI makes any).
//
// The snippets point at the public URL when there is one (behind a proxy
// the request's own address is the proxy's upstream), else at the origin
// the form came from.
func handleMintWidgetToken(secret []byte, site Site) echo.HandlerFunc {
	return func(c echo.Context) error {
		claims := widget.Claims{
			Widget: c.FormValue("widget"),
			Room:   strings.TrimSpace(c.FormValue("room")),
			Post:   c.FormValue("post") == "true",
		}
		if claims.Post && sessionOf(c) == nil {
			return &fieldError{Status: http.StatusForbidden, Field: "post",
				Message: "sign in to make a widget that visitors can post from"}
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
		token, err := widget.Sign(secret, claims)
		if err != nil {
			return badField("widget", "%s", err.Error())
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
