package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// These tests drive the sign-in throttle of issue #10 (items 4, 6 and 7)
// through the real program. Addresses other than 127.0.0.1 come from
// X-Forwarded-For, which the server trusts with --proxy-header.

// signInFrom posts the sign-in form for name and password with c (whose jar
// holds the CSRF cookie that csrf belongs to), as a client at addr, and
// returns the status.
func signInFrom(t testing.TB, base string, c *http.Client, csrf, addr, name, password string) int {
	t.Helper()
	form := url.Values{"_csrf": {csrf}, "name": {name}, "password": {password}}
	req, err := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", addr)
	nc := *c // c is shared by concurrent tries: change a copy
	resp, err := noRedirects(&nc).Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
	resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	return resp.StatusCode
}

// TestSignInThrottleCountsBeforeChecking (item 6): 61 concurrent wrong
// guesses for one name from one address: at most the burst of 10 get their
// password checked (answered 401); the others are refused with 429 before
// any check.
func TestSignInThrottleCountsBeforeChecking(t *testing.T) {
	in := start(t, "", "", "--proxy-header", "X-Forwarded-For")
	signUp(t, in.URL, "bob")
	c := newJar(t)
	csrf := csrfOf(t, c, in.URL+"/login")

	const guesses = 61
	codes := make(chan int, guesses)
	var wg sync.WaitGroup
	for range guesses {
		wg.Go(func() { codes <- signInFrom(t, in.URL, c, csrf, "10.0.0.1", "bob", "not bob's password") })
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for code := range codes {
		count[code]++
	}
	t.Logf("%d concurrent wrong guesses: %v", guesses, count)
	if count[http.StatusUnauthorized] > 10 || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != guesses {
		t.Errorf("%d concurrent wrong guesses were answered %v: want at most 10 checked (401), the rest 429", guesses, count)
	}
}

// TestSignInThrottleSparesTheOwner (item 7): one address's wrong guesses
// throttle that address, not the account's owner at another address.
func TestSignInThrottleSparesTheOwner(t *testing.T) {
	in := start(t, "", "", "--proxy-header", "X-Forwarded-For")
	signUp(t, in.URL, "bob")
	attacker := newJar(t)
	csrf := csrfOf(t, attacker, in.URL+"/login")
	var codes []int
	for range 15 {
		codes = append(codes, signInFrom(t, in.URL, attacker, csrf, "10.0.0.66", "bob", "guess"))
	}
	if codes[0] != http.StatusUnauthorized || codes[14] != http.StatusTooManyRequests {
		t.Fatalf("15 wrong guesses from one address: %v, want 401 first and 429 by the end", codes)
	}
	// The attacker's address stays throttled for bob, even with the right
	// password.
	if code := signInFrom(t, in.URL, attacker, csrf, "10.0.0.66", "bob", "password-of-bob"); code != http.StatusTooManyRequests {
		t.Errorf("the right password from the throttled address: %d, want 429", code)
	}
	owner := newJar(t)
	csrf = csrfOf(t, owner, in.URL+"/login")
	if code := signInFrom(t, in.URL, owner, csrf, "192.0.2.7", "bob", "password-of-bob"); code != http.StatusSeeOther {
		t.Errorf("the owner signing in from another address: %d, want 303", code)
	}
}
