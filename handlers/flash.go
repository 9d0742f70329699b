package handlers

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// A flash carries a secret made by a form POST (a new API token, a new
// widget token) to the page its redirect shows, once: Post/Redirect/Get, so
// that reloading that page never sends the form again and makes a second
// token, while the secret is still shown a single time.
//
// It is a cookie, not server memory, so that any instance of a cluster can
// show it: sealed (AES-GCM) under a key derived from the server secret,
// bound to its kind and to the session it was made for (another session,
// or a cookie moved to another browser, opens nothing), dead after
// flashTTL, HttpOnly, SameSite=Strict, and cleared by the page that shows
// it. The page that shows it is not cached (Cache-Control: no-store).

// flashCookie is the cookie's name (over HTTPS with the __Host- prefix).
const flashCookie = "beacon_flash"

// flashTTL is how long a flash waits for the page it is for: the redirect
// follows at once, so this only bounds a cookie that was never used.
const flashTTL = time.Minute

// Kinds of flash: what it carries, which also binds it to its page.
const (
	flashAPIToken    = "api-token"
	flashWidgetToken = "widget-token"
)

// flashKeys seals and opens the flashes of one server.
type flashKeys struct {
	aead cipher.AEAD
}

// newFlashKeys derives the flash key from the server secret (which signs
// widget tokens, so it is not used as it is). Without a secret the key is
// random: a flash made before a restart is then lost, which only means the
// page does not show it.
func newFlashKeys(secret []byte) flashKeys {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret) // never fails
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("beacon flash"))
	block, err := aes.NewCipher(m.Sum(nil)) // a 32-byte key: AES-256
	if err != nil {
		panic(err) // cannot happen with a 32-byte key
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // cannot happen with AES
	}
	return flashKeys{aead: aead}
}

// seal returns the cookie value that carries value for kind and session
// until expires.
func (k flashKeys) seal(kind, session, value string, expires time.Time) string {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+8+len(value)+k.aead.Overhead())
	rand.Read(nonce) // never fails
	plain := binary.BigEndian.AppendUint64(nil, uint64(expires.Unix()))
	plain = append(plain, value...)
	return base64.RawURLEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, flashBinding(kind, session)))
}

// open returns the value sealed in cookie for kind and session, if it is
// one and has not expired at now.
func (k flashKeys) open(kind, session, cookie string, now time.Time) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return "", false
	}
	nonce, sealed := raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():]
	plain, err := k.aead.Open(nil, nonce, sealed, flashBinding(kind, session))
	if err != nil || len(plain) < 8 {
		return "", false
	}
	if expires := int64(binary.BigEndian.Uint64(plain)); now.Unix() > expires {
		return "", false
	}
	return string(plain[8:]), true
}

// flashBinding is the additional data a flash is sealed with.
func flashBinding(kind, session string) []byte {
	return []byte("beacon flash\x00" + kind + "\x00" + session)
}

// setFlash hands value to the next page of this browser's session that
// takes a flash of kind.
func (k flashKeys) set(c echo.Context, kind, value string) {
	c.SetCookie(&http.Cookie{
		Name: cookieName(c, flashCookie), Value: k.seal(kind, flashSession(c), value, time.Now().Add(flashTTL)),
		Path: "/", MaxAge: int(flashTTL.Seconds()), HttpOnly: true, Secure: isSecure(c), SameSite: http.SameSiteStrictMode,
	})
}

// take returns the flash of kind the browser brought, if any, and clears
// the cookie either way: a flash is shown once. A page that shows one
// must not be cached.
func (k flashKeys) take(c echo.Context, kind string) (string, bool) {
	ck, err := c.Cookie(cookieName(c, flashCookie))
	if err != nil {
		return "", false
	}
	c.SetCookie(&http.Cookie{Name: cookieName(c, flashCookie), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: isSecure(c), SameSite: http.SameSiteStrictMode})
	return k.open(kind, flashSession(c), ck.Value, time.Now())
}

// flashSession is what a flash is bound to: the signed-in session's id (the
// forms that make one need a session).
func flashSession(c echo.Context) string {
	if s := sessionOf(c); s != nil {
		return strconv.FormatInt(s.ID, 10)
	}
	return ""
}
