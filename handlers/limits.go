package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/limit"
)

// Limits are the per-address limits. A rate of 0 turns one off.
type Limits struct {
	// LiveRate and LiveBurst bound new live connections (SSE streams and
	// room sockets) per address: a reconnect storm or a script opening
	// thousands of streams meets 429 and Retry-After, which browsers'
	// backoff honours.
	LiveRate  float64
	LiveBurst int
	// APIRate and APIBurst bound requests to /api/ per address.
	APIRate  float64
	APIBurst int
	// ProxyHeader names the header a trusted reverse proxy puts the client's
	// address in (X-Forwarded-For, X-Real-IP). Empty: the socket's address,
	// which behind a proxy is the proxy's, so every client shares a limit.
	ProxyHeader string
}

// clientIP returns the address a request's limits are counted against.
func (l Limits) clientIP(r *http.Request) string {
	if l.ProxyHeader != "" {
		if v := r.Header.Get(l.ProxyHeader); v != "" {
			// The proxy appends what it saw; anything before that is what
			// the client claimed.
			parts := strings.Split(v, ",")
			return limit.IPKey(strings.TrimSpace(parts[len(parts)-1]))
		}
	}
	return limit.IPKey(r.RemoteAddr)
}

// ctxSecure is where markSecure keeps whether the request came over TLS.
const ctxSecure = "beacon.secure"

// markSecure notes whether each request reached a browser over TLS: its own
// connection's, or, behind the trusted proxy (ProxyHeader set), the
// proxy's X-Forwarded-Proto. Cookies are Secure when it did.
func (l Limits) markSecure(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		secure := c.IsTLS() || (l.ProxyHeader != "" && c.Request().Header.Get("X-Forwarded-Proto") == "https")
		c.Set(ctxSecure, secure)
		return next(c)
	}
}

// isSecure reports whether the request's cookies should be Secure.
func isSecure(c echo.Context) bool {
	if v, ok := c.Get(ctxSecure).(bool); ok {
		return v
	}
	return c.IsTLS()
}

// perAddress refuses, with 429 and Retry-After, requests from an address
// that has used up its tokens of k.
func perAddress(k *limit.Keyed, clientIP func(*http.Request) string, what string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if ok, wait := k.Allow(clientIP(c.Request()), time.Now()); !ok {
				after := limit.RetryAfter(wait)
				c.Response().Header().Set("Retry-After", after)
				return &fieldError{Status: http.StatusTooManyRequests, Field: "client",
					Message: fmt.Sprintf("too many %s from your address; try again in %s s", what, after)}
			}
			return next(c)
		}
	}
}
