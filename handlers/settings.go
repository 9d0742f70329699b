package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

// tokenKeeper is what the settings page needs from the store.
type tokenKeeper interface {
	CreateToken(ctx context.Context, userID int64, name, token string, scopes []string) (db.Token, error)
	Tokens(ctx context.Context, userID int64) ([]db.Token, error)
	RevokeToken(ctx context.Context, userID, id int64, now time.Time) error
}

// widgetKeeper is what the settings page needs from the store for widget
// tokens.
type widgetKeeper interface {
	WidgetTokens(ctx context.Context, userID int64, limit int) ([]db.WidgetToken, error)
	RevokeWidgetToken(ctx context.Context, userID, id int64, now time.Time) error
}

// settingsWidgets is how many widget tokens the settings page lists, newest
// first (beacon embed list shows them all).
const settingsWidgets = 200

// settings serves GET /settings and its forms: API tokens, widget tokens
// and sessions.
type settings struct {
	tokens      tokenKeeper
	widgets     widgetKeeper
	widgetConns *liveSessions // live connections by widget token id
	tokenConns  *liveSessions // live connections by API token id
	accounts    *accounts
	unread      unreadReader
	epoch       string
	flash       flashKeys
}

// handlePage serves GET /settings, with the token just made, if the form's
// redirect brought one (shown this once).
func (s *settings) handlePage(c echo.Context) error {
	token, _ := s.flash.take(c, flashAPIToken)
	if token != "" {
		c.Response().Header().Set("Cache-Control", "no-store") // the page holds a secret
	}
	return s.render(c, http.StatusOK, token, "")
}

// render shows the settings page, with a token just made (shown this once)
// or a problem with the form.
func (s *settings) render(c echo.Context, status int, newToken, problem string) error {
	ctx := c.Request().Context()
	sess := sessionOf(c)
	p, head, err := pageFor(c, s.unread, "Settings")
	if err != nil {
		return err
	}
	p.LiveURL = liveURL([]string{views.TopicUser(sess.User.ID)}, s.epoch, head) // the bell
	tokens, err := s.tokens.Tokens(ctx, sess.User.ID)
	if err != nil {
		return err
	}
	sessions, err := s.accounts.store.Sessions(ctx, sess.User.ID, time.Now())
	if err != nil {
		return err
	}
	// An admin sees and revokes every widget token; a member its own.
	maker := sess.User.ID
	if sess.User.Admin() {
		maker = 0
	}
	widgets, err := s.widgets.WidgetTokens(ctx, maker, settingsWidgets)
	if err != nil {
		return err
	}
	v := views.Settings{Page: p, NewToken: newToken, Error: problem, AllWidgets: maker == 0}
	for _, sc := range auth.AllScopes {
		if sess.User.Admin() || !auth.NeedsAdmin(sc) {
			v.Scopes = append(v.Scopes, sc)
		}
	}
	now := time.Now()
	for _, w := range widgets {
		v.Widgets = append(v.Widgets, views.WidgetToken{ID: w.ID, Widget: w.Widget, Room: w.Room, Post: w.Post,
			Origins: w.Origins, Expires: w.Expires, By: w.UserName, Revoked: !w.Revoked.IsZero(), Expired: !now.Before(w.Expires)})
	}
	for _, t := range tokens {
		v.Tokens = append(v.Tokens, views.Token{ID: t.ID, Name: t.Name, Scopes: t.Scopes, At: t.At,
			LastUsed: t.LastUsed, Revoked: !t.Revoked.IsZero()})
	}
	for _, ss := range sessions {
		if s.accounts.idle(ss, time.Now()) {
			continue // it has ended; its row goes when it is next seen or expires
		}
		v.Sessions = append(v.Sessions, views.Session{ID: ss.ID, Agent: ss.Agent, At: ss.At, Current: ss.ID == sess.ID})
	}
	return render(c, status, views.SettingsPage(v))
}

// tokenInput is a decoded, valid token form.
type tokenInput struct {
	Name   string
	Scopes []string
}

// decodeTokenForm validates the settings page's token form: a name and at
// least one known scope.
func decodeTokenForm(form url.Values) (tokenInput, error) {
	in := tokenInput{Name: strings.TrimSpace(form.Get("name"))}
	if err := checkText("name", in.Name, 64, true); err != nil {
		return tokenInput{}, err
	}
	scopes, err := auth.ParseScopes(strings.Join(form["scope"], " "))
	if err != nil {
		return tokenInput{}, badField("scope", "%s", err.Error())
	}
	in.Scopes = scopes
	return in, nil
}

// handleCreateToken serves POST /settings/tokens: it makes a token and
// redirects to the settings page, which shows it once (a flash); only its
// hash is kept. Reloading that page shows the list, and sends nothing.
func (s *settings) handleCreateToken(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return badField("body", "is not a valid form")
	}
	in, err := decodeTokenForm(form)
	if err != nil {
		var fe *fieldError
		errors.As(err, &fe)
		return s.render(c, http.StatusBadRequest, "", "The token's "+fe.Field+" "+fe.Message+".")
	}
	if !isAdmin(c) {
		for _, sc := range in.Scopes {
			if auth.NeedsAdmin(sc) {
				return s.render(c, http.StatusForbidden, "", "Scope "+sc+" needs an admin: only admins make tokens that ingest or notify.")
			}
		}
	}
	token := auth.Secret(auth.TokenPrefix)
	if _, err := s.tokens.CreateToken(c.Request().Context(), sessionOf(c).User.ID, in.Name, token, in.Scopes); err != nil {
		return err
	}
	s.flash.set(c, flashAPIToken, token)
	return c.Redirect(http.StatusSeeOther, "/settings")
}

// handleRevokeToken serves POST /settings/tokens/:id/revoke.
func (s *settings) handleRevokeToken(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return badField("id", "must be a token's number")
	}
	err = s.tokens.RevokeToken(c.Request().Context(), sessionOf(c).User.ID, id, time.Now())
	switch {
	case err == nil:
		s.tokenConns.end(id) // its streams and sockets close now
	case !errors.Is(err, db.ErrNotFound):
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/settings")
}

// handleRevokeWidget serves POST /settings/widgets/:id/revoke: the widget
// token stops working, and its open live connections close before the
// answer (on this instance; on every other as it applies it). A member
// revokes its own; an admin anyone's.
func (s *settings) handleRevokeWidget(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return badField("id", "must be a widget token's number")
	}
	maker := sessionOf(c).User.ID
	if isAdmin(c) {
		maker = 0
	}
	// Its connections close when the revocation is applied
	// (Publisher.OnWidgetRevoked), on every instance.
	err = s.widgets.RevokeWidgetToken(c.Request().Context(), maker, id, time.Now())
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/settings")
}

// handleRevokeSession serves POST /settings/sessions/:id/revoke: that
// browser is signed out and its live connections close now.
func (s *settings) handleRevokeSession(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return badField("id", "must be a session's number")
	}
	err = s.accounts.endSession(c.Request().Context(), sessionOf(c).User.ID, id)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/settings")
}
