package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestNamesArePrepared (issue #10, item 9): names that read alike are one
// name, for accounts and guests; names mixing look-alike scripts are refused.
func TestNamesArePrepared(t *testing.T) {
	in := start(t, "", "")
	signUp(t, in.URL, "Émile")

	c := noRedirects(newJar(t))
	csrf := csrfOf(t, c, in.URL+"/signup")
	for _, tt := range []struct {
		name, says string
		status     int
	}{
		{"émile", "That name is taken.", http.StatusConflict},
		{"E\u0301MILE", "That name is taken.", http.StatusConflict}, // decomposed É
		{"аlice", "mixes Cyrillic and Latin", http.StatusBadRequest},
	} {
		resp, body := postForm(t, c, in.URL+"/signup", url.Values{"_csrf": {csrf}, "name": {tt.name}, "password": {"long enough"}})
		if resp.StatusCode != tt.status || !strings.Contains(body, tt.says) {
			t.Errorf("sign up as %q beside Émile: %s, want %d saying %q", tt.name, resp.Status, tt.status, tt.says)
		}
	}

	// Émile signs in under any form of the name, and is shown as it was made.
	for _, name := range []string{"émile", "ÉMILE", "E\u0301mile"} {
		c := noRedirects(newJar(t))
		csrf := csrfOf(t, c, in.URL+"/login")
		resp, body := postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {name}, "password": {"password-of-Émile"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("sign in as %q: %s %.200s", name, resp.Status, body)
			continue
		}
		if page, _ := get(t, c, in.URL+"/notifications"); !strings.Contains(page, "Émile") {
			t.Errorf("signed in as %q, the page does not say Émile", name)
		}
	}

	// Guests cannot pass for Émile, nor mix scripts.
	signUp(t, in.URL, "alice")
	for _, tt := range []struct {
		name   string
		status int
	}{
		{"ÉMILE", http.StatusConflict},
		{"E\u0301mile", http.StatusConflict},
		{"ＡＬＩＣＥ", http.StatusConflict},   // full width
		{"аlice", http.StatusBadRequest}, // Cyrillic а
		{"Ivan Иванов", http.StatusBadRequest},
	} {
		g := noRedirects(newJar(t))
		csrf := csrfOf(t, g, in.URL+"/rooms/lobby")
		resp, body := postForm(t, g, in.URL+"/rooms/lobby/name", url.Values{"_csrf": {csrf}, "name": {tt.name}})
		if resp.StatusCode != tt.status {
			t.Errorf("guest name %q: %s %.200s, want %d", tt.name, resp.Status, body, tt.status)
		}
		conn, resp, err := dialRoom(t.Context(), nil, in.Addr, "lobby", tt.name, "", nil)
		if err == nil {
			conn.Close()
		}
		if resp == nil || resp.StatusCode != tt.status {
			t.Errorf("a program as guest %q: %v (%s), want %d", tt.name, err, statusOf(resp), tt.status)
		}
	}
	// A guest's name is kept in its prepared form.
	g := noRedirects(newJar(t))
	csrf = csrfOf(t, g, in.URL+"/rooms/lobby")
	if resp, body := postForm(t, g, in.URL+"/rooms/lobby/name", url.Values{"_csrf": {csrf}, "name": {"  Ｊｅａｎ   Luc "}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("guest name with wide letters and spaces: %s %.200s", resp.Status, body)
	}
	if got := cookieHeader(t, g, in.URL); !strings.Contains(got, "beacon_name=Jean+Luc") {
		t.Errorf("the guest's name cookie: %q, want Jean+Luc", got)
	}
}
