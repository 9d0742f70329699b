// Package widget makes and checks the signed tokens of Beacon's embeddable
// widgets. A token is a capability: whoever holds it may show one widget
// (and, when it says so, post to one room) until it expires, framed only by
// the origins it names. It is signed with the server's secret and carries
// the id under which the server stored it: the signature says what it
// allows, the stored row whether it was revoked (the server checks that;
// this package knows nothing of storage).
//
// The format is base64url(JSON claims) "." base64url(HMAC-SHA256 of the
// first part), without padding: short enough for an iframe's src, and
// readable by anyone (it holds nothing secret).
package widget

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Kinds of widget.
const (
	Metrics  = "metrics"
	Chart    = "chart"
	Activity = "activity"
	Room     = "room"
)

// Kinds lists every widget kind, in the order forms show them.
var Kinds = []string{Metrics, Chart, Activity, Room}

// Claims is what a token allows.
type Claims struct {
	// ID names the token where the server stored it, to list and revoke it.
	// Tokens made before ids existed have none, and are refused (ErrNoID).
	ID int64 `json:"i,omitempty"`
	// Widget is the one widget the token shows: metrics, chart, activity or room.
	Widget string `json:"w"`
	// Room is the room of a room widget; empty for the others.
	Room string `json:"r,omitempty"`
	// Post lets the room widget send messages.
	Post bool `json:"p,omitempty"`
	// Origins are the origins (scheme://host[:port]) that may frame the
	// widget; empty leaves it to the server's allowlist.
	Origins []string `json:"o,omitempty"`
	// Expires is when the token stops working (unix seconds).
	Expires int64 `json:"e"`
}

// Errors of Parse and Check. ErrMissing, ErrMalformed, ErrSignature,
// ErrExpired and ErrNoID mean the bearer is not authenticated (HTTP 401);
// ErrScope that it is, but not for what it asks (403).
var (
	ErrMissing   = errors.New("no widget token: the embed snippet's URL must carry ?token=")
	ErrMalformed = errors.New("the widget token is malformed; copy the snippet again")
	ErrSignature = errors.New("the widget token's signature does not match this server; make a new one")
	ErrExpired   = errors.New("the widget token has expired; make a new one")
	ErrScope     = errors.New("the widget token is for another widget")
	ErrNoID      = errors.New("the widget token was made before widget tokens could be revoked; make a new one")
)

// MinSecret is the shortest secret accepted: HMAC-SHA256's block of entropy.
const MinSecret = 32

// maxToken bounds what Parse decodes: a token with many origins is still
// far below it, and an attacker's megabyte is refused before any work.
const maxToken = 4 << 10

var roomName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate checks that c is a token worth signing, with errors a person can
// act on.
func (c Claims) Validate() error {
	switch c.Widget {
	case Metrics, Chart, Activity:
		if c.Room != "" || c.Post {
			return fmt.Errorf("a %s widget has no room and cannot post", c.Widget)
		}
	case Room:
		if !roomName.MatchString(c.Room) {
			return fmt.Errorf("a room widget needs a room name of 1 to 64 letters, digits, - or _ (got %q)", c.Room)
		}
	default:
		return fmt.Errorf("widget must be one of %s (got %q)", strings.Join(Kinds, ", "), c.Widget)
	}
	if c.Expires <= 0 {
		return errors.New("a widget token needs an expiry")
	}
	if c.ID < 0 {
		return errors.New("a widget token's id is a positive number")
	}
	if len(c.Origins) > 16 {
		return errors.New("at most 16 origins per widget token")
	}
	for _, o := range c.Origins {
		if _, err := ParseOrigin(o); err != nil {
			return err
		}
	}
	return nil
}

// ParseOrigin checks and normalizes one origin a widget may be framed by:
// http or https, a host, an optional port, nothing else. The result goes into
// a CSP header as it is, so nothing that could end or extend the directive
// (spaces, ';', ',', quotes, wildcards) gets through.
func ParseOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", fmt.Errorf("origin %q must look like https://example.com or http://host:8080", truncate(s, 80))
	}
	host := strings.ToLower(u.Host)
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune(".-:[]", r)) {
			return "", fmt.Errorf("origin %q has a character a host cannot have: %q", truncate(s, 80), r)
		}
	}
	return u.Scheme + "://" + host, nil
}

// Sign returns the token of c, signed with secret. It refuses claims that
// Validate refuses, claims without an ID (store the token first: an
// unstored token could never be revoked) and a secret shorter than
// MinSecret.
func Sign(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecret {
		return "", fmt.Errorf("the server secret must be at least %d bytes", MinSecret)
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	if c.ID == 0 {
		return "", errors.New("a widget token needs the id it was stored under")
	}
	origins := make([]string, len(c.Origins)) // normalized, in a slice of its own
	for i, o := range c.Origins {
		origins[i], _ = ParseOrigin(o)
	}
	c.Origins = origins
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac(secret, payload)), nil
}

// Parse checks token's signature (in constant time), that it has an id,
// and its expiry at now, and returns its claims. It never returns claims it
// has not verified. Whether the token was revoked is the caller's to check,
// by its ID.
func Parse(secret []byte, token string, now time.Time) (Claims, error) {
	if token == "" {
		return Claims{}, ErrMissing
	}
	if len(token) > maxToken {
		return Claims{}, ErrMalformed
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(got, mac(secret, payload)) {
		return Claims{}, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil || c.Validate() != nil {
		return Claims{}, ErrMalformed
	}
	if c.ID == 0 {
		return Claims{}, ErrNoID
	}
	if now.Unix() >= c.Expires {
		return Claims{}, ErrExpired
	}
	return c, nil
}

// Allows reports whether c shows widget (and room, for a room widget).
func (c Claims) Allows(widget, room string) error {
	if c.Widget != widget || (widget == Room && c.Room != room) {
		return ErrScope
	}
	return nil
}

// mac signs payload under a key of its own: the secret is never used as it
// is, so a future use of it cannot be confused with widget tokens.
func mac(secret []byte, payload string) []byte {
	k := hmac.New(sha256.New, secret)
	k.Write([]byte("beacon widget token v1"))
	h := hmac.New(sha256.New, k.Sum(nil))
	h.Write([]byte(payload))
	return h.Sum(nil)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
