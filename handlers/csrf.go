package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/views"
)

// CSRF tokens are HMAC-SHA256 values under a key derived from the server
// secret, so that only this server can make one:
//
//   - A signed-in browser's token is the MAC of its session's id: it is
//     bound to that session, and a cookie planted next to it changes nothing.
//   - A signed-out browser's token is the MAC of a random id kept in its CSRF
//     cookie (double submit, bound): a planted cookie is useless without a
//     token the server made for it.
//
// The token is taken only from the form body or the X-CSRF-Token header,
// never from the query string, which ends up in logs and Referer headers.
//
// Served over HTTPS, Beacon's cookies carry the __Host- prefix: a browser
// accepts such a cookie only from a secure page of this very host, so a
// sibling subdomain or a plain-HTTP page cannot plant or overwrite one.

// csrfKeys makes and checks the CSRF tokens of one server.
type csrfKeys struct {
	key []byte
}

// newCSRFKeys derives the CSRF key from the server secret (which also
// signs widget tokens, so it is not used as it is). Without a secret the key
// is random: tokens then last until a restart.
func newCSRFKeys(secret []byte) csrfKeys {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret) // never fails
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("beacon csrf"))
	return csrfKeys{key: m.Sum(nil)}
}

func (k csrfKeys) mac(kind, id string) string {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// forSession is the token of a signed-in browser's session id.
func (k csrfKeys) forSession(id int64) string { return k.mac("session", strconv.FormatInt(id, 10)) }

// forBrowser is the token of a signed-out browser's random id.
func (k csrfKeys) forBrowser(id string) string { return k.mac("browser", id) }

// ctxCSRF is where the session middleware keeps the server's csrfKeys.
const ctxCSRF = "beacon.csrf"

// cookieName is the name of one of Beacon's cookies for this request: with
// the __Host- prefix when the browser reached Beacon over HTTPS.
func cookieName(c echo.Context, name string) string {
	if isSecure(c) {
		return "__Host-" + name
	}
	return name
}

// browserID returns the signed-out browser's random CSRF id from its
// cookie; when it has none and create is set, it makes one and sets the
// cookie.
func browserID(c echo.Context, create bool) string {
	if id, ok := c.Get(csrfCookie).(string); ok {
		return id
	}
	if ck, err := c.Cookie(cookieName(c, csrfCookie)); err == nil && len(ck.Value) == 43 {
		return ck.Value
	}
	if !create {
		return ""
	}
	id := auth.Secret("")
	c.SetCookie(&http.Cookie{Name: cookieName(c, csrfCookie), Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: isSecure(c)})
	c.Set(csrfCookie, id)
	return id
}

// csrfToken returns the token the page's forms must carry: its session's,
// or for a signed-out browser the one of its CSRF cookie (made now if it has
// none).
func csrfToken(c echo.Context) string {
	keys, ok := c.Get(ctxCSRF).(csrfKeys)
	if !ok {
		return ""
	}
	if s := sessionOf(c); s != nil {
		return keys.forSession(s.ID)
	}
	return keys.forBrowser(browserID(c, true))
}

// checkCSRF refuses a form POST that does not carry the CSRF token of its
// browser, in the form body's _csrf field or the X-CSRF-Token header: its
// session's when it is signed in, else the one of its CSRF cookie (so a
// sign-in form works). Another site can make a browser send its cookies,
// but cannot read the tokens out of Beacon's pages, nor make one.
func checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		got := c.Request().Header.Get(views.HeaderCSRF)
		if got == "" {
			got = c.Request().PostFormValue(views.FieldCSRF)
		}
		if got == "" {
			return &fieldError{Status: http.StatusForbidden, Field: views.FieldCSRF,
				Message: "this form came without its CSRF token; reload the page and send it again"}
		}
		want := ""
		if keys, ok := c.Get(ctxCSRF).(csrfKeys); !ok {
			// No keys: nothing can match.
		} else if s := sessionOf(c); s != nil {
			want = keys.forSession(s.ID)
		} else if id := browserID(c, false); id != "" {
			want = keys.forBrowser(id)
		}
		if want == "" || !auth.Equal(got, want) {
			return &fieldError{Status: http.StatusForbidden, Field: views.FieldCSRF,
				Message: "this form's CSRF token is not this browser's (it may be from an old page, from before signing in or out, or from another site); reload the page and send it again"}
		}
		return next(c)
	}
}
