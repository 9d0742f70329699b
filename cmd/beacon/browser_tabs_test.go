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
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
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
// takes a screenshot of that element and fails the test unless its pixels
// hold more than one colour: text painted on a background, not only a node
// in the DOM.
func (c *chatTab) waitPainted(what, find string) {
	c.t.Helper()
	probe := "p" + strconv.Itoa(c.probes())
	c.waitFor(what+" in "+c.who, nb(`(el => { if (!el || !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return false;
		const r = el.getBoundingClientRect(); if (r.width === 0 || r.height === 0) return false;
		el.dataset.probe = `+jsValue(probe)+`; return true; })(`+find+`)`), nil)
	ctx, cancel := context.WithTimeout(c.ctx, browserWait)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`[data-probe="`+probe+`"]`)))
	if err != nil {
		c.t.Fatalf("%s: screenshot of %s: %v", c.who, what, err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		c.t.Fatalf("%s: screenshot of %s: %v", c.who, what, err)
	}
	if n := colours(img); n < 2 {
		c.t.Errorf("%s: %s is in the page, but its %v box is painted in %d colour", c.who, what, img.Bounds().Size(), n)
	}
}

// probes counts the elements waitPainted marked in the page.
func (c *chatTab) probes() int {
	var n int
	c.eval(`document.querySelectorAll('[data-probe]').length`, &n)
	return n
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
	deadline := time.Now().Add(browserWait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		got := sseConnections(t, in)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s the server holds %d SSE connections, want %d", when, got, n)
		}
		<-tick.C
	}
}

// sseConnections reads the server's count of open SSE connections.
func sseConnections(t *testing.T, in *instance) int {
	t.Helper()
	resp, err := http.Get(in.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), `beacon_live_connections{transport="sse"} `); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics: %q: %v", sc.Text(), err)
			}
			return int(n)
		}
	}
	return 0
}

// TestBrowserTwelveWindows: one person's twelve windows of one browser on
// dashboards, notifications, settings and room pages all load and go live,
// together with one SSE connection; each paints what is posted after all
// are open; a mark-read POST and a health check from one of them complete
// meanwhile; and when the window that holds the shared connection closes,
// another takes it over and every remaining window keeps receiving.
func TestBrowserTwelveWindows(t *testing.T) {
	// With the default limits on new live connections and connections per
	// address (start turns them off for other tests): the windows'
	// reconnects as they join must stay within them.
	in := start(t, "", "", "--tick", browserTick, "--live-rate", "10", "--live-burst", "60", "--conns-per-address", "256")
	browser := newBrowserPage(t)

	// ann signs up in a tab that then leaves Beacon: the twelve windows are
	// opened beside it (its browser context, so her cookies), and each can
	// be closed without closing the others.
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	home := newChatTab(t, browser, "the sign-up tab")
	signUpInBrowser(home, in, "ann", "password-of-ann")
	home.visit("about:blank")
	paths := []string{"/", "/", "/notifications", "/settings", "/", "/notifications",
		"/rooms/ops", "/", "/settings", "/notifications", "/rooms/ops", "/"}
	var windows []*tabWindow
	for i, path := range paths {
		w := &tabWindow{chatTab: newTabBeside(t, home, fmt.Sprintf("window %d (%s)", i+1, path)), path: path}
		w.navigateNoWait(in.URL + path)
		w.waitLive()
		phase(w.who + " is live")
		windows = append(windows, w)
	}
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
	waitSSEConnections(t, in, "with twelve windows open (ten of them on SSE pages)", 1)
	phase("every window checked; one SSE connection")

	// Posted once every window is open: a notification (every page's
	// bell), an activity item (the dashboards), a notifications list entry,
	// and a chat message (the room pages).
	browserPostNotification(t, in, "ann", "Build 481 failed")
	browserPostActivity(t, in, "Deployed v1.2.3", "")
	rbDialJSON(t, in, "ops", "deploy-bot").say("rollout at 50%")
	for _, w := range windows {
		w.bellCount(1)
		w.waitPainted("the bell's count 1", `(b => b && b.querySelector('.bell-count') && text(b.querySelector('.bell-count')) === '1' && b.querySelector('.bell-count'))(document.getElementById('bell'))`)
		switch {
		case w.dashboard():
			w.waitPainted(`"Deployed v1.2.3" in the activity feed`,
				`[...(list('Activity feed') || {children: []}).children].find(li => text(li).includes('Deployed v1.2.3'))`)
		case w.notifications():
			w.waitPainted(`"Build 481 failed" at the top of the notifications`,
				`(l => l && l.firstElementChild && text(l.firstElementChild).includes('Build 481 failed') && l.firstElementChild)(document.getElementById('notification-list'))`)
		case w.room():
			w.waitPainted(`deploy-bot's "rollout at 50%" in Messages`,
				`[...(list('Messages') || {children: []}).children].find(li => text(li.querySelector('.content')) === 'rollout at 50%')`)
		}
	}

	phase("every window painted what was posted")

	// Ordinary requests from one window while all twelve are open: a
	// health check, and "mark all read", which every window then shows.
	asker := windows[2]
	var answers struct {
		Health int `json:"health"`
		Read   int `json:"read"`
	}
	ctx, cancel := context.WithTimeout(asker.ctx, browserWait)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => JSON.stringify({
		health: (await fetch('/healthz')).status,
		read: (await fetch('/notifications/read', {method: 'POST', headers: {'HX-Request': 'true',
			'X-CSRF-Token': document.getElementById(`+jsValue(views.IDCSRF)+`).value}})).status,
	}))()`, chromedp.EvalAwaitPromise))
	if err == nil {
		err = json.Unmarshal([]byte(res), &answers)
	}
	if err != nil {
		t.Fatalf("%s: GET /healthz and POST /notifications/read with twelve windows open: %v\nthe page now: %s", asker.who, err, asker.summary())
	}
	if answers.Health != http.StatusOK || answers.Read != http.StatusNoContent {
		t.Errorf("%s: /healthz answered %d and mark-read %d, want 200 and 204", asker.who, answers.Health, answers.Read)
	}
	for _, w := range windows {
		w.bellCount(0)
	}

	// The window holding the shared connection closes: another takes it
	// over, and every remaining window keeps receiving.
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
	for _, w := range rest {
		if !w.room() {
			w.waitFor("a leader again, or a follower fed by one", `(el => el && (el.dataset.role === 'leader' || el.dataset.role === 'follower'))(document.getElementById(`+jsValue(views.IDLive)+`))`, nil)
		}
	}
	phase("a window leads again")
	browserPostNotification(t, in, "ann", "Build 482 passed")
	for _, w := range rest {
		w.bellCount(1)
		w.waitPainted("the bell's count 1 after the handover", `(b => b && b.querySelector('.bell-count') && text(b.querySelector('.bell-count')) === '1' && b.querySelector('.bell-count'))(document.getElementById('bell'))`)
		if w.notifications() {
			w.waitPainted(`"Build 482 passed" at the top of the notifications`,
				`(l => l && l.firstElementChild && text(l.firstElementChild).includes('Build 482 passed') && l.firstElementChild)(document.getElementById('notification-list'))`)
		}
		w.waitLive()
		w.checkMarker()
	}
	leaders := 0
	for _, w := range rest {
		if w.liveRole() == "leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("after the handover %d windows say they lead, want 1", leaders)
	}
	waitSSEConnections(t, in, "after the handover", 1)
	phase("every remaining window painted the next notification")

	// ann signs out in one window: the shared stream ends, and every other
	// page of hers says its connection was refused (its bell is her private
	// topic), as each said with a connection of its own.
	var out int
	ctx, cancel = context.WithTimeout(rest[0].ctx, browserWait)
	defer cancel()
	out, err = chromedp.Run(ctx, chromedp.Evaluate[int](`fetch('/logout', {method: 'POST', headers: {'HX-Request': 'true',
		'X-CSRF-Token': document.getElementById(`+jsValue(views.IDCSRF)+`).value}}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || out != http.StatusOK {
		t.Fatalf("%s: sign out: %d %v", rest[0].who, out, err)
	}
	for _, w := range rest {
		if w.room() {
			continue // their socket is their own
		}
		w.waitFor("the indicator to read Offline and a notice that the connection was refused",
			`indicator().dataset.state === 'offline' && /refused \(HTTP 403\)/.test(text(notice()))`, nil)
	}
	waitSSEConnections(t, in, "once ann signed out", 0)
	phase("every window signed out says so")
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
