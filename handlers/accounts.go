package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/limit"
	"github.com/beacon-live/beacon/names"
	"github.com/beacon-live/beacon/views"
)

// AccountConfig is how accounts behave.
type AccountConfig struct {
	// SessionTTL is how long a sign-in lasts at most. Default 30 days.
	SessionTTL time.Duration
	// SessionIdle ends a session unused for this long. Default
	// DefaultSessionIdle. A use is recorded at most every SessionIdle/100
	// (and at least every hour), not on every request.
	SessionIdle time.Duration
	// Guests lets signed-out visitors post in rooms under a chosen name,
	// marked as guests. Off by default: they may read but not post.
	Guests bool
}

// DefaultSessionIdle is how long a session may go unused before it ends,
// unless configured.
const DefaultSessionIdle = 7 * 24 * time.Hour

// Cookies of accounts (over HTTPS with the __Host- prefix: cookieName).
const (
	sessionCookie = "beacon_session"
	csrfCookie    = "beacon_csrf" // a signed-out browser's random id, which its CSRF token is the MAC of
)

// ctxSession is where the session middleware keeps the request's session.
const ctxSession = "beacon.session"

// users is what accounts need from the store.
type users interface {
	CreateUser(ctx context.Context, name, passwordHash string) (db.User, error)
	CreateFirstUser(ctx context.Context, name, passwordHash string) (db.User, error)
	HasUsers(ctx context.Context) (bool, error)
	UserByName(ctx context.Context, name string) (db.User, error)
	CreateSession(ctx context.Context, userID int64, secret, agent string, expires time.Time) (db.Session, error)
	SessionBySecret(ctx context.Context, secret string, now time.Time) (db.Session, error)
	TouchSession(ctx context.Context, id int64, at time.Time) error
	Sessions(ctx context.Context, userID int64, now time.Time) ([]db.Session, error)
	DeleteSession(ctx context.Context, userID, id int64) error
}

// accounts serves signing up, in and out, and knows each request's session.
type accounts struct {
	store    users
	cfg      AccountConfig
	live     *liveSessions
	clientIP func(*http.Request) string
	signIns  *signInThrottle
	byIP     *limit.Keyed // failed sign-ins and sign-ups per address
	csrf     csrfKeys
	dummy    string // a hash to check when the name is unknown, so both take as long
	// signupClosed lets only the first account sign up (Access.SignupClosed).
	signupClosed bool
}

func newAccounts(store users, cfg AccountConfig, live *liveSessions, clientIP func(*http.Request) string, secret []byte) *accounts {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 30 * 24 * time.Hour
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = DefaultSessionIdle
	}
	byIP := limit.New(1/ipEvery.Seconds(), ipBurst)
	return &accounts{
		store: store, cfg: cfg, live: live, clientIP: clientIP,
		signIns: newSignInThrottle(byIP),
		byIP:    byIP,
		csrf:    newCSRFKeys(secret),
		dummy:   auth.HashPassword("no such user"),
	}
}

// session finds the request's session from its cookie; a request without a
// valid one goes on signed out (and an unknown cookie is cleared). Static
// files need no session, and cost no query. It also hands the CSRF keys to
// csrfToken and checkCSRF.
func (a *accounts) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(ctxCSRF, a.csrf)
		ck, err := c.Cookie(cookieName(c, sessionCookie))
		if err != nil || ck.Value == "" || strings.HasPrefix(c.Request().URL.Path, "/static/") {
			return next(c)
		}
		ctx, now := c.Request().Context(), time.Now()
		sess, err := a.store.SessionBySecret(ctx, ck.Value, now)
		if err == nil && a.idle(sess, now) {
			// Unused for too long: it ends now, as if it had expired. Best
			// effort: it is refused whether or not its row goes.
			a.endSession(ctx, sess.User.ID, sess.ID) //nolint:errcheck // see above
			err = db.ErrNotFound
		}
		switch {
		case err == nil:
			if now.Sub(sess.LastUsed) >= min(a.cfg.SessionIdle/100, time.Hour) {
				// Best effort: a failed touch only lets the session end sooner.
				a.store.TouchSession(ctx, sess.ID, now) //nolint:errcheck // see above
			}
			c.Set(ctxSession, &sess)
		case errors.Is(err, db.ErrNotFound):
			a.clearCookie(c)
		default:
			return err
		}
		return next(c)
	}
}

// idle reports whether sess has gone unused for too long at now.
func (a *accounts) idle(sess db.Session, now time.Time) bool {
	return now.Sub(sess.LastUsed) >= a.cfg.SessionIdle
}

// sessionOf returns the request's session, or nil when signed out.
func sessionOf(c echo.Context) *db.Session {
	s, _ := c.Get(ctxSession).(*db.Session)
	return s
}

// requireUser sends signed-out visitors of a page to sign in first, and
// refuses other requests with 401.
func requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if sessionOf(c) != nil {
			return next(c)
		}
		if c.Request().Method == http.MethodGet {
			return c.Redirect(http.StatusSeeOther, "/login"+nextQuery(c.Request().URL.RequestURI()))
		}
		return &fieldError{Status: http.StatusUnauthorized, Field: "session", Message: "sign in first"}
	}
}

// handleLoginPage serves GET /login.
func (a *accounts) handleLoginPage(c echo.Context) error {
	return render(c, http.StatusOK, views.LoginPage(a.form(c, "Sign in", "", "")))
}

// handleSignupPage serves GET /signup: the form, or, when sign-up is
// closed and the first account exists, a 403 page that says who makes
// accounts.
func (a *accounts) handleSignupPage(c echo.Context) error {
	if a.signupClosed {
		exists, err := a.store.HasUsers(c.Request().Context())
		if err != nil {
			return err
		}
		if exists {
			return a.signupClosedPage(c, "")
		}
	}
	return render(c, http.StatusOK, views.SignupPage(a.form(c, "Sign up", "", "")))
}

// signupClosedPage refuses a sign-up: accounts are made by an admin.
func (a *accounts) signupClosedPage(c echo.Context, name string) error {
	f := a.form(c, "Sign up", name, "")
	f.Closed = true
	return render(c, http.StatusForbidden, views.SignupPage(f))
}

func (a *accounts) form(c echo.Context, title, name, problem string) views.AuthForm {
	next := safeNext(c.FormValue("next"))
	return views.AuthForm{Page: views.Page{Title: title, CSRF: csrfToken(c)}, Name: name, Next: next, Error: problem}
}

// handleLogin serves POST /login. A name longer than any account's is
// refused at once; too many failures for the name (from this address, or
// from all), or from the address, are refused with 429 before the password
// is looked at (signInThrottle).
func (a *accounts) handleLogin(c echo.Context) error {
	name := strings.TrimSpace(c.FormValue("name"))
	if len(name) > maxSignInName {
		return render(c, http.StatusBadRequest, views.LoginPage(a.form(c, "Sign in", "",
			"That name is longer than any account's.")))
	}
	password := c.FormValue("password")
	key, ok := names.Key(name)
	if !ok {
		key = strings.ToLower(name) // no account's name: still one key for all its tries
	}
	end, refused := a.signIns.begin(key, a.clientIP(c.Request()), time.Now())
	if refused != nil {
		after := limit.RetryAfter(refused.Wait)
		problem := "Too many failed sign-ins. Try again in " + after + " seconds."
		if refused.Busy {
			problem = "Another sign-in for this name is being checked. Try again in a second."
		}
		c.Response().Header().Set("Retry-After", after)
		return render(c, http.StatusTooManyRequests, views.LoginPage(a.form(c, "Sign in", name, problem)))
	}
	outcome := signInUnchecked
	defer func() { end(outcome, time.Now()) }()
	u, err := a.store.UserByName(c.Request().Context(), name)
	hash := u.Password
	if errors.Is(err, db.ErrNotFound) || name == "" {
		hash = a.dummy // same work, so timing does not tell which names exist
	} else if err != nil {
		return err
	}
	if err := auth.CheckPassword(hash, password); err != nil || hash == a.dummy {
		outcome = signInFailed
		return render(c, http.StatusUnauthorized, views.LoginPage(a.form(c, "Sign in", name, "Wrong name or password.")))
	}
	outcome = signInMatched
	return a.signIn(c, u)
}

// credentials are a decoded, valid sign-up form.
type credentials struct {
	Name, Password string
}

// decodeSignup validates the sign-up form: a name (names.Account), in
// the form to store, and a password (checkPassword). The error says which
// and why.
func decodeSignup(form url.Values) (credentials, error) {
	in := credentials{Password: form.Get("password")}
	n, err := names.Account(strings.TrimSpace(form.Get("name")))
	if err != nil {
		return credentials{}, nameError(err)
	}
	in.Name = n.Display
	if err := checkPassword(in.Password); err != nil {
		return credentials{}, err
	}
	return in, nil
}

// handleSignup serves POST /signup.
func (a *accounts) handleSignup(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return badField("body", "is not a valid form")
	}
	in, err := decodeSignup(form)
	if err != nil {
		var fe *fieldError
		errors.As(err, &fe)
		return render(c, http.StatusBadRequest, views.SignupPage(a.form(c, "Sign up", form.Get("name"),
			"Your "+fe.Field+" "+fe.Message+".")))
	}
	name, password := in.Name, in.Password
	if ok, wait := a.byIP.Allow(a.clientIP(c.Request()), time.Now()); !ok {
		c.Response().Header().Set("Retry-After", limit.RetryAfter(wait))
		return render(c, http.StatusTooManyRequests, views.SignupPage(a.form(c, "Sign up", name,
			"Too many attempts from your address. Try again in "+limit.RetryAfter(wait)+" seconds.")))
	}
	create := a.store.CreateUser
	if a.signupClosed {
		create = a.store.CreateFirstUser // decided in the database: of two at once, one gets in
	}
	u, err := create(c.Request().Context(), name, auth.HashPassword(password))
	if errors.Is(err, db.ErrNotFirst) {
		return a.signupClosedPage(c, name)
	}
	if errors.Is(err, db.ErrExists) {
		return render(c, http.StatusConflict, views.SignupPage(a.form(c, "Sign up", name, "That name is taken.")))
	}
	if err != nil {
		return err
	}
	return a.signIn(c, u)
}

// signIn starts a session for u, sets its cookie and goes on to ?next. The
// browser's session from before, if any, ends: a sign-in never leaves a
// session behind that the browser no longer holds the cookie of.
func (a *accounts) signIn(c echo.Context, u db.User) error {
	secret := auth.Secret("")
	agent := truncate(c.Request().UserAgent(), 200)
	if agent == "" {
		agent = "unknown browser"
	}
	if _, err := a.store.CreateSession(c.Request().Context(), u.ID, secret, agent,
		time.Now().Add(a.cfg.SessionTTL)); err != nil {
		return err
	}
	if old := sessionOf(c); old != nil {
		if err := a.endSession(c.Request().Context(), old.User.ID, old.ID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
	}
	c.SetCookie(&http.Cookie{
		Name: cookieName(c, sessionCookie), Value: secret, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: isSecure(c), MaxAge: int(a.cfg.SessionTTL.Seconds()),
	})
	return c.Redirect(http.StatusSeeOther, safeNext(c.FormValue("next")))
}

// handleLogout serves POST /logout: it ends the session and its live
// connections.
func (a *accounts) handleLogout(c echo.Context) error {
	if s := sessionOf(c); s != nil {
		if err := a.endSession(c.Request().Context(), s.User.ID, s.ID); err != nil && !errors.Is(err, db.ErrNotFound) {
			return err
		}
	}
	a.clearCookie(c)
	return c.Redirect(http.StatusSeeOther, "/")
}

// endSession deletes session id of user. Its live connections close when
// the deletion is applied (Publisher.SessionEnded), on every instance, and
// on this one before endSession returns.
func (a *accounts) endSession(ctx context.Context, userID, id int64) error {
	return a.store.DeleteSession(ctx, userID, id)
}

func (a *accounts) clearCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{Name: cookieName(c, sessionCookie), Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: isSecure(c), MaxAge: -1})
}

// checkUserName validates an account name (names.Account): 1–32 letters,
// digits and . _ - in one script (no spaces, so a name is one word in a
// mention or a URL).
func checkUserName(name string) error {
	_, err := names.Account(name)
	return nameError(err)
}

// checkPassword validates a new password: 8 to 256 bytes of UTF-8.
func checkPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < 8:
		return badField("password", "must be at least 8 characters")
	case len(pw) > 256:
		return badField("password", "must be at most 256 bytes")
	case !utf8.ValidString(pw):
		return badField("password", "is not valid UTF-8")
	}
	return nil
}

// safeNext returns next if it is a path on this site, else "/": a sign-in
// link must not send anyone to another site.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// nextQuery is "?next=…" for a local path to come back to.
func nextQuery(path string) string { return "?next=" + url.QueryEscape(path) }
