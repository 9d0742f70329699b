package main

import (
	"database/sql"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// These tests check the lifetime of sessions (issue #10, item 11) against
// the real program and its real database file.

// sessionCookieOf returns the session cookie in c's jar for base.
func sessionCookieOf(t testing.TB, c *http.Client, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "beacon_session" {
			return ck.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// withCookie is a new browser that holds only the session cookie value.
func withCookie(t testing.TB, base, session string) *http.Client {
	t.Helper()
	c := noRedirects(newJar(t))
	u, _ := url.Parse(base)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "beacon_session", Value: session, Path: "/"}})
	return c
}

// signedInWith reports whether a browser holding the session cookie value
// is signed in.
func signedInWith(t testing.TB, base, session string) bool {
	t.Helper()
	_, status := get(t, withCookie(t, base, session), base+"/notifications")
	return status == http.StatusOK
}

// TestSignInRotatesTheSession: signing in again from a browser that has a
// session ends that session; its cookie signs nobody in any more.
func TestSignInRotatesTheSession(t *testing.T) {
	in := start(t, "", "")
	ann := signUp(t, in.URL, "ann")
	first := sessionCookieOf(t, ann.C, in.URL)
	for _, who := range []string{"ann", "bob"} {
		if who == "bob" {
			signUp(t, in.URL, "bob")
		}
		csrf := csrfOf(t, ann.C, in.URL+"/login")
		resp, body := postForm(t, ann.C, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {who}, "password": {"password-of-" + who}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("signing in as %s again: %s %.200s", who, resp.Status, body)
		}
		second := sessionCookieOf(t, ann.C, in.URL)
		if second == first {
			t.Fatalf("signing in as %s kept the session cookie", who)
		}
		if signedInWith(t, in.URL, first) {
			t.Errorf("the session before signing in as %s still signs in", who)
		}
		if !signedInWith(t, in.URL, second) {
			t.Errorf("the new session of %s does not sign in", who)
		}
		first = second
	}
	// ann's settings list no session of that browser any more.
	other := signIn(t, in.URL, "ann")
	page, _ := get(t, other.C, in.URL+"/settings")
	if n := len(regexp.MustCompile(`action="/settings/sessions/\d+/revoke"`).FindAllString(page, -1)); n != 0 {
		t.Errorf("ann's settings list %d other sessions, want none", n)
	}
}

// TestSessionIdleTimeout: a session unused for --session-idle ends; use is
// recorded now and then, not on every request.
func TestSessionIdleTimeout(t *testing.T) {
	in := start(t, "", "", "--session-idle", "2h")
	ann := signUp(t, in.URL, "ann")
	cookie := sessionCookieOf(t, ann.C, in.URL)
	raw, err := sql.Open("sqlite3", "file:"+in.DB+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	setLastUse := func(ago time.Duration) int64 {
		t.Helper()
		at := time.Now().Add(-ago).UnixMilli()
		if _, err := raw.Exec(`UPDATE sessions SET last_used_at = ?`, at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	lastUse := func() int64 {
		t.Helper()
		var at int64
		if err := raw.QueryRow(`SELECT last_used_at FROM sessions`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	// Used a minute ago: it works, and nothing is written.
	at := setLastUse(time.Minute)
	if !signedInWith(t, in.URL, cookie) {
		t.Fatal("a session used a minute ago does not sign in")
	}
	if got := lastUse(); got != at {
		t.Errorf("a request a minute after the last recorded use wrote it (%d, was %d)", got, at)
	}
	// Used an hour ago: it works, and the use is recorded.
	at = setLastUse(time.Hour)
	before := time.Now().UnixMilli()
	if !signedInWith(t, in.URL, cookie) {
		t.Fatal("a session used an hour ago does not sign in")
	}
	if got := lastUse(); got < before {
		t.Errorf("a request an hour after the last recorded use did not record it (%d, want ≥ %d)", got, before)
	}
	// Unused for longer than 2h: it has ended.
	setLastUse(2*time.Hour + time.Minute)
	if signedInWith(t, in.URL, cookie) {
		t.Error("a session unused for longer than --session-idle still signs in")
	}
}

func TestSessionIdleSetting(t *testing.T) {
	c, err := newConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || c.SessionIdle != 7*24*time.Hour {
		t.Fatalf("default session-idle %v (%v), want 168h", c.SessionIdle, err)
	}
	env := func(k string) string {
		if k == "BEACON_SESSION_IDLE" {
			return "30s"
		}
		return ""
	}
	if _, err := newConfig(nil, env, io.Discard); err == nil || !strings.Contains(err.Error(), "session-idle") {
		t.Errorf("BEACON_SESSION_IDLE=30s gave %v, want an error naming session-idle", err)
	}
}
