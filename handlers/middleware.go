package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/stats"
)

// securityHeaders sets the headers every response carries: no inline
// scripts or styles, no framing (embed routes will open it), no sniffing.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		return next(c)
	}
}

// timeRequests records every request's duration for the dashboard, except
// those under the given path prefixes (streams last as long as a visit).
func timeRequests(r *stats.Requests, skip ...string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			path := c.Request().URL.Path
			for _, p := range skip {
				if strings.HasPrefix(path, p) {
					return next(c)
				}
			}
			start := time.Now()
			err := next(c)
			now := time.Now()
			r.Observe(now, now.Sub(start))
			return err
		}
	}
}

const visitorCookie = "beacon_visitor"

// visitor gives every browser an anonymous id in a cookie, so the dashboard
// can count active users (people, not connections) before accounts exist.
func visitor(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if visitorID(c) == "" {
			var b [12]byte
			rand.Read(b[:])
			id := hex.EncodeToString(b[:])
			c.SetCookie(&http.Cookie{
				Name: visitorCookie, Value: id, Path: "/", HttpOnly: true,
				SameSite: http.SameSiteLaxMode, Secure: isSecure(c), MaxAge: 365 * 24 * 3600,
			})
			c.Set(visitorCookie, id)
		}
		return next(c)
	}
}

// visitorID returns the browser's anonymous id, or "".
func visitorID(c echo.Context) string {
	if id, ok := c.Get(visitorCookie).(string); ok {
		return id
	}
	ck, err := c.Cookie(visitorCookie)
	if err != nil || len(ck.Value) != 24 {
		return ""
	}
	if _, err := hex.DecodeString(ck.Value); err != nil {
		return ""
	}
	return ck.Value
}
