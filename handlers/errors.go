package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

// fieldError is bad input, with the field it is about and a message a
// person can act on.
type fieldError struct {
	Status  int // 400 when zero
	Field   string
	Message string
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Message }

func badField(field, format string, args ...any) *fieldError {
	return &fieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON shape of every API error.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// errorHandler is the one place that turns errors into responses: it maps
// them to a status, logs only server errors, and never shows internal text.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			log.Error("error after response started", "path", c.Path(), "err", err)
			return
		}
		status, body := classify(err)
		if status >= 500 {
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		}
		if wantsJSON(c) {
			err = c.JSON(status, body)
		} else {
			c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
			c.Response().WriteHeader(status)
			msg := body.Error
			if body.Field != "" {
				msg = body.Field + ": " + msg
			}
			p := views.Page{Title: http.StatusText(status)}
			if s := sessionOf(c); s != nil {
				// Still signed in on an error page; its bell is not counted.
				p.Viewer = views.Viewer{ID: s.User.ID, Name: s.User.Name, Unread: -1}
				p.CSRF = csrfToken(c)
			}
			err = views.ErrorPage(p, status, msg).Render(c.Request().Context(), c.Response())
		}
		if err != nil {
			log.Debug("write error response", "err", err)
		}
	}
}

func classify(err error) (int, errorBody) {
	var fe *fieldError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &fe):
		status := fe.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return status, errorBody{Error: fe.Message, Field: fe.Field}
	case errors.As(err, &he):
		msg, ok := he.Message.(string)
		if !ok || he.Code >= 500 {
			msg = strings.ToLower(http.StatusText(he.Code))
		}
		return he.Code, errorBody{Error: msg}
	case errors.Is(err, db.ErrNotFound):
		return http.StatusNotFound, errorBody{Error: "not found"}
	case errors.Is(err, db.ErrFollower):
		return http.StatusServiceUnavailable, errorBody{Error: strings.TrimPrefix(db.ErrFollower.Error(), "db: ")}
	case errors.Is(err, db.ErrInvalid):
		return http.StatusBadRequest, errorBody{Error: db.Reason(err)}
	case errors.Is(err, db.ErrExists):
		return http.StatusConflict, errorBody{Error: db.Reason(err)}
	case errors.Is(err, db.ErrUnavailable):
		return http.StatusServiceUnavailable, errorBody{Error: db.Reason(err) + "; try again later"}
	case errors.Is(err, db.ErrClosed):
		return http.StatusServiceUnavailable, errorBody{Error: "shutting down; try again in a moment"}
	default:
		return http.StatusInternalServerError, errorBody{Error: "internal error"}
	}
}

// wantsJSON reports whether an error answer should be JSON rather than a
// page: for the API, for clients that ask for it, and for a refused
// WebSocket upgrade (a program reads why; a page cannot show a whole page).
func wantsJSON(c echo.Context) bool {
	r := c.Request()
	return strings.HasPrefix(r.URL.Path, "/api/") || websocket.IsWebSocketUpgrade(r) ||
		strings.Contains(r.Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON) ||
		strings.Contains(r.Header.Get(echo.HeaderAccept), "text/event-stream")
}
