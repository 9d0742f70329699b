package handlers

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
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
	// ProxyHops says which entry of ProxyHeader is the client's, counted
	// from the right: 1 (the default) for one proxy, which appends the
	// address it saw; 2 behind two (a CDN, then a local proxy); and so on.
	// Everything further left was written by the client or by proxies that
	// are not trusted.
	ProxyHops int
}

// clientIP returns the address a request's limits are counted against:
// the ProxyHeader's entry ProxyHops from the right, reading every line of
// the header as one list (a proxy may append a line rather than extend
// the client's), or the socket's address when the header is missing or
// that entry is not an address.
func (l Limits) clientIP(r *http.Request) string {
	if l.ProxyHeader != "" {
		if ip, ok := forwardedAddr(r.Header.Values(l.ProxyHeader), max(l.ProxyHops, 1)); ok {
			return limit.IPKey(ip.String())
		}
	}
	return limit.IPKey(r.RemoteAddr)
}

// forwardedAddr returns the entry hops from the right of the
// comma-separated lists in lines, taken in order as one list, if it is an
// IP address (with or without a port).
func forwardedAddr(lines []string, hops int) (netip.Addr, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			j := strings.LastIndexByte(rest, ',')
			if hops--; hops == 0 {
				entry := strings.TrimSpace(rest[j+1:])
				if ap, err := netip.ParseAddrPort(entry); err == nil {
					return ap.Addr(), true
				}
				ip, err := netip.ParseAddr(entry)
				return ip, err == nil
			}
			if j < 0 {
				break
			}
			rest = rest[:j]
		}
	}
	return netip.Addr{}, false
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

// refusalKey is the context key of a connection's refusal.
type refusalKey struct{}

// RefuseConnection marks ctx, a connection's context (http.Server's
// ConnContext), as refused for reason: every request on the connection is
// answered 429 with the reason, and the connection is closed. cmd/beacon
// refuses connections past the per-address cap this way, so the client
// reads why instead of a reset.
func RefuseConnection(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, refusalKey{}, reason)
}

// refusedConnections answers the requests of a refused connection
// (RefuseConnection) before anything else looks at them.
func refusedConnections(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if reason, ok := c.Request().Context().Value(refusalKey{}).(string); ok {
			h := c.Response().Header()
			h.Set(echo.HeaderConnection, "close")
			h.Set("Retry-After", "1")
			return &fieldError{Status: http.StatusTooManyRequests, Field: "client", Message: reason}
		}
		return next(c)
	}
}
