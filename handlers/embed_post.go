package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

// handleWidgetPost serves POST /embed/rooms/:room/messages, the room
// widget's message form. The token in the form is the credential: it must
// be a room token for this room with post set. There is no cookie and no
// session, so there is nothing for cross-site request forgery to ride on: a
// forged request can do only what the token in it allows, and whoever holds
// the token can do that anyway. The author is the name the visitor typed,
// stored as a guest's (no account; pages mark it), and it may not be an
// account's name: visitors of another site type anything.
//
// Without JavaScript the answer is a redirect back to the widget (which
// keeps the name in its URL); with htmx it is the form again, emptied, or
// with the reason the message was refused.
//
// The chat rate applies per client address, as to every guest: a widget
// post counts with the room sockets of guests at the same address (chatRate).
func handleWidgetPost(auth widgetAuth, data widgetData, store messageAdder, users userFinder, limits ChatLimits,
	chat *chatRate, epoch string) echo.HandlerFunc {
	limits.fill()
	return func(c echo.Context) error {
		room := c.Param("room")
		if err := checkRoom(room); err != nil {
			return err
		}
		claims, err := auth.check(c, widget.Room, room)
		if err == nil && !claims.Post {
			err = errNoPosting
		}
		if err != nil {
			return widgetError(c, err)
		}
		token := c.FormValue("token")
		name := strings.TrimSpace(c.FormValue("name"))
		form := views.WidgetRoom{Name: room, Post: true, Token: token, Guest: name, PostAction: postPath(room)}
		status := http.StatusBadRequest
		content, err := checkContent(c.FormValue("content"), limits.MessageBytes)
		if prepared, nameErr := checkGuestName(c.Request().Context(), users, name); nameErr != nil {
			var fe *fieldError
			if !errors.As(nameErr, &fe) {
				return nameErr
			}
			err = nameErr
		} else {
			name = prepared
		}
		if err == nil {
			if fe := chat.allow(chat.guestKey(c.Request())); fe != nil {
				status, err = fe.Status, errors.New(fe.Message)
			}
		}
		if err == nil {
			if _, err = store.AddMessageAs(c.Request().Context(), room, 0, name, content, time.Now()); err != nil {
				return err
			}
		}
		if err != nil {
			form.Problem = problemText(err)
			if c.Request().Header.Get("HX-Request") == "true" {
				return render(c, status, views.WidgetPostForm(form))
			}
			return widgetPage(c, status, data, claims, token, epoch, form)
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			return render(c, http.StatusOK, views.WidgetPostForm(form))
		}
		q := url.Values{"token": {token}, "name": {name}}
		if t := theme(c); t != "" {
			q.Set("theme", t)
		}
		return c.Redirect(http.StatusSeeOther, "/embed/rooms/"+room+"?"+q.Encode())
	}
}

// problemText is what the form says about a refused message.
func problemText(err error) string {
	var fe *fieldError
	if errors.As(err, &fe) {
		field := map[string]string{"name": "Your name", "content": "The message"}[fe.Field]
		if field == "" {
			return fe.Message
		}
		return field + " " + fe.Message + "."
	}
	return err.Error()
}
