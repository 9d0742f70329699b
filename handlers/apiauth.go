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
// of a working token that has scope. Missing or unknown tokens are 401,
// revoked ones 401 too (they say so), a token without the scope 403, and a
// person's token with a scope that needs an admin (auth.NeedsAdmin) 403
// when its owner is not one now: a demotion takes effect at once. Every
// answer says what is missing.
func requireScope(tokens tokenReader, scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			value, ok := bearer(c.Request())
			if !ok {
				h.Set("WWW-Authenticate", `Bearer scope="`+scope+`"`)
				return &fieldError{Status: http.StatusUnauthorized, Field: "Authorization",
					Message: "send an API token with scope " + scope + " as \"Authorization: Bearer <token>\" (make one on /settings or with beacon token create)"}
			}
			t, err := tokens.TokenByValue(c.Request().Context(), value)
			switch {
			case errors.Is(err, db.ErrNotFound):
				h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				return &fieldError{Status: http.StatusUnauthorized, Field: "Authorization", Message: "this token is not known"}
			case err != nil:
				return err
			case !t.Revoked.IsZero():
				h.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				return &fieldError{Status: http.StatusUnauthorized, Field: "Authorization",
					Message: "this token was revoked on " + t.Revoked.Format(time.RFC3339)}
			case !slices.Contains(t.Scopes, scope):
				h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
				return &fieldError{Status: http.StatusForbidden, Field: "Authorization",
					Message: "this token lacks scope " + scope + " (it has " + strings.Join(t.Scopes, ", ") + ")"}
			case auth.NeedsAdmin(scope) && t.UserID != 0 && t.OwnerRole != db.RoleAdmin:
				h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
				return &fieldError{Status: http.StatusForbidden, Field: "Authorization",
					Message: "scope " + scope + " needs an admin's token, and this token's owner is not an admin (any more)"}
			}
			if now := time.Now(); now.Sub(t.LastUsed) > touchEvery {
				if err := tokens.TouchToken(c.Request().Context(), t.ID, now); err != nil {
					return err
				}
			}
			c.Set(ctxToken, t)
			return next(c)
		}
	}
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
