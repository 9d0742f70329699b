package widget

import (
	"html"
	"net/url"
	"strings"
)

// Path returns the path of the widget c shows, under prefix "/embed" (the
// live widget) or "/stream" (the zero-JavaScript one).
func Path(prefix string, c Claims) string {
	if c.Widget == Room {
		return prefix + "/rooms/" + c.Room
	}
	return prefix + "/" + c.Widget
}

// URL returns the address of the widget token shows on the server at base
// (e.g. https://beacon.example.com).
func URL(base, prefix, token string, c Claims) string {
	return strings.TrimRight(base, "/") + Path(prefix, c) + "?token=" + url.QueryEscape(token)
}

// IFrame returns the HTML snippet that embeds the widget: an iframe with a
// title (screen readers announce it), no border, lazily loaded.
func IFrame(base, prefix, token string, c Claims) string {
	height := "320"
	if c.Widget == Room && c.Post {
		height = "420"
	}
	return `<iframe src="` + html.EscapeString(URL(base, prefix, token, c)) + `" title="Beacon ` + html.EscapeString(title(c)) +
		`" width="100%" height="` + height + `" style="border:0" loading="lazy"></iframe>`
}

func title(c Claims) string {
	if c.Widget == Room {
		return "room " + c.Room
	}
	return c.Widget
}
