package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// maxBody bounds every request body: a form, an API call's JSON, a widget's
// message. The largest a page sends is a chat message (4 KiB by default)
// with its form fields.
const maxBody = 64 << 10

// limitBody reads every request's body, at most maxBody bytes, before any
// handler or middleware sees it: a larger body is refused with 413 and a
// multipart one (no route takes files) with 415, before the CSRF check or
// a handler parses a form (net/http's form parser keeps 10 MB of a form in
// memory and spills multipart files to disk). What passes is held in
// memory, so handlers read it as usual, and all of it at once.
//
// Streams and sockets are GET requests without a body; one that comes with
// a body is bounded the same way.
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); strings.HasPrefix(mt, "multipart/") {
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return &fieldError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
				Message: fmt.Sprintf("%s is not accepted: no route takes files; send a form (application/x-www-form-urlencoded) or JSON", mt)}
		}
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			return next(c)
		}
		tooLarge := &fieldError{Status: http.StatusRequestEntityTooLarge, Field: "body",
			Message: fmt.Sprintf("is larger than %d KiB, the most any request may carry", maxBody>>10)}
		if r.ContentLength > maxBody {
			// Not read at all: the connection closes after the answer.
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return tooLarge
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return &fieldError{Status: http.StatusRequestTimeout, Field: "body", Message: "was not sent in time"}
		case err != nil:
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return badField("body", "could not be read: %v", err)
		case len(body) > maxBody:
			c.Response().Header().Set(echo.HeaderConnection, "close")
			return tooLarge
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return next(c)
	}
}
