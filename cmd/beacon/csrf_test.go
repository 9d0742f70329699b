package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// These tests try each way around the CSRF check of issue #10 (item 10)
// that worked before it was bound to the session.

// postRaw posts form to page with c, with extra headers, and returns the
// answer and its body. It does not follow redirects.
func postRaw(t testing.TB, c *http.Client, page string, form url.Values, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, page, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// plant sets a cookie in c's jar for base, as a script on a sibling
// subdomain, or a man in the middle of a plain-HTTP page, could.
func plant(t testing.TB, c *http.Client, base, name, value string) {
	t.Helper()
	u, _ := url.Parse(base)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

func TestCSRFBoundToSession(t *testing.T) {
	in := start(t, "", "")
	ann := signUp(t, in.URL, "ann")
	planted := strings.Repeat("p", 43) // the length of a real token

	tokenForm := func(csrf string) url.Values {
		f := url.Values{"name": {"sneaky"}, "scope": {"notify"}}
		if csrf != "" {
			f.Set("_csrf", csrf)
		}
		return f
	}
	checkRefused := func(what string, resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%s: %s %.200s, want 403 about CSRF", what, resp.Status, body)
		}
	}

	// A signed-in browser: a planted CSRF cookie with the same value in the
	// form is not the session's token.
	plant(t, ann.C, in.URL, "beacon_csrf", planted)
	resp, body := postForm(t, ann.C, in.URL+"/settings/tokens", tokenForm(planted))
	checkRefused("signed in, a planted cookie and the same value in the form", resp, body)

	// The token in the query string instead of the body.
	resp, body = postForm(t, ann.C, in.URL+"/settings/tokens?_csrf="+url.QueryEscape(ann.CSRF), tokenForm(""))
	checkRefused("signed in, the session's token in the query string", resp, body)
	if page, _ := get(t, ann.C, in.URL+"/settings"); strings.Contains(page, "sneaky") {
		t.Error("a refused form made a token")
	}

	// The session's token, in the body or the header, works.
	if resp, body := postForm(t, ann.C, in.URL+"/settings/tokens", tokenForm(ann.CSRF)); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session's token in the form: %s %.200s", resp.Status, body)
	}
	if resp, body := postRaw(t, ann.C, in.URL+"/settings/tokens", tokenForm(""), http.Header{"X-Csrf-Token": {ann.CSRF}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the session's token in X-CSRF-Token: %s %.200s", resp.Status, body)
	}

	// Another session of the same account has another token.
	other := signIn(t, in.URL, "ann")
	if other.CSRF == ann.CSRF {
		t.Errorf("two sessions share the CSRF token %q", ann.CSRF)
	}
	resp, body = postForm(t, ann.C, in.URL+"/settings/tokens", tokenForm(other.CSRF))
	checkRefused("signed in, another session's token", resp, body)

	// A signed-out browser: a planted cookie with the same value in the form
	// does not sign anyone in (login CSRF).
	c := noRedirects(newJar(t))
	plant(t, c, in.URL, "beacon_csrf", planted)
	resp, body = postForm(t, c, in.URL+"/login", url.Values{"_csrf": {planted}, "name": {"ann"}, "password": {"password-of-ann"}})
	checkRefused("signed out, a planted cookie and the same value in the form", resp, body)
	// Nor does the page's token when it comes in the query string.
	csrf := csrfOf(t, c, in.URL+"/login")
	resp, body = postForm(t, c, in.URL+"/login?_csrf="+url.QueryEscape(csrf), url.Values{"name": {"ann"}, "password": {"password-of-ann"}})
	checkRefused("signed out, the token in the query string", resp, body)
	// The page's own token works.
	if resp, body := postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {"ann"}, "password": {"password-of-ann"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signing in with the page's token: %s %.200s", resp.Status, body)
	}
}

// TestCookiesOverHTTPSHaveHostPrefix: served over HTTPS (here: behind a
// trusted proxy that says so), Beacon's cookies carry the __Host- prefix, so
// no subdomain and no plain-HTTP page can set them; and they work.
func TestCookiesOverHTTPSHaveHostPrefix(t *testing.T) {
	in := start(t, "", "", "--proxy-header", "X-Forwarded-For")
	signUp(t, in.URL, "ann")
	https := http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-For": {"192.0.2.1"}}

	c := noRedirects(newJar(t))
	req, _ := http.NewRequest(http.MethodGet, in.URL+"/login", nil)
	req.Header = https.Clone()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	checkHostCookies := func(what string, cookies []*http.Cookie) {
		t.Helper()
		if len(cookies) == 0 {
			t.Errorf("%s set no cookie", what)
		}
		for _, ck := range cookies {
			if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("%s set cookie %s (Secure %v, Path %q, Domain %q), want __Host-, Secure, Path /, no Domain",
					what, ck.Name, ck.Secure, ck.Path, ck.Domain)
			}
		}
	}
	checkHostCookies("GET /login over HTTPS", resp.Cookies())

	// The form goes back with the cookies, as a browser's would.
	m := csrfField.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatal("no CSRF field on the sign-in page")
	}
	var ck []string
	for _, c := range resp.Cookies() {
		ck = append(ck, c.Name+"="+c.Value)
	}
	h := https.Clone()
	h.Set("Cookie", strings.Join(ck, "; "))
	resp, body := postRaw(t, &http.Client{}, in.URL+"/login", url.Values{"_csrf": {m[1]}, "name": {"ann"}, "password": {"password-of-ann"}}, h)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signing in over HTTPS: %s %.200s", resp.Status, body)
	}
	checkHostCookies("signing in over HTTPS", resp.Cookies())
}
