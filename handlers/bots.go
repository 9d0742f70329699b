package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/live"
)

// errServerTokenChat refuses to chat with a server token: it belongs to no
// account, and every message is an account's (or a named guest's).
var errServerTokenChat = &fieldError{Status: http.StatusForbidden, Field: "Authorization",
	Message: "a server token belongs to no account, so it cannot chat; make a chat token as the account that should post " +
		"(on its /settings page, or with beacon token create --scope chat --user NAME)"}

// decodeMessage decodes and validates a message posted by a program:
// content, as JSON or a form, with the socket's rules (checkContent).
func decodeMessage(contentType string, body []byte, maxBytes int) (string, error) {
	var in struct {
		Content *string `json:"content"`
	}
	form, err := decodeBody(contentType, body, &in)
	if err != nil {
		return "", err
	}
	if form != nil {
		if v, ok := form["content"]; ok && len(v) > 0 {
			in.Content = &v[0]
		}
	}
	if in.Content == nil {
		return "", badField("content", "is required")
	}
	return checkContent(*in.Content, maxBytes)
}

// handlePostMessage serves POST /api/rooms/:room/messages, behind
// requireScope(chat): a program posts content to a room as the token's
// owner, with the checks of the room socket and the same per-account
// budget (shared with the owner's sockets). It answers 201 with the
// message as a JSON socket sends it.
func handlePostMessage(store messageAdder, chat *chatRate, limits ChatLimits, epoch string, log *slog.Logger) echo.HandlerFunc {
	limits.fill()
	return func(c echo.Context) error {
		room := c.Param("room")
		if err := checkRoom(room); err != nil {
			return err
		}
		t := tokenOf(c)
		if t.UserID == 0 {
			return errServerTokenChat
		}
		body, ct, err := readBody(c)
		if err != nil {
			return err
		}
		content, err := decodeMessage(ct, body, limits.MessageBytes)
		if err != nil {
			return err
		}
		if err := chat.allow(chat.keyOf(c)); err != nil {
			return err
		}
		m, err := store.AddMessageAs(c.Request().Context(), room, t.UserID, t.OwnerName, content, time.Now())
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Error("store message", "room", room, "err", err)
			}
			return err
		}
		return c.JSON(http.StatusCreated, messageOut{Type: "message", ID: live.FormatID(epoch, m.Position), Message: m})
	}
}
