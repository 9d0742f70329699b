package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Access says who may see what, beyond the roles every account has: the
// first account is an admin (db.CreateUser decides it), and only admins make
// ingest and notify tokens and posting widgets and see the server panel. The
// zero value is the default: the dashboard for members, sign-up open.
type Access struct {
	// PublicDashboard lets signed-out visitors see the dashboard, the rooms
	// and their live topics (--dashboard public). Without it they are sent
	// to sign in first; the rooms stay open when guests may post there.
	// Widgets work either way: their token is their credential.
	PublicDashboard bool
	// SignupClosed refuses /signup (--signup closed), except for the first
	// account of a database that has none: an admin makes accounts
	// (beacon user create).
	SignupClosed bool
}

// isAdmin reports whether the request's session is an admin's.
func isAdmin(c echo.Context) bool {
	s := sessionOf(c)
	return s != nil && s.User.Admin()
}

// errSignIn refuses a signed-out request for what only members see.
var errSignIn = &fieldError{Status: http.StatusUnauthorized, Field: "session",
	Message: "sign in first: this server shows its dashboard and rooms to members only"}

// membersOnly, unless open, sends signed-out visitors of a page to sign in
// first (and back), and refuses other signed-out requests (the API, a
// socket) with 401.
func membersOnly(open bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if open {
			return next
		}
		return func(c echo.Context) error {
			if sessionOf(c) != nil {
				return next(c)
			}
			r := c.Request()
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") {
				return c.Redirect(http.StatusSeeOther, "/login"+nextQuery(r.URL.RequestURI()))
			}
			return errSignIn
		}
	}
}

// revocationPoll is how often a server looks for widget tokens revoked by
// another process (beacon embed revoke), to end their open connections.
// Revocations made on /settings end them at once.
const revocationPoll = 2 * time.Second

// WatchRevocations ends the live connections of every widget token that
// another process revokes, within revocationPoll, until ctx ends. Each look
// goes back two polls, so a revocation committed during a look is seen by
// the next; ending one twice does no harm.
func (s *Server) WatchRevocations(ctx context.Context) {
	t := time.NewTicker(revocationPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ids, err := s.Store.WidgetTokensRevokedSince(ctx, now.Add(-2*revocationPoll))
			if err != nil {
				if ctx.Err() == nil {
					s.Logger.Warn("look for revoked widget tokens", "err", err)
				}
				continue
			}
			for _, id := range ids {
				s.widgets.end(id)
			}
			if ids, err = s.Store.TokensRevokedSince(ctx, now.Add(-2*revocationPoll)); err != nil {
				if ctx.Err() == nil {
					s.Logger.Warn("look for revoked API tokens", "err", err)
				}
				continue
			}
			for _, id := range ids {
				s.tokenConns.end(id)
			}
		}
	}
}

// CheckAccount validates a new account's name and password exactly as the
// sign-up form does, for accounts made on the command line (beacon user
// create). It returns the name as it is to be stored; the error names the
// field and says why.
func CheckAccount(name, password string) (string, error) {
	in, err := decodeSignup(url.Values{"name": {name}, "password": {password}})
	return in.Name, err
}
