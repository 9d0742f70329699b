package handlers

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/views"
)

// ParsePublicURL checks the URL people reach Beacon at (--public-url) and
// returns it as an origin, the way browsers write one in an Origin header:
// scheme and host in lower case, without the scheme's default port and
// without a trailing slash ("HTTPS://Beacon.example.com:443/" is
// "https://beacon.example.com"). Beacon serves from the root, so a path is
// refused.
func ParsePublicURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("%q must be an http:// or https:// URL with a host and no path, e.g. https://beacon.example.com", truncate(s, 80))
	}
	return u.Scheme + "://" + canonicalHost(u.Host, u.Scheme), nil
}

// canonicalHost is a Host header's value (host or host:port) in lower case,
// without the port that is the default of scheme.
func canonicalHost(host, scheme string) string {
	host = strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		if strings.Contains(h, ":") {
			return "[" + h + "]"
		}
		return h
	}
	return host
}

// canonicalOrigin is an Origin header's value as ParsePublicURL writes
// origins, or "" when it is not a web origin ("null", a path, junk).
func canonicalOrigin(origin string) string {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return ""
	}
	return u.Scheme + "://" + canonicalHost(u.Host, u.Scheme)
}

// Site is where Beacon is reached: its public URL when the operator names
// one (behind a proxy), else each request's own scheme and Host.
type Site struct {
	// PublicURL is the origin people reach Beacon at (ParsePublicURL), or
	// "". When set, every request must name its host and a browser's
	// WebSocket must come from it, and embed snippets point at it.
	PublicURL string
}

// host is the public URL's host as a Host header names it.
func (s Site) host() string {
	_, host, _ := strings.Cut(s.PublicURL, "://")
	return host
}

// checkHost refuses, with 403 naming both hosts, a request whose Host is not
// the public URL's. A page that reached Beacon under another name, as after
// DNS rebinding (an attacker's name that resolves to Beacon's address), so
// gets nothing: not the pages, the API nor a socket. Health and metrics
// probes may name the server by an IP address or "localhost" instead: no
// rebinding page has such a Host (its Host is the attacker's name). Without
// a public URL every Host is served.
func (s Site) checkHost(next echo.HandlerFunc) echo.HandlerFunc {
	if s.PublicURL == "" {
		return next
	}
	scheme, _, _ := strings.Cut(s.PublicURL, "://")
	want := s.host()
	return func(c echo.Context) error {
		r := c.Request()
		got := canonicalHost(r.Host, scheme)
		if got == want || isProbe(r) && isAddressHost(got) {
			return next(c)
		}
		return &fieldError{Status: http.StatusForbidden, Field: "Host",
			Message: fmt.Sprintf("this server answers only as %s (its --public-url), not as %q; "+
				"a page that reached it under another name may not use it, and a proxy must pass the Host it was asked for",
				want, truncate(r.Host, 100))}
	}
}

// isProbe reports whether r asks for what a monitor on the machine or the
// network asks for by IP address (Host "127.0.0.1:8080", "10.0.0.5:8080").
func isProbe(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/metrics":
		return true
	}
	return false
}

// isAddressHost reports whether host (host or host:port) is an IP address
// or localhost rather than a name from DNS.
func isAddressHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = strings.Trim(host, "[]")
	}
	return net.ParseIP(h) != nil || h == "localhost"
}

// origin is where the request's page came from when it is this server's:
// the public URL, else the request's own scheme (TLS, or the trusted proxy's
// X-Forwarded-Proto: isSecure) and Host.
func (s Site) origin(c echo.Context) string {
	if s.PublicURL != "" {
		return s.PublicURL
	}
	scheme := "http"
	if isSecure(c) {
		scheme = "https"
	}
	return scheme + "://" + canonicalHost(c.Request().Host, scheme)
}

// behindProxy is the hint a refused socket's reason ends with when Beacon
// runs behind a reverse proxy that does not pass what it was asked for:
// without a public URL, the server's origin comes from the Host and
// X-Forwarded-Proto the proxy passes.
func (s Site) behindProxy(c echo.Context) string {
	if s.PublicURL != "" {
		return ""
	}
	return " (behind a reverse proxy: pass the Host the browser asked for, port included, and X-Forwarded-Proto, " +
		"or start Beacon with --public-url; see docs/deploy.md)"
}

// checkSocketOrigin refuses, with 403 saying what came and what was
// expected (the page will show it), a WebSocket upgrade whose Origin is not
// this server's: scheme, host and port must all match, so neither another
// site nor this site's plain-HTTP twin can open a socket with a visitor's
// cookies. It stands in for the upgrader's own check, which answers a bare
// "Forbidden" and compares only the host. A request without Origin is not
// a browser's (browsers always send it on a WebSocket) and passes: programs
// authenticate with what they send. So does one that came with an API
// token (bearerAccount, before this): no browser sends one by itself.
//
// A page's socket check (views.HeaderSocketCheck: a plain GET, which a
// browser sends without Origin) is judged with the origin the page names
// in that header, so the page learns the reason its upgrade was refused.
// The header only ever explains: a request that is no upgrade gets no
// socket, whatever it names.
func (s Site) checkSocketOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	why := "this server's own origin"
	if s.PublicURL != "" {
		why = "the server's --public-url"
	}
	return func(c echo.Context) error {
		if byToken(c) {
			return next(c)
		}
		origin := c.Request().Header.Get("Origin")
		if origin == "" && !websocket.IsWebSocketUpgrade(c.Request()) {
			origin = c.Request().Header.Get(views.HeaderSocketCheck)
		}
		if want := s.origin(c); origin != "" && canonicalOrigin(origin) != want {
			return &fieldError{Status: http.StatusForbidden, Field: "Origin",
				Message: fmt.Sprintf("a page from %q may not open this socket; only pages from %s (%s) may%s", truncate(origin, 100), want, why, s.behindProxy(c))}
		}
		return next(c)
	}
}
