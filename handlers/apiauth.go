package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/db"
)

// tokenReader checks API tokens.
type tokenReader interface {
	TokenByValue(ctx context.Context, token string) (db.Token, error)
	TouchToken(ctx context.Context, id int64, now time.Time) error
}

// ctxToken is where requireScope keeps the request's token.
const ctxToken = "beacon.token"

// tokenOf returns the API token that authorized the request.
func tokenOf(c echo.Context) db.Token {
	t, _ := c.Get(ctxToken).(db.Token)
	return t
}

// touchEvery is how stale a token's "last used" may get before a request
// writes it again: often enough for the settings page, rarely enough that
// a busy script is not one extra write per request.
const touchEvery = time.Minute

// requireScope lets through requests with "Authorization: Bearer <token>"
// of a working token that has scope (checkToken says what is refused).
func requireScope(tokens tokenReader, scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if _, err := checkToken(c, tokens, scope); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// checkToken checks the request's "Authorization: Bearer <token>" for
// scope, keeps the token for tokenOf and returns it. Missing or unknown
// tokens are 401, revoked ones 401 too (they say so), a token without the
// scope 403, and a person's token with a scope that needs an admin
// (auth.NeedsAdmin) 403 when its owner is not one now: a demotion takes
// effect at once. Every answer says what is missing.
func checkToken(c echo.Context, tokens tokenReader, scope string) (db.Token, error) {
	h := c.Response().Header()
	value, ok := bearer(c.Request())
	if !ok {
		h.Set("WWW-Authenticate", `Bearer scope="`+scope+`"`)
		return db.Token{}, &fieldError{Status: http.StatusUnauthorized, Field: "Authorization",
			Message: "send an API token with scope " + scope + " as \"Authorization: Bearer <token>\" (make one on /settings or with beacon token create)"}
	}
	t, err := tokens.TokenByValue(c.Request().Context(), value)
	switch {
	case errors.Is(err, db.ErrNotFound):
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return db.Token{}, &fieldError{Status: http.StatusUnauthorized, Field: "Authorization", Message: "this token is not known"}
	case err != nil:
		return db.Token{}, err
	case !t.Revoked.IsZero():
		h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		return db.Token{}, &fieldError{Status: http.StatusUnauthorized, Field: "Authorization",
			Message: "this token was revoked on " + t.Revoked.Format(time.RFC3339)}
	case !slices.Contains(t.Scopes, scope):
		h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
		return db.Token{}, &fieldError{Status: http.StatusForbidden, Field: "Authorization",
			Message: "this token lacks scope " + scope + " (it has " + strings.Join(t.Scopes, ", ") + ")"}
	case auth.NeedsAdmin(scope) && t.UserID != 0 && t.OwnerRole != db.RoleAdmin:
		h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
		return db.Token{}, &fieldError{Status: http.StatusForbidden, Field: "Authorization",
			Message: "scope " + scope + " needs an admin's token, and this token's owner is not an admin (any more)"}
	}
	if now := time.Now(); now.Sub(t.LastUsed) > touchEvery {
		if err := tokens.TouchToken(c.Request().Context(), t.ID, now); err != nil {
			return db.Token{}, err
		}
	}
	c.Set(ctxToken, t)
	return t, nil
}

// bearerAccount lets a program act as an account with a token of scope
// instead of a session cookie: a request with "Authorization: Bearer" is
// checked by checkToken (and refused as it says), then acts as the token's
// owner (accountOf); its cookies are not read, so one request has one
// credential. A request without the header goes on as it came (a session,
// or a signed-out visitor).
//
// Such a request is never a browser's doing on a visitor's behalf: a
// browser attaches no bearer token by itself, as it does cookies, and the
// APIs a foreign page would use here set no headers at all (EventSource,
// WebSocket); a page that knows a token needs no browser to use it. That
// is why checkSocketOrigin lets it through: the Origin check keeps other
// sites from riding on a visitor's cookies, and this request carries none
// that count.
func bearerAccount(tokens tokenReader, scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if _, ok := bearer(c.Request()); !ok {
				return next(c)
			}
			if _, err := checkToken(c, tokens, scope); err != nil {
				return err
			}
			c.Set(ctxSession, (*db.Session)(nil)) // the cookie is not this request's credential
			return next(c)
		}
	}
}

// byToken reports whether the request acts by an API token (bearerAccount)
// rather than a cookie.
func byToken(c echo.Context) bool { return tokenOf(c).ID != 0 }

// account is who a request acts as: a signed-in session's account, or an
// API token's owner. A server token (made on the command line, no owner)
// has ID 0 and acts as the operator: it reads what an admin reads, but no
// one's private topic, and posts as no one.
type account struct {
	ID      int64
	Name    string
	Admin   bool
	Session int64 // the session's id; 0 for a token
	Token   int64 // the token's id; 0 for a session
}

// accountOf returns the account the request acts as, if any.
func accountOf(c echo.Context) (account, bool) {
	if s := sessionOf(c); s != nil {
		return account{ID: s.User.ID, Name: s.User.Name, Admin: s.User.Admin(), Session: s.ID}, true
	}
	if t := tokenOf(c); t.ID != 0 {
		return account{ID: t.UserID, Name: t.OwnerName, Admin: t.UserID == 0 || t.OwnerRole == db.RoleAdmin, Token: t.ID}, true
	}
	return account{}, false
}

// conns knows the live connections of each credential, so that signing
// out or revoking a session, or revoking an API token, ends them at once.
type conns struct {
	sessions *liveSessions // by session id
	tokens   *liveSessions // by API token id
}

// hold ties a live connection of a to its credential. It returns the
// connection's context and the release to call when it is over.
func (h conns) hold(ctx context.Context, a account, ok bool) (context.Context, func()) {
	switch {
	case !ok:
	case a.Session != 0:
		return h.sessions.hold(ctx, a.Session)
	case a.Token != 0:
		return h.tokens.hold(ctx, a.Token)
	}
	return ctx, func() {}
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	value = strings.TrimSpace(value)
	if !ok || !strings.EqualFold(scheme, "Bearer") || value == "" {
		return "", false
	}
	return value, true
}
