package main

// HTTP tests of issue #11's small things (item 7): a notification's link
// marks it read, and every form answers a POST with a redirect.

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beacon-live/beacon/widget"
)

// followRedirect loads the page a POST's redirect points at with c (its
// cookies too), as a browser does after Post/Redirect/Get.
func followRedirect(t testing.TB, c *http.Client, base string, post *http.Response) (*http.Response, string) {
	t.Helper()
	loc := post.Header.Get("Location")
	if post.StatusCode != http.StatusSeeOther || loc == "" {
		t.Fatalf("POST %s: %s (Location %q), want 303 See Other", post.Request.URL.Path, post.Status, loc)
	}
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return fetchPage(t, &nc, base+loc)
}

var unreadCount = regexp.MustCompile(`data-unread="(-?\d+)"`)

// unreadOf is a's unread count, as its notifications page's bell says.
func unreadOf(t testing.TB, base string, a *account) int {
	t.Helper()
	page, _ := get(t, a.C, base+"/notifications")
	m := unreadCount.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no bell on %s's notifications page", a.Name)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// openNotification GETs a's /notifications/pos/open with Sec-Fetch-Site
// site ("" for none) and returns the answer.
func openNotification(t testing.TB, base string, a *account, pos int64, site string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/notifications/"+strconv.FormatInt(pos, 10)+"/open", nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	c := *a.C
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestNotificationLinkMarksRead: a notification's title links through
// /notifications/:pos/open, which marks it read for its owner and
// redirects to the notification's own link; a link on another site
// (Sec-Fetch-Site: cross-site) only redirects; another person's
// notification is not found; signed out, it asks to sign in first.
func TestNotificationLinkMarksRead(t *testing.T) {
	in := start(t, "", "")
	ann := signUp(t, in.URL, "ann")
	bob := signUp(t, in.URL, "bob")
	send := func(link string) int64 {
		t.Helper()
		body := map[string]string{"user": "ann", "title": "Build #481 failed"}
		if link != "" {
			body["link"] = link
		}
		status, answer := apiPost(t, in.URL, "/api/notifications", testToken, body)
		m := regexp.MustCompile(`"position":(\d+)`).FindStringSubmatch(answer)
		if status != http.StatusCreated || m == nil {
			t.Fatalf("notify: %d %s", status, answer)
		}
		pos, _ := strconv.ParseInt(m[1], 10, 64)
		return pos
	}
	local, external, bare := send("/rooms/ops"), send("https://ci.example.com/builds/481"), send("")

	page, _ := get(t, ann.C, in.URL+"/notifications")
	if want := `href="/notifications/` + strconv.FormatInt(local, 10) + `/open"`; !strings.Contains(page, want) {
		t.Errorf("the notifications page does not link the title through %s", want)
	}
	if got := unreadOf(t, in.URL, ann); got != 3 {
		t.Fatalf("ann has %d unread, want 3", got)
	}

	// From another site: a redirect to the link, and nothing marked.
	if r := openNotification(t, in.URL, ann, local, "cross-site"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/rooms/ops" {
		t.Errorf("a cross-site open: %s to %q, want 303 to /rooms/ops", r.Status, r.Header.Get("Location"))
	}
	if got := unreadOf(t, in.URL, ann); got != 3 {
		t.Errorf("a cross-site open marked a notification read: %d unread, want 3", got)
	}

	// From Beacon's page: marked read, then to the stored link.
	for _, tc := range []struct {
		pos  int64
		site string
		want string
	}{
		{local, "same-origin", "/rooms/ops"},
		{external, "none", "https://ci.example.com/builds/481"}, // opened from a bookmark or another application
		{bare, "", "/notifications"},                            // a browser without Fetch Metadata
	} {
		r := openNotification(t, in.URL, ann, tc.pos, tc.site)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != tc.want || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("open %d (Sec-Fetch-Site %q): %s to %q (%s), want 303 to %s, not cached", tc.pos, tc.site, r.Status,
				r.Header.Get("Location"), r.Header.Get("Cache-Control"), tc.want)
		}
	}
	if got := unreadOf(t, in.URL, ann); got != 0 {
		t.Errorf("after opening all three from Beacon, ann has %d unread, want 0", got)
	}

	// Someone else's notification, a bad number, and a signed-out visitor.
	if r := openNotification(t, in.URL, bob, local, "same-origin"); r.StatusCode != http.StatusNotFound {
		t.Errorf("bob opens ann's notification: %s, want 404", r.Status)
	}
	if r := openNotification(t, in.URL, ann, 0, "same-origin"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("open notification 0: %s, want 400", r.Status)
	}
	stranger := noRedirects(newJar(t))
	r, _ := fetchPage(t, stranger, in.URL+"/notifications/"+strconv.FormatInt(local, 10)+"/open")
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Errorf("signed out: %s to %q, want 303 to sign in and come back", r.Status, loc)
	}
}

// TestFormsRedirectAfterPost: every form that changes something answers
// with 303 See Other (Post/Redirect/Get), so reloading the page it lands on
// never sends the form again. The two that make a secret to show once (an
// API token on /settings, a widget token without JavaScript) carry it to
// that page in a sealed cookie: the page shows it once, for its session
// only, and uncached.
func TestFormsRedirectAfterPost(t *testing.T) {
	in := startEmbed(t)
	ann := signUp(t, in.URL, "ann") // the first account: the admin
	tokenForm := url.Values{"_csrf": {ann.CSRF}, "name": {"deploy"}, "scope": {"notify"}}

	post, body := postForm(t, ann.C, in.URL+"/settings/tokens", tokenForm)
	if post.StatusCode != http.StatusSeeOther || post.Header.Get("Location") != "/settings" || strings.Contains(body, "bcn_") {
		t.Fatalf("POST /settings/tokens: %s to %q, want 303 to /settings with no token in the answer", post.Status, post.Header.Get("Location"))
	}
	// Another session of ann's, handed the cookie, opens nothing.
	other := signIn(t, in.URL, "ann")
	u, _ := url.Parse(in.URL)
	other.C.Jar.SetCookies(u, ann.C.Jar.Cookies(u)[:0:0])
	for _, ck := range ann.C.Jar.Cookies(u) {
		if ck.Name == "beacon_flash" {
			other.C.Jar.SetCookies(u, []*http.Cookie{ck})
		}
	}
	if page, _ := get(t, other.C, in.URL+"/settings"); strings.Contains(page, `id="new-token"`) {
		t.Errorf("another session shows ann's new token from her cookie")
	}
	shown, page := followRedirect(t, ann.C, in.URL, post)
	m := regexp.MustCompile(`<code id="new-token">(bcn_[^<]+)</code>`).FindStringSubmatch(page)
	if shown.StatusCode != http.StatusOK || m == nil || shown.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /settings after making a token: %s (Cache-Control %q), want the token shown, not cached:\n%.500s",
			shown.Status, shown.Header.Get("Cache-Control"), page)
	}
	if status, answer := apiPost(t, in.URL, "/api/notifications", m[1], map[string]string{"user": "ann", "title": "hi"}); status != http.StatusCreated {
		t.Errorf("the token shown does not work: %d %s", status, answer)
	}
	// A reload shows the list, not the token, and made no second token.
	again, _ := get(t, ann.C, in.URL+"/settings")
	if strings.Contains(again, m[1]) || strings.Contains(again, `id="new-token"`) {
		t.Errorf("reloading /settings shows the token again")
	}
	if n := strings.Count(again, "<td><bdi>deploy</bdi></td>"); n != 1 {
		t.Errorf("the settings page lists %d tokens named deploy, want 1", n)
	}
	// A refused form shows the page again with the reason: nothing was made.
	if r, body := postForm(t, ann.C, in.URL+"/settings/tokens", url.Values{"_csrf": {ann.CSRF}, "name": {"x"}}); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "scope") {
		t.Errorf("a token without a scope: %s, want 400 and the reason", r.Status)
	}

	// The Embed form without script: a redirect to the snippet, once.
	post, _ = postForm(t, ann.C, in.URL+"/embed/tokens", url.Values{"_csrf": {ann.CSRF}, "widget": {"chart"}, "ttl": {"720h"}})
	if post.Header.Get("Location") != "/embed/tokens" {
		t.Fatalf("POST /embed/tokens: %s to %q, want 303 to /embed/tokens", post.Status, post.Header.Get("Location"))
	}
	shown, page = followRedirect(t, ann.C, in.URL, post)
	tok := regexp.MustCompile(`/stream/chart\?token=([^&"]+)`).FindStringSubmatch(page)
	if shown.StatusCode != http.StatusOK || tok == nil || shown.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /embed/tokens after the form: %s, want the snippets:\n%.500s", shown.Status, page)
	}
	tk, _ := url.QueryUnescape(tok[1])
	if c, err := widget.Parse(embedSecret, tk, time.Now()); err != nil || c.Widget != widget.Chart {
		t.Errorf("the snippet's token %q: %+v %v, want a chart widget's", tk, c, err)
	}
	if r, _ := fetchPage(t, noRedirects(ann.C), in.URL+"/embed/tokens"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/settings" {
		t.Errorf("reloading /embed/tokens: %s to %q, want 303 to /settings (the list)", r.Status, r.Header.Get("Location"))
	}

	// Every other form redirects after it did what it says.
	pos := notify(t, in.URL, "ann", "one")
	widgetID := regexp.MustCompile(`id="widget-(\d+)"`).FindStringSubmatch(mustGet(t, ann.C, in.URL+"/settings"))
	tokenID := regexp.MustCompile(`action="/settings/tokens/(\d+)/revoke"`).FindStringSubmatch(again)
	sessionID := revokableSession(t, mustGet(t, ann.C, in.URL+"/settings"))
	if widgetID == nil || tokenID == nil {
		t.Fatalf("no widget or token to revoke on the settings page")
	}
	guest := noRedirects(newJar(t))
	guestCSRF := csrfOf(t, guest, in.URL+"/rooms/lobby")
	for _, tc := range []struct {
		c    *http.Client
		path string
		form url.Values
	}{
		{ann.C, "/notifications/" + strconv.FormatInt(pos, 10) + "/read", url.Values{"_csrf": {ann.CSRF}}},
		{ann.C, "/notifications/read", url.Values{"_csrf": {ann.CSRF}}},
		{ann.C, "/settings/tokens/" + tokenID[1] + "/revoke", url.Values{"_csrf": {ann.CSRF}}},
		{ann.C, "/settings/widgets/" + widgetID[1] + "/revoke", url.Values{"_csrf": {ann.CSRF}}},
		{ann.C, "/settings/sessions/" + sessionID + "/revoke", url.Values{"_csrf": {ann.CSRF}}},
		{guest, "/rooms/lobby/name", url.Values{"_csrf": {guestCSRF}, "name": {"visitor"}}},
		{ann.C, "/logout", url.Values{"_csrf": {ann.CSRF}}},
	} {
		if r, body := postForm(t, tc.c, in.URL+tc.path, tc.form); r.StatusCode != http.StatusSeeOther {
			t.Errorf("POST %s: %s, want 303 See Other: %.200s", tc.path, r.Status, body)
		}
	}
}

func mustGet(t testing.TB, c *http.Client, page string) string {
	t.Helper()
	body, status := get(t, c, page)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", page, status)
	}
	return body
}
