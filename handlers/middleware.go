package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/netip"

	"github.com/labstack/echo/v4"
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
				Name: cookieName(c, visitorCookie), Value: id, Path: "/", HttpOnly: true,
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
	ck, err := c.Cookie(cookieName(c, visitorCookie))
	if err != nil || len(ck.Value) != 24 {
		return ""
	}
	if _, err := hex.DecodeString(ck.Value); err != nil {
		return ""
	}
	return ck.Value
}

// loopbackOnly lets only requests from this machine through. It reads the
// socket's address, never a forwarding header: behind a proxy on this
// machine every request would pass, so an operator who puts one in front
// serves /metrics and /healthz on --metrics-addr instead.
func loopbackOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ap, err := netip.ParseAddrPort(c.Request().RemoteAddr)
		if err != nil || !ap.Addr().Unmap().IsLoopback() {
			return &fieldError{Status: http.StatusForbidden, Field: "client",
				Message: c.Request().URL.Path + " answers only this machine (127.0.0.1, ::1); " +
					"to read it from elsewhere, serve it on a listener of its own with --metrics-addr"}
		}
		return next(c)
	}
}
