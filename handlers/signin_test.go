package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/beacon-live/beacon/limit"
)

var t0 = time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC)

// try is one attempt on th that ends with outcome; it reports the refusal.
func try(th *signInThrottle, name, addr string, now time.Time, outcome signInOutcome) *signInRefusal {
	end, refused := th.begin(name, addr, now)
	if refused == nil {
		end(outcome, now)
	}
	return refused
}

func TestSignInThrottle(t *testing.T) {
	newThrottle := func() *signInThrottle { return newSignInThrottle(limit.New(1/ipEvery.Seconds(), ipBurst)) }

	t.Run("one address throttles itself, not the owner", func(t *testing.T) {
		th := newThrottle()
		for i := range pairBurst {
			if r := try(th, "bob", "10.0.0.1", t0, signInFailed); r != nil {
				t.Fatalf("failure %d refused: %+v", i+1, r)
			}
		}
		if r := try(th, "bob", "10.0.0.1", t0, signInFailed); r == nil || r.Busy || r.Wait != pairEvery {
			t.Errorf("failure %d from the same address: %+v, want refused for %v", pairBurst+1, r, pairEvery)
		}
		if r := try(th, "bob", "10.0.0.2", t0, signInMatched); r != nil {
			t.Errorf("the owner from another address: refused %+v", r)
		}
	})

	t.Run("only one check of a name at a time", func(t *testing.T) {
		th := newThrottle()
		end, refused := th.begin("bob", "10.0.0.1", t0)
		if refused != nil {
			t.Fatal(refused)
		}
		if r := try(th, "bob", "10.0.0.2", t0, signInFailed); r == nil || !r.Busy || r.Wait != busyWait {
			t.Errorf("a second attempt while one is checked: %+v, want busy", r)
		}
		if r := try(th, "ann", "10.0.0.1", t0, signInFailed); r != nil {
			t.Errorf("another name meanwhile: refused %+v", r)
		}
		end(signInFailed, t0)
		if r := try(th, "bob", "10.0.0.2", t0, signInFailed); r != nil {
			t.Errorf("after the first check ended: refused %+v", r)
		}
	})

	t.Run("a ceiling for all addresses", func(t *testing.T) {
		th := newThrottle()
		for i := range nameBurst {
			addr := fmt.Sprintf("10.0.%d.%d", i/pairBurst, i%pairBurst)
			if r := try(th, "bob", addr, t0, signInFailed); r != nil {
				t.Fatalf("failure %d from %s refused: %+v", i+1, addr, r)
			}
		}
		r := try(th, "bob", "192.0.2.1", t0, signInMatched)
		if r == nil || r.Wait != nameEvery {
			t.Fatalf("attempt %d from a new address: %+v, want refused for %v", nameBurst+1, r, nameEvery)
		}
		if r := try(th, "bob", "192.0.2.1", t0.Add(nameEvery), signInMatched); r != nil {
			t.Errorf("after %v: refused %+v", nameEvery, r)
		}
	})

	t.Run("a match gives its tokens back", func(t *testing.T) {
		th := newThrottle()
		for range pairBurst - 1 {
			try(th, "bob", "10.0.0.1", t0, signInFailed)
		}
		try(th, "bob", "10.0.0.1", t0, signInMatched) // and forgets this address's failures for bob
		for i := range pairBurst {
			if r := try(th, "bob", "10.0.0.1", t0, signInFailed); r != nil {
				t.Fatalf("failure %d after a match refused: %+v", i+1, r)
			}
		}
		if n := th.addr.Len(); n != 1 {
			t.Errorf("%d addresses tracked, want 1", n)
		}
	})

	t.Run("a refusal takes nothing", func(t *testing.T) {
		th := newThrottle()
		for i := range ipBurst {
			try(th, fmt.Sprintf("name%d", i/pairBurst), "10.0.0.1", t0, signInFailed)
		}
		names, pairs := th.name.Len(), th.pair.Len()
		if r := try(th, "carol", "10.0.0.1", t0, signInFailed); r == nil || r.Wait != ipEvery {
			t.Fatalf("attempt %d from one address: %+v, want refused for %v", ipBurst+1, r, ipEvery)
		}
		if th.name.Len() != names || th.pair.Len() != pairs {
			t.Errorf("a refused attempt kept keys: %d names and %d pairs, want %d and %d", th.name.Len(), th.pair.Len(), names, pairs)
		}
		if r := try(th, "carol", "10.0.0.2", t0, signInFailed); r != nil {
			t.Errorf("carol from another address: refused %+v", r)
		}
	})

	t.Run("an unchecked attempt counts for nothing", func(t *testing.T) {
		th := newThrottle()
		for range 3 * pairBurst {
			if r := try(th, "bob", "10.0.0.1", t0, signInUnchecked); r != nil {
				t.Fatalf("refused %+v", r)
			}
		}
		if th.pair.Len()+th.name.Len()+th.addr.Len() != 0 {
			t.Errorf("unchecked attempts kept keys")
		}
	})
}

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signedOutForm loads page from s and returns its cookies and its form's
// CSRF token.
func signedOutForm(t *testing.T, s http.Handler, page string) ([]*http.Cookie, string) {
	t.Helper()
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", page, nil))
	m := csrfInput.FindStringSubmatch(w.Body.String())
	if w.Code != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no CSRF token", page, w.Code)
	}
	return w.Result().Cookies(), m[1]
}

// postWith posts form to path with cookies.
func postWith(s http.Handler, path string, cookies []*http.Cookie, form url.Values) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", ctForm)
	for _, ck := range cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// TestSignInRefusesLongNames (item 4): a sign-in name longer than any
// account's is refused with 400 before any lookup, and leaves no key behind.
func TestSignInRefusesLongNames(t *testing.T) {
	s, _ := newTestServer(t)
	cookies, csrf := signedOutForm(t, s, "/login")
	long := strings.Repeat("n", 10_000)
	w := postWith(s, "/login", cookies, url.Values{"_csrf": {csrf}, "name": {long}, "password": {"whatever it is"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "longer than any account") {
		t.Errorf("a 10,000-byte name: %d, want 400 saying it is too long", w.Code)
	}
	if strings.Contains(w.Body.String(), long[:300]) {
		t.Error("the page shows the long name back")
	}
	th := s.accounts.signIns
	if n := th.pair.Len() + th.name.Len() + th.addr.Len(); n != 0 {
		t.Errorf("%d throttle keys kept for a refused name, want 0", n)
	}
}
