package main

// Browser test of many windows of one browser (issue #11, "Seven tabs"):
// over HTTP/1.1 a browser opens at most six connections per origin, across
// all its windows. Twelve live windows of one person, on a mix of pages,
// must all load, go live and stay live, and leave room for ordinary
// requests. They reuse browser_rooms_test.go's chatTab and
// browser_accounts_test.go's finders (bell, notes); every window's console
// is watched.
//
// Waits are conditions, never sleeps.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	"github.com/beacon-live/beacon/views"
)

// tabWindow is one window of the test and the page it shows.
type tabWindow struct {
	*chatTab
	path string // "/", "/notifications", "/settings" or "/rooms/ops"
}

func (w *tabWindow) dashboard() bool     { return w.path == "/" }
func (w *tabWindow) notifications() bool { return w.path == "/notifications" }
func (w *tabWindow) room() bool          { return strings.HasPrefix(w.path, "/rooms/") }
func (w *tabWindow) roomsIndex() bool    { return w.path == "/rooms" }

// navigateNoWait starts loading url without waiting for its load event
// (Page.navigate returns once the document's response starts), bounded by
// browserWait: a document the browser never requests fails the test.
func (c *chatTab) navigateNoWait(url string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, browserWait)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.Navigate, page.NavigateParams{URL: url})
		return err
	}))
	if err != nil {
		c.t.Fatalf("%s: open %s: %v (did the browser hold the request back?)", c.who, url, err)
	}
}

// waitPainted waits until find (an expression that returns an element, or
// null; rbJS and nbJS in scope) returns a visible element with a box, then
// takes a screenshot of the region of the page where it is and fails the
// test unless its pixels hold more than one colour: text painted on a
// background, not only a node in the DOM. The region, not the element, is
// captured: a live panel may be replaced (by its next frame) meanwhile.
func (c *chatTab) waitPainted(what, find string) {
	c.t.Helper()
	var box struct{ X, Y, Width, Height float64 }
	c.waitFor(what+" in "+c.who, nb(`(el => { if (!el || !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return false;
		el.scrollIntoView({block: 'nearest'});
		const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) return false;
		return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height}; })(`+find+`)`), &box)
	ctx, cancel := context.WithTimeout(c.ctx, browserWait)
	defer cancel()
	var n int
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
		n, err = clipColours(ctx, tg, page.Viewport{X: box.X, Y: box.Y, Width: box.Width, Height: box.Height})
		return err
	}))
	if err != nil {
		c.t.Fatalf("%s: screenshot of %s: %v", c.who, what, err)
	}
	if n < 2 {
		c.t.Errorf("%s: %s is in the page, but its %gx%g box is painted in %d colour", c.who, what, box.Width, box.Height, n)
	}
}

// liveRole returns what the window's live connection is: "leader" (it holds
// the connection its browser's windows share), "follower" (it is fed by
// the leader), "solo" (a connection of its own), or "" (none: a room page's
// socket).
func (c *chatTab) liveRole() string {
	var role string
	c.eval(`(el => el ? (el.dataset.role || '') : '')(document.getElementById(`+jsValue(views.IDLive)+`))`, &role)
	return role
}

// waitSSEConnections waits until the server holds n SSE connections (a
// connection the browser dropped is noticed a moment later) and fails the
// test, saying when, if it does not within browserWait.
func waitSSEConnections(t *testing.T, in *instance, when string, n int) {
	t.Helper()
	waitFor(t, browserWait, when+": the server's SSE connections", func() (bool, string) {
		got, err := metricValue(http.DefaultClient, in.URL, `beacon_live_connections{transport="sse"}`)
		return err == nil && int(got) == n, fmt.Sprintf("%v SSE connections (%v), want %d", got, err, n)
	})
}

// TestBrowserTwelveWindows: one person's twelve windows of one browser, over
// plain HTTP/1.1, on dashboards, the rooms index, notifications, settings,
// room pages and another site that embeds a Beacon widget, all load and go
// live, with one SSE connection for the Beacon pages and one of its own for
// the widget. Items posted while each window joins, and while the window
// holding the shared connection closes, reach every page that shows them,
// each once and in order (every tab resumes from its own position); each
// window paints the newest value; ordinary requests (a health check, a page
// load, making a widget snippet, mark read) complete meanwhile.
func TestBrowserTwelveWindows(t *testing.T) {
	// With the default limits on new live connections and connections per
	// address (start turns them off for other tests): the windows'
	// reconnects as they join must stay within them.
	in := start(t, "", "", "--tick", browserTick, "--live-rate", "10", "--live-burst", "60", "--conns-per-address", "256")
	browser := newBrowserPage(t)
	// The customer's site: another origin (another port), whose page
	// frames the widget. The widget page loads no tabs.js: its connection
	// is its own, whatever site frames it.
	host := newHostSite(t)
	hostOrigin := host.URL

	// ann signs up in a tab that then leaves Beacon: the twelve windows are
	// opened beside it (its browser context, so her cookies), and each can
	// be closed without closing the others.
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	home := newChatTab(t, browser, "the sign-up tab")
	signUpInBrowser(home, in, "ann", "password-of-ann")
	home.visit("about:blank")

	// Every activity item posted, oldest first: every dashboard must show
	// all of them, newest first, each once.
	var posted []string
	postActivity := func(text string) {
		t.Helper()
		browserPostActivity(t, in, text, "")
		posted = append(posted, text)
	}
	paths := []string{"/", "/rooms", "/notifications", "/settings", "/", "/rooms/ops",
		"/notifications", "/", "/rooms", "/rooms/ops", "/"}
	var windows []*tabWindow
	for i, path := range paths {
		w := &tabWindow{chatTab: newTabBeside(t, home, fmt.Sprintf("window %d (%s)", i+1, path)), path: path}
		w.navigateNoWait(in.URL + path)
		// Posted while the page loads and its topics join the shared
		// connection (which may reconnect with the new union meanwhile).
		postActivity(fmt.Sprintf("posted as window %d joins", i+1))
		w.waitLive()
		postActivity(fmt.Sprintf("posted once window %d is live", i+1))
		phase(w.who + " is live")
		windows = append(windows, w)
	}

	// Ordinary requests from one window while eleven are open: a health
	// check, a page load, and the widget snippet for the customer's site.
	asker := windows[2]
	var made struct {
		Health  int    `json:"health"`
		Page    int    `json:"page"`
		Snippet int    `json:"snippet"`
		Src     string `json:"src"`
	}
	asker.fetchJSON("GET /healthz, GET /rooms and make a widget snippet", `(async () => {
		const csrf = document.getElementById(`+jsValue(views.IDCSRF)+`).value;
		const health = (await fetch('/healthz')).status;
		const page = await fetch('/rooms'); await page.text();
		const made = await fetch('/embed/tokens', {method: 'POST', headers: {'HX-Request': 'true', 'X-CSRF-Token': csrf},
			body: new URLSearchParams({widget: 'activity', ttl: '1h', origins: `+jsValue(hostOrigin)+`})});
		const doc = new DOMParser().parseFromString(await made.text(), 'text/html');
		const snippet = doc.querySelector('textarea.snippet');
		// The snippet is text to paste: its iframe's src, unescaped (parsing
		// it here would apply its inline style under Beacon's CSP).
		const src = snippet && /<iframe src="([^"]*)"/.exec(snippet.value);
		return JSON.stringify({health: health, page: page.status, snippet: made.status, src: src ? src[1].replaceAll('&amp;', '&') : ''});
	})()`, &made)
	if made.Health != http.StatusOK || made.Page != http.StatusOK || made.Snippet != http.StatusOK || !strings.HasPrefix(made.Src, in.URL+"/embed/activity?") {
		t.Fatalf("%s: with eleven windows open, /healthz answered %d, /rooms %d, the snippet %d with the frame %q; want 200s and a frame of %s/embed/activity",
			asker.who, made.Health, made.Page, made.Snippet, made.Src, in.URL)
	}

	// The twelfth window: the customer's page, with the widget pasted in.
	host.embed([][2]string{{"activity", made.Src}})
	site := &tabWindow{chatTab: newTabBeside(t, home, "window 12 (another site, with the activity widget)"), path: hostOrigin}
	site.navigateNoWait(hostOrigin)
	site.waitInFrame("activity", "the widget to go live", `(el => el && el.dataset.state === 'live')(document.getElementById(`+jsValue(views.IDIndicator)+`))`, nil)
	phase(site.who + " is live")

	for _, w := range windows {
		var state string
		w.eval(`document.visibilityState`, &state)
		if state != "visible" {
			t.Fatalf("%s is %s: the test needs every window visible, as on a wall of displays", w.who, state)
		}
		w.checkSignedIn("ann")
		w.bellCount(0)
		w.setMarker()
	}
	waitSSEConnections(t, in, "with twelve windows open (one shared by nine Beacon pages, one the widget's)", 2)
	phase("every window checked; two SSE connections")

	// Posted once every window is open: a notification (every page's
	// bell), an activity item (the dashboards, the widget), a notifications
	// list entry, a chat message (the room pages, the rooms index) and a
	// metric twice (the dashboards paint the newest value).
	browserPostNotification(t, in, "ann", "Build 481 failed")
	postActivity("Deployed v1.2.3")
	rbDialJSON(t, in, "ops", "deploy-bot").say("rollout at 50%")
	browserPostMetric(t, in, "queue depth", "42", "jobs")
	browserPostMetric(t, in, "queue depth", "17", "jobs")
	for _, w := range windows {
		w.bellCount(1)
		w.waitPainted("the bell's count 1", bellCountIs1)
		switch {
		case w.dashboard():
			w.waitFeed("every item posted", posted)
			w.waitPainted(`"Deployed v1.2.3" in the activity feed`,
				`[...(list('Activity feed') || {children: []}).children].find(li => text(li).includes('Deployed v1.2.3'))`)
			w.waitPainted(`the card "queue depth" at its newest value, 17 jobs`,
				`(c => c && text(c.querySelector('dd')).startsWith('17 jobs') && c)(card('queue depth', region('Metrics')))`)
		case w.notifications():
			w.waitPainted(`"Build 481 failed" at the top of the notifications`,
				`(l => l && l.firstElementChild && text(l.firstElementChild).includes('Build 481 failed') && l.firstElementChild)(document.getElementById('notification-list'))`)
		case w.roomsIndex():
			w.waitPainted(`deploy-bot's "rollout at 50%" as the newest message of # ops in the rooms index`,
				`(r => r && text(r.querySelector('.preview .content')) === 'rollout at 50%' && r.querySelector('.preview'))([...(list('Rooms') || {children: []}).children].find(li => text(li.querySelector('.room-link')) === '# ops'))`)
		case w.room():
			w.waitPainted(`deploy-bot's "rollout at 50%" in Messages`,
				`[...(list('Messages') || {children: []}).children].find(li => text(li.querySelector('.content')) === 'rollout at 50%')`)
		}
	}
	site.waitInFrame("activity", `"Deployed v1.2.3" at the top of the widget's feed`,
		`(f => f && f.length > 0 && f[0].text === 'Deployed v1.2.3' && f[0].visible)(feed())`, nil)
	phase("every window painted what was posted")

	// Mark all read from one window while all twelve are open: every
	// window then shows it.
	var read int
	asker.fetchJSON("POST /notifications/read", `fetch('/notifications/read', {method: 'POST', headers: {'HX-Request': 'true',
		'X-CSRF-Token': document.getElementById(`+jsValue(views.IDCSRF)+`).value}}).then(r => String(r.status))`, &read)
	if read != http.StatusNoContent {
		t.Errorf("%s: mark-read answered %d, want 204", asker.who, read)
	}
	for _, w := range windows {
		w.bellCount(0)
	}

	// The window holding the shared connection closes; what is posted
	// right then, while another takes the connection over, is not lost.
	var leader *tabWindow
	var rest []*tabWindow
	for _, w := range windows {
		if role := w.liveRole(); role == "leader" && leader == nil {
			leader = w
		} else {
			rest = append(rest, w)
		}
	}
	if leader == nil {
		t.Fatalf("no window says it holds the shared connection (data-role=leader on #%s)", views.IDLive)
	}
	phase(leader.who + " leads; closing it")
	leader.close()
	postActivity("posted as the leader closes")
	browserPostNotification(t, in, "ann", "Build 482 passed")
	for _, w := range rest {
		if !w.room() {
			w.waitFor("a leader again, or a follower fed by one", `(el => el && (el.dataset.role === 'leader' || el.dataset.role === 'follower'))(document.getElementById(`+jsValue(views.IDLive)+`))`, nil)
		}
	}
	phase("a window leads again")
	postActivity("posted after the handover")
	for _, w := range rest {
		w.bellCount(1)
		w.waitPainted("the bell's count 1 after the handover", bellCountIs1)
		switch {
		case w.dashboard():
			w.waitFeed("every item posted, after the handover", posted)
		case w.notifications():
			w.waitPainted(`"Build 482 passed" at the top of the notifications`,
				`(l => l && l.firstElementChild && text(l.firstElementChild).includes('Build 482 passed') && l.firstElementChild)(document.getElementById('notification-list'))`)
		}
		w.waitLive()
		w.checkMarker()
	}
	site.waitInFrame("activity", `"posted after the handover" at the top of the widget's feed`,
		`(f => f && f.length > 0 && f[0].text === 'posted after the handover')(feed())`, nil)
	leaders := 0
	for _, w := range rest {
		if w.liveRole() == "leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("after the handover %d windows say they lead, want 1", leaders)
	}
	waitSSEConnections(t, in, "after the handover", 2)
	phase("every remaining window painted what was posted")

	// ann signs out in one window: the shared stream ends, and every other
	// page of hers says its connection was refused (its bell is her private
	// topic), as each said with a connection of its own. The widget is not
	// hers to end: its token is its credential.
	var out int
	rest[0].fetchJSON("sign out", `fetch('/logout', {method: 'POST', headers: {'HX-Request': 'true',
		'X-CSRF-Token': document.getElementById(`+jsValue(views.IDCSRF)+`).value}}).then(r => String(r.status))`, &out)
	if out != http.StatusOK {
		t.Fatalf("%s: sign out answered %d", rest[0].who, out)
	}
	for _, w := range rest {
		if w.room() {
			continue // their socket is their own
		}
		w.waitFor("the indicator to read Offline and a notice that the connection was refused",
			`indicator().dataset.state === 'offline' && /refused \(HTTP 403\)/.test(text(notice()))`, nil)
	}
	waitSSEConnections(t, in, "once ann signed out (the widget's left)", 1)
	postActivity("posted after ann signed out")
	site.waitInFrame("activity", `"posted after ann signed out" in the widget, still live`,
		`(f => f && f.length > 0 && f[0].text === 'posted after ann signed out')(feed())`, nil)
	phase("every window signed out says so; the widget is live")
}

// bellCountIs1 finds the bell's count when it reads 1.
const bellCountIs1 = `(b => b && b.querySelector('.bell-count') && text(b.querySelector('.bell-count')) === '1' && b.querySelector('.bell-count'))(document.getElementById('bell'))`

// fetchJSON evaluates expr, a promise of a JSON text made with fetch, and
// decodes it into out; what fails is named by what.
func (c *chatTab) fetchJSON(what, expr string, out any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, browserWait)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err == nil {
		err = json.Unmarshal([]byte(res), out)
	}
	if err != nil {
		c.t.Fatalf("%s: %s: %v (held back behind the live connections?)\nthe page now: %s", c.who, what, err, c.summary())
	}
}

// waitFeed waits until the page's activity feed lists posted (oldest
// first), newest first, each once: nothing lost, nothing applied twice.
func (c *chatTab) waitFeed(what string, posted []string) {
	c.t.Helper()
	want := make([]string, 0, len(posted))
	for i := len(posted) - 1; i >= 0 && len(want) < views.ActivityItems; i-- {
		want = append(want, posted[i])
	}
	done := false
	defer func() {
		if done {
			return
		}
		// waitFor failed the test: say what the feed read instead.
		ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsWrap(`(feed() || []).map(i => i.text)`)))
		c.t.Logf("%s: the feed reads %s (%v), want %q", c.who, got, err, want)
	}()
	c.waitFor(what+" in "+c.who+"'s feed", `(f => f && JSON.stringify(f.map(i => i.text)) === `+jsValue(jsValue(want))+`)(feed())`, nil)
	done = true
}

// TestBrowserTabsHandOver: the window that holds the shared connection
// keeps it while hidden (hx-sse would close it), gives it up when the
// browser freezes it, and is fed again when it is back; a browser without
// Web Locks gives each page a connection of its own, as before.
func TestBrowserTabsHandOver(t *testing.T) {
	in := startForBrowser(t)
	browser := newBrowserPage(t)
	home := newChatTab(t, browser, "the first tab")
	home.visit("about:blank")
	var windows []*chatTab
	for i := range 3 {
		w := newTabBeside(t, home, fmt.Sprintf("dashboard %d", i+1))
		w.visit(in.URL + "/")
		w.waitLive()
		windows = append(windows, w)
	}
	leaderOf := func() *chatTab {
		t.Helper()
		for _, w := range windows {
			if w.liveRole() == "leader" {
				return w
			}
		}
		t.Fatalf("no window leads")
		return nil
	}
	seen := 0
	postAndSee := func(when string) {
		t.Helper()
		seen++
		text := fmt.Sprintf("item %d, %s", seen, when)
		browserPostActivity(t, in, text, "")
		for _, w := range windows {
			w.waitFor(fmt.Sprintf("%q in the feed", text), `(() => { const f = feed(); return f && f.length === `+strconv.Itoa(seen)+` && f[0].text === `+jsValue(text)+`; })()`, nil)
		}
	}
	postAndSee("all visible")

	// Hidden, as hx-sse sees a hidden tab: it would close its stream.
	lead := leaderOf()
	lead.eval(`(() => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
		Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
		document.dispatchEvent(new Event('visibilitychange')); return true; })()`, nil)
	postAndSee("the leader hidden")
	waitSSEConnections(t, in, "with the leader hidden", 1)
	if leaderOf() != lead {
		t.Errorf("hiding the leader moved the connection")
	}

	// Frozen (Chrome freezes some background tabs): another tab takes over,
	// and the frozen one is fed again once it runs.
	freeze := func(w *chatTab, state string) {
		t.Helper()
		w.do("set its lifecycle state to "+state, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: page.SetWebLifecycleStateState(state)})
			return err
		}))
	}
	freeze(lead, "frozen")
	var others []*chatTab
	for _, w := range windows {
		if w != lead {
			others = append(others, w)
		}
	}
	waitFor(t, browserWait, "another window to lead", func() (bool, string) {
		for _, w := range others {
			if w.liveRole() == "leader" {
				return true, ""
			}
		}
		return false, "none leads"
	})
	frozen := windows
	windows = others
	postAndSee("the old leader frozen")
	freeze(lead, "active")
	windows = frozen
	postAndSee("the old leader back")
	waitSSEConnections(t, in, "after the freeze", 1)
	for _, w := range windows {
		w.waitLive()
	}

	// Without Web Locks each page connects on its own, as before.
	bare := newChatTab(t, browser, "a browser without Web Locks")
	bare.do("hide Web Locks", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `Object.defineProperty(Navigator.prototype, 'locks', {configurable: true, get: () => undefined});`,
		})
		return err
	}))
	bare.visit(in.URL + "/")
	bare.waitLive()
	if role := bare.liveRole(); role != "solo" {
		t.Errorf("without Web Locks the page's connection is %q, want solo (its own hx-sse connection)", role)
	}
	waitSSEConnections(t, in, "with a browser without Web Locks beside", 2)
	windows = append(windows, bare)
	postAndSee("a page on its own connection beside")
}

// TestBrowserTabsResync: when the shared connection cannot be resumed (the
// server came back with another database), the server sends the current
// state and the resync event: every tab shows that state in place of what
// it had, and says so.
func TestBrowserTabsResync(t *testing.T) {
	in := startForBrowser(t)
	browser := newBrowserPage(t)
	home := newChatTab(t, browser, "the first tab")
	home.visit("about:blank")
	var windows []*chatTab
	for i := range 2 {
		w := newTabBeside(t, home, fmt.Sprintf("dashboard %d", i+1))
		w.visit(in.URL + "/")
		w.waitLive()
		w.setMarker()
		windows = append(windows, w)
	}
	browserPostActivity(t, in, "from the old database", "")
	for _, w := range windows {
		w.waitFor(`"from the old database" in the feed`, `(() => { const f = feed(); return f && f.length === 1 && f[0].text === 'from the old database'; })()`, nil)
	}

	in.Stop(t)
	for _, w := range windows {
		w.waitFor(`the indicator to read "Reconnecting…"`, `indicator().dataset.state === 'reconnecting'`, nil)
	}
	in2 := start(t, "", in.Addr, "--tick", browserTick) // a new database: another epoch
	for _, w := range windows {
		w.waitLive()
		w.waitFor("the resync notice and the new database's (empty) feed",
			`text(notice()) === 'Reconnected after a long gap: showing the current state.' && feed() && feed().length === 0`, nil)
	}
	browserPostActivity(t, in2, "from the new database", "")
	for _, w := range windows {
		w.waitFor(`"from the new database", alone, in the feed`, `(() => { const f = feed(); return f && f.length === 1 && f[0].text === 'from the new database'; })()`, nil)
		w.checkMarker()
	}
}

// TestBrowserTLS: with --tls-cert and --tls-key (a self-signed certificate
// made here, which the browser is told to accept) a person signs up, and
// two tabs, a dashboard and the notifications, load over HTTPS and HTTP/2,
// go live on the one connection the tabs share, and paint what is posted.
func TestBrowserTLS(t *testing.T) {
	cert, key, roots := selfSigned(t, t.TempDir())
	in := start(t, "", "", "--tick", browserTick, "--tls-cert", cert, "--tls-key", key)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	if !strings.HasPrefix(in.URL, "https://") {
		t.Fatalf("Beacon listens on %s, want https://", in.URL)
	}
	browser := newBrowserPage(t)
	home := newChatTab(t, browser, "the dashboard tab")
	home.do("accept the test's self-signed certificate", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true})
		return err
	}))
	signUpInBrowser(home, in, "ann", "password-of-ann")
	notes := newTabBeside(t, home, "the notifications tab")
	notes.visit(in.URL + "/notifications")
	notes.waitLive()

	roles := map[string]int{}
	for _, w := range []*chatTab{home, notes} {
		// Every request of the page went over one HTTP/2 connection: the
		// document, its scripts, and so the live connection (a streaming
		// fetch has no timing entry until it ends).
		var page struct {
			Secure    bool     `json:"secure"`
			Document  string   `json:"document"`
			Resources []string `json:"resources"`
		}
		w.eval(`({secure: window.isSecureContext, document: performance.getEntriesByType('navigation')[0].nextHopProtocol,
			resources: [...new Set(performance.getEntriesByType('resource').filter(e => e.name.startsWith(location.origin)).map(e => e.nextHopProtocol))]})`, &page)
		if !page.Secure || page.Document != "h2" || len(page.Resources) != 1 || page.Resources[0] != "h2" {
			t.Errorf("%s: secure context %v, the document over %q, its resources over %q; want a secure page, all over h2",
				w.who, page.Secure, page.Document, page.Resources)
		}
		roles[w.liveRole()]++
	}
	if roles["leader"] != 1 || roles["follower"] != 1 {
		t.Errorf("the tabs' live connections are %v, want one leader and one follower (Web Locks over HTTPS)", roles)
	}

	for path, body := range map[string]string{
		"/api/notifications": jsValue(map[string]string{"user": "ann", "title": "Certificate renewed"}),
		"/api/activity":      jsValue(map[string]string{"text": "Served over TLS"}),
	} {
		req, _ := http.NewRequest(http.MethodPost, in.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s %s: %s", path, body, resp.Status)
		}
	}
	for _, w := range []*chatTab{home, notes} {
		w.bellCount(1)
		w.waitPainted("the bell's count 1", bellCountIs1)
	}
	home.waitPainted(`"Served over TLS" in the activity feed`,
		`[...(list('Activity feed') || {children: []}).children].find(li => text(li).includes('Served over TLS'))`)
	notes.waitPainted(`"Certificate renewed" at the top of the notifications`,
		`(l => l && l.firstElementChild && text(l.firstElementChild).includes('Certificate renewed') && l.firstElementChild)(document.getElementById('notification-list'))`)
}
