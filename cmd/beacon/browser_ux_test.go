package main

// Browser tests of issue #11's items 5, 6 and 7: the chat follows the
// conversation, times read in the viewer's zone, and the small things (a
// notification's link marks it read, the new token's copy button, sessions
// named for people, stale values marked). Like the other browser tests they
// check what is painted: boxes inside the box that scrolls them, the element
// a point hits, the text as rendered (innerText), and, for times, every
// animation frame before it is painted.

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

// uxJS finds what a person sees (in the scope of browserHelpersJS and rbJS).
var uxJS = `
// inView: el is painted entirely inside box (and the window), and a point
// of it (near its start, clear of an overlay in the middle) hits it.
const inView = (el, box) => { if (!el || !visible(el)) return false;
	const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
	if (r.width === 0 || r.height === 0 || r.top < b.top - 1 || r.bottom > b.bottom + 1 || r.top < 0 || r.bottom > innerHeight) return false;
	const hit = document.elementFromPoint(r.left + Math.min(r.width / 2, 16), r.top + r.height / 2);
	return !!hit && (hit === el || el.contains(hit)); };
const painted = el => { if (!el || !visible(el)) return false; const r = el.getBoundingClientRect();
	if (r.width === 0 || r.height === 0) return false;
	const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
	return !!hit && (hit === el || el.contains(hit)); };
const messageEl = (author, content) => { const l = list('Messages'); return l && [...l.children].find(li =>
	text(li.querySelector('.author')) === author && li.querySelector('.content') && li.querySelector('.content').textContent === content) || null; };
const listBox = () => list('Messages');
const emptyState = () => [...document.querySelectorAll('p')].find(p => text(p) === 'No messages yet — say hello') || null;
`

// ux puts browserHelpersJS's helpers, rbJS and uxJS in scope of expr.
func ux(expr string) string { return "(() => {" + rbJS + uxJS + "\nreturn (" + expr + ");\n})()" }

// emulateZone makes the tab's clock read in zone and format in locale, as a
// viewer's there does. It must come before the page loads.
func emulateZone(t *testing.T, ctx context.Context, zone, locale string) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: locale})
		return err
	}))
	if err != nil {
		t.Fatalf("emulate %s, %s: %v", zone, locale, err)
	}
}

// watchFrames records, in every document the tab loads, what each
// animation frame is about to paint: the texts of <time> elements that
// still read in UTC (window.__utcPainted), and how far the message list is
// from its bottom (window.__listFrames, when it has messages).
// requestAnimationFrame callbacks run just before the frame is painted.
func watchFrames(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `(() => {
			const utc = window.__utcPainted = [], frames = window.__listFrames = [];
			const frame = () => {
				for (const el of document.querySelectorAll('time[datetime]')) if (el.textContent.includes('UTC')) utc.push(el.textContent);
				const l = document.getElementById(` + jsValue(views.IDMessages) + `);
				if (l && l.children.length && frames.length < 1000) frames.push({n: l.children.length, fromBottom: l.scrollHeight - l.scrollTop - l.clientHeight});
				requestAnimationFrame(frame);
			};
			requestAnimationFrame(frame);
		})()`})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
}

// checkNoUTCPainted fails the test if any frame of the page was about to
// paint a time in the server's UTC text.
func checkNoUTCPainted(t *testing.T, p *browserPage, where string) {
	t.Helper()
	var seen []string
	p.eval(`window.__utcPainted`, &seen)
	if len(seen) > 0 {
		t.Errorf("%s: frames painted times in the server's UTC text before the viewer's zone: %q", where, seen[:min(len(seen), 5)])
	}
}

// kolkata is the viewer's zone in these tests: UTC+5:30, so no time reads
// as it does in UTC, not even its minutes.
const kolkataZone = "Asia/Kolkata"

func loadZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("zone %s: %v", name, err)
	}
	return loc
}

// enGB spells a time as Chromium's en-GB does: "2:05", "2:05:09", "7 Dec",
// "7 Dec 2025".
func enGBClock(t time.Time) string { return fmt.Sprintf("%d:%02d", t.Hour(), t.Minute()) }
func enGBSeconds(t time.Time) string {
	return fmt.Sprintf("%d:%02d:%02d", t.Hour(), t.Minute(), t.Second())
}
func enGBDate(t, now time.Time) string {
	if t.Year() != now.Year() {
		return t.Format("2 Jan 2006")
	}
	return t.Format("2 Jan")
}

// expectedShown is how a past time at reads at now in loc (en-GB): by
// beacon-paint.js's rules.
func expectedShown(at, now time.Time, loc *time.Location) string {
	ago := now.Sub(at)
	switch {
	case ago < time.Minute:
		return "now"
	case ago < time.Hour:
		return fmt.Sprintf("%d min ago", int(ago/time.Minute))
	}
	a, n := at.In(loc), now.In(loc)
	if a.Year() == n.Year() && a.YearDay() == n.YearDay() {
		return enGBClock(a)
	}
	return enGBDate(a, n)
}

// TestBrowserTimesInViewersZone (item 6): the dashboard's times, a room's,
// a widget's and the live ones read in the viewer's zone (Asia/Kolkata
// here): a date before today, "N min ago" within the hour (and it moves on
// by itself), the clock time otherwise, with the whole date and time in the
// tooltip; no frame ever paints the server's UTC text first.
func TestBrowserTimesInViewersZone(t *testing.T) {
	loc := loadZone(t, kolkataZone)
	dbPath := filepath.Join(t.TempDir(), "beacon.db")
	store, err := db.Open(t.Context(), dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seeded := time.Now()
	items := []struct {
		text string
		at   time.Time
	}{
		{"three days ago", seeded.Add(-72 * time.Hour)},
		{"two hours ago", seeded.Add(-2 * time.Hour)},
		{"ten minutes ago", seeded.Add(-10 * time.Minute)},
	}
	for _, it := range items {
		if _, err := store.AddActivity(t.Context(), it.text, "", it.at); err != nil {
			t.Fatal(err)
		}
	}
	oldMessage := seeded.Add(-50 * time.Hour)
	if _, err := store.AddMessage(t.Context(), "lobby", "bob", "from the day before yesterday", oldMessage); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	in := start(t, dbPath, "", "--secret-file", secretFile(t, hex.EncodeToString(embedSecret), 0o600), "--tick", browserTick)

	p := newBrowserPage(t)
	emulateZone(t, p.ctx, kolkataZone, "en_GB")
	watchFrames(t, p.ctx)
	p.open(in.URL + "/")

	type shownTime struct {
		Text     string `json:"text"`
		Time     string `json:"time"`
		Datetime string `json:"datetime"`
		Title    string `json:"title"`
		Painted  bool   `json:"painted"`
	}
	const feedTimes = `(() => { const l = list('Activity feed'); return l && [...l.children].map(li => { const tm = li.querySelector('time');
		return {text: text(li.querySelector('.item-text')), time: tm.innerText, datetime: tm.getAttribute('datetime'), title: tm.title, painted: painted(tm)}; }); })()`
	var shown []shownTime
	p.eval(ux(feedTimes), &shown)
	now := time.Now()
	if len(shown) != len(items) {
		t.Fatalf("the feed shows %+v, want the %d seeded items", shown, len(items))
	}
	for i, it := range items {
		got := shown[len(items)-1-i] // newest on top
		want := expectedShown(it.at, now, loc)
		if got.Text != it.text || got.Time != want || !got.Painted || !strings.Contains(got.Title, "GMT+5:30") {
			t.Errorf("%q reads %q (painted %v, tooltip %q), want %q in Kolkata with the whole date and zone in its tooltip",
				it.text, got.Time, got.Painted, got.Title, want)
		}
	}
	// "Measured at" is a reading: always its clock time, with seconds.
	var measured shownTime
	p.waitFor(`the metrics panel's reading`, ux(`(() => { const tm = region('Metrics') && region('Metrics').querySelector('p.meta time');
		return tm && {time: tm.innerText, datetime: tm.getAttribute('datetime'), painted: painted(tm)}; })()`), &measured)
	if at, err := time.Parse(time.RFC3339, measured.Datetime); err != nil || measured.Time != enGBSeconds(at.In(loc)) {
		t.Errorf("Measured at reads %q for %s, want %q", measured.Time, measured.Datetime, enGBSeconds(at.In(loc)))
	}

	// A live item, swapped in by htmx: "now", never first in UTC.
	browserPostActivity(t, in, "just posted", "")
	var live shownTime
	p.waitFor(`"just posted" in the feed`, ux(`(() => { const f = `+feedTimes+`; return f && f.find(i => i.text === 'just posted'); })()`), &live)
	if live.Time != "now" || !live.Painted {
		t.Errorf("a live item's time reads %q (painted %v), want now", live.Time, live.Painted)
	}
	checkNoUTCPainted(t, p, "the dashboard")

	// Relative times move on by themselves: an item from almost an hour
	// ago reads "59 min ago", then its clock time, on the same page.
	nearHour := time.Now().Add(-time.Hour + 12*time.Second)
	store, err = db.Open(t.Context(), dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AddActivity(t.Context(), "almost an hour ago", "", nearHour); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	p.open(in.URL + "/")
	const nearHourTime = `(() => { const f = ` + feedTimes + `; const i = f && f.find(i => i.text === 'almost an hour ago'); return i && i.time; })()`
	var before string
	p.eval(ux(nearHourTime), &before)
	if time.Since(nearHour) < time.Hour-time.Second && before != "59 min ago" {
		t.Errorf("an item from 59 minutes ago reads %q, want 59 min ago", before)
	}
	want := expectedShown(nearHour, nearHour.Add(time.Hour+time.Minute), loc)
	p.waitFor(fmt.Sprintf("the item from almost an hour ago to read %q once the hour is past", want),
		ux(nearHourTime+` === `+jsValue(want)), nil)
	checkNoUTCPainted(t, p, "the dashboard, reloaded")

	// A room: history from two days ago reads as a date.
	p.open(in.URL + "/rooms/lobby")
	var msg shownTime
	p.eval(ux(`(() => { const tm = messageEl('bob', 'from the day before yesterday').querySelector('time'); return {time: tm.innerText, painted: painted(tm)}; })()`), &msg)
	if want := expectedShown(oldMessage, time.Now(), loc); msg.Time != want || !msg.Painted {
		t.Errorf("a message from two days ago reads %q (painted %v), want %q", msg.Time, msg.Painted, want)
	}
	checkNoUTCPainted(t, p, "the room")

	// A widget (an iframe's page, opened here as a page of its own).
	tok := sign(t, in, widget.Claims{Widget: widget.Activity, Origins: []string{"http://127.0.0.1:1"}})
	if err := chromedp.Do(p.ctx, chromedp.Navigate(in.URL+"/embed/activity?token="+url.QueryEscape(tok))); err != nil {
		t.Fatal(err)
	}
	var wshown []shownTime
	p.waitFor(`the activity widget's items`, ux(`(f => f && f.length > 0 && f)(`+feedTimes+`)`), &wshown)
	if len(wshown) == 0 || wshown[len(wshown)-1].Time != expectedShown(items[0].at, time.Now(), loc) {
		t.Errorf("the activity widget's oldest item reads %+v, want %q", wshown, expectedShown(items[0].at, time.Now(), loc))
	}
	checkNoUTCPainted(t, p, "the activity widget")
}

// TestBrowserChatFollowsConversation (item 5): a room opens at its newest
// message (no frame paints it anywhere else), stays at the bottom through a
// burst, leaves a reader who scrolled up where they are and shows "New
// messages" instead, which takes them down; an empty room says so until
// its first message.
func TestBrowserChatFollowsConversation(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "beacon.db")
	store, err := db.Open(t.Context(), dbPath, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seeded := time.Now().Add(-time.Hour)
	for i := 1; i <= 60; i++ {
		if _, err := store.AddMessage(t.Context(), "lobby", "bob", fmt.Sprintf("history %d", i), seeded.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	in := start(t, dbPath, "", "--tick", browserTick, "--message-rate", "1000", "--message-burst", "1000")
	b := newBrowserPage(t)
	ann := newChatTab(t, b, "ann")
	watchFrames(t, ann.ctx)

	// An empty room says so, until its first message.
	ann.join(in.URL, "quiet", "ann")
	var empty bool
	ann.eval(ux(`painted(emptyState())`), &empty)
	if !empty {
		t.Errorf("an empty room does not show %q", "No messages yet — say hello")
	}
	ann.say("hello")
	ann.waitFor(`ann's hello in the quiet room`, ux(`!!messageEl('ann', 'hello')`), nil)
	var gone struct {
		Empty bool `json:"empty"`
		Hello bool `json:"hello"`
	}
	ann.eval(ux(`({empty: visible(emptyState()), hello: inView(messageEl('ann', 'hello'), listBox())})`), &gone)
	if gone.Empty || !gone.Hello {
		t.Errorf("after the first message the empty state shows: %v, the message is in view: %v; want false, true", gone.Empty, gone.Hello)
	}

	// A room with history opens at its newest message.
	ann.visit(in.URL + "/rooms/lobby")
	ann.waitLive()
	var opened struct {
		Newest bool  `json:"newest"`
		Oldest bool  `json:"oldest"`
		Frames []any `json:"frames"`
		Away   []any `json:"away"`
	}
	ann.eval(ux(`({newest: inView(messageEl('bob', 'history 60'), listBox()), oldest: inView(messageEl('bob', 'history 11'), listBox()),
		frames: window.__listFrames, away: window.__listFrames.filter(f => f.fromBottom > 32)})`), &opened)
	if !opened.Newest || opened.Oldest {
		t.Errorf("the room opened with its newest message in view: %v, its oldest shown: %v; want true, false", opened.Newest, opened.Oldest)
	}
	if len(opened.Frames) == 0 || len(opened.Away) > 0 {
		t.Errorf("frames painted the list away from its bottom: %v of %d frames", opened.Away, len(opened.Frames))
	}

	// A burst: the newest is in view after it.
	bob := rbDialJSON(t, in, "lobby", "bob")
	for i := 1; i <= 20; i++ {
		bob.say(fmt.Sprintf("burst %d", i))
	}
	ann.waitMessage("bob", "burst 20")
	var inViewNow bool
	ann.eval(ux(`inView(messageEl('bob', 'burst 20'), listBox())`), &inViewNow)
	if !inViewNow {
		t.Errorf("after a burst of 20 the newest message is not in the list's visible box")
	}

	// The reader scrolls up, with the wheel, to the top.
	var box struct{ X, Y float64 }
	ann.eval(ux(`(() => { const r = listBox().getBoundingClientRect(); return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`), &box)
	ann.do("scroll the messages up", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchMouseEvent, input.DispatchMouseEventParams{
			// DeltaX must be sent, and 0 is left out of the JSON (omitempty): one
			// pixel sideways, where the list does not scroll.
			Type: input.DispatchMouseEventTypeMouseWheel, X: box.X, Y: box.Y, DeltaX: 1, DeltaY: -20000})
		return err
	}))
	var top float64
	ann.waitFor(`the list scrolled to its top`, ux(`listBox().scrollTop === 0 && inView(messageEl('bob', 'history 11'), listBox()) && 'top'`), nil)
	ann.eval(ux(`listBox().scrollTop`), &top)

	bob.say("while you were away")
	ann.waitMessage("bob", "while you were away")
	var away struct {
		ScrollTop float64 `json:"scrollTop"`
		Newest    bool    `json:"newest"`
		Marker    bool    `json:"marker"`
		InList    bool    `json:"inList"`
		Live      string  `json:"live"`
	}
	ann.waitFor(`the "New messages" button`, ux(`painted(button('New messages')) && 'shown'`), nil)
	ann.eval(ux(`(() => { const m = button('New messages'); const r = m.getBoundingClientRect(), l = listBox().getBoundingClientRect();
		return {scrollTop: listBox().scrollTop, newest: inView(messageEl('bob', 'while you were away'), listBox()), marker: painted(m),
			inList: r.top >= l.top && r.bottom <= l.bottom, live: m.closest('[aria-live]') ? m.closest('[aria-live]').getAttribute('aria-live') : ''}; })()`), &away)
	if away.ScrollTop != top || away.Newest || !away.Marker || !away.InList || away.Live != "polite" {
		t.Errorf("a message arrived while ann read the top: %+v; want her left where she was (scrollTop %v), the message not in view, "+
			"and a painted New messages button over the list, in a polite live region", away, top)
	}
	ann.do(`click "New messages"`, chromedp.Click(rbButton("New messages")))
	ann.waitFor(`the newest message in view and the button gone`,
		ux(`inView(messageEl('bob', 'while you were away'), listBox()) && !visible(button('New messages'))`), nil)

	// At the bottom again, it follows without the button.
	bob.say("one more")
	ann.waitMessage("bob", "one more")
	var following struct {
		Newest bool `json:"newest"`
		Marker bool `json:"marker"`
	}
	ann.eval(ux(`({newest: inView(messageEl('bob', 'one more'), listBox()), marker: visible(button('New messages'))})`), &following)
	if !following.Newest || following.Marker {
		t.Errorf("back at the bottom, a new message: in view %v, button shown %v; want true, false", following.Newest, following.Marker)
	}
}

// TestBrowserTypingShowsOthersAtOnce (item 5): "… is typing" shows from the
// first keystroke, and never to the person typing.
func TestBrowserTypingShowsOthersAtOnce(t *testing.T) {
	in := rbStart(t)
	b := newBrowserPage(t)
	ann := newChatTab(t, b, "ann")
	bob := newChatTab(t, b, "bob")
	ann.join(in.URL, "lobby", "ann")
	bob.join(in.URL, "lobby", "bob")
	ann.record("typing", `typingLine()`)
	bob.record("typing", `typingLine()`)
	bob.recordSocket()

	// One key, and no other: the first keystroke sends the signal.
	bob.typeKeys("h")
	ann.waitFor(`"bob is typing…" in ann's page after bob's one keystroke`, ux(`typingLine() === 'bob is typing…' && visible(document.getElementById('typing'))`), nil)
	out := bob.sent()
	if len(out) < 2 || out[0].Type != "input" || out[1].Type != "typing" {
		t.Errorf("bob's page, after one keystroke, sent %+v; want the keystroke's typing signal at once", out)
	}

	// Both type: each sees only the other.
	ann.typeKeys("x")
	bob.waitFor(`"ann is typing…" in bob's page`, ux(`typingLine() === 'ann is typing…'`), nil)
	ann.waitFor(`ann's page told that both type`, ux(`JSON.parse(document.getElementById('typing').dataset.typing).length === 2`), nil)
	var annLine string
	ann.eval(ux(`document.getElementById('typing').innerText`), &annLine)
	if annLine != "bob is typing…" {
		t.Errorf("while both type, ann's page reads %q, want bob is typing…", annLine)
	}
	for _, c := range []*chatTab{ann, bob} {
		var log []string
		c.recorded("typing", &log)
		for _, l := range log {
			if strings.Contains(l, c.who) {
				t.Errorf("%s's own page said %q: their own typing is not for them (log %q)", c.who, l, log)
			}
		}
	}
}

// grantClipboard lets the tab's pages write and read the clipboard.
func grantClipboard(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	c := chromedp.FromContext(ctx)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := cdp.Call(ctx, c.Browser, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true}, Setting: browser.PermissionSettingGranted,
			Origin: origin, BrowserContextID: c.BrowserContextID})
		if err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
}

// TestBrowserSmallThings (item 7): sessions read "Chrome on Linux"; a new
// token comes through a redirect, once, with a copy button that copies it
// (or selects it when the page may not write the clipboard); opening a
// notification's link marks it read; and while the server is away every
// live panel says since when its values are stale, dimmed, until it is back.
func TestBrowserSmallThings(t *testing.T) {
	loc := loadZone(t, kolkataZone)
	in := startEmbed(t)
	b := newBrowserPage(t)
	ann := newChatTab(t, b, "ann")
	const desktopChrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	ann.do("use a desktop Chrome's User-Agent", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: desktopChrome})
		return err
	}))
	emulateZone(t, ann.ctx, kolkataZone, "en_GB")
	signUpInBrowser(ann, in, "ann", "password-of-ann")

	// Sessions are named for people.
	ann.visit(in.URL + "/settings")
	var browserCell string
	ann.waitFor(`the signed-in browsers`, ux(`(() => { const r = region('Signed-in browsers'); const td = r && r.querySelector('tbody td'); return td && painted(td) && td.innerText; })()`), &browserCell)
	if browserCell != "Chrome on Linux" {
		t.Errorf("this browser is listed as %q, want Chrome on Linux", browserCell)
	}

	// A token: the form, a redirect, the token once with its copy button.
	ann.do(`name the token`, sendKeys(rbField("Name"), "deploy"))
	ann.do(`tick notify`, chromedp.Click(chromedp.Search(`//label[normalize-space()="notify"]/input`)))
	if status := ann.follow(`click "Create token"`, chromedp.Click(rbButton("Create token"))); status != 200 {
		t.Errorf("creating a token answered %d, want the page its redirect leads to", status)
	}
	var made struct {
		Path  string `json:"path"`
		Token string `json:"token"`
		Copy  bool   `json:"copy"`
	}
	ann.eval(ux(`({path: location.pathname, token: text(document.getElementById('new-token')), copy: painted(button('Copy'))})`), &made)
	if made.Path != "/settings" || !strings.HasPrefix(made.Token, "bcn_") || !made.Copy {
		t.Errorf("after creating a token: %+v; want /settings showing it with a painted Copy button", made)
	} else {
		checkCopy(t, ann, in, made.Token)
	}

	// A notification's link marks it read.
	browserPost(t, in, "/api/notifications", "application/json", jsValue(map[string]string{"user": "ann", "title": "Deploy finished", "link": "/rooms/ops"}))
	ann.openNotifications(in, "ann")
	notes := ann.waitTopNote("Deploy finished")
	if !notes[0].unread() {
		t.Fatalf("the new notification is %+v, want unread", notes[0])
	}
	ann.do(`open "Deploy finished"`, chromedp.Click(chromedp.Search(`//a[normalize-space()="Deploy finished"]`)))
	ann.waitFor(`the notification's page`, `location.pathname === '/rooms/ops'`, nil)
	ann.openNotifications(in, "ann")
	var state struct {
		Read    string `json:"read"`
		Painted bool   `json:"painted"`
	}
	ann.eval(ux(`(() => { const l = document.querySelector('.read-label'); return {read: l ? l.innerText : '', painted: painted(l)}; })()`), &state)
	if state.Read != "Read" || !state.Painted {
		t.Errorf("after opening its link the notification shows %+v, want a painted Read", state)
	}

	// Stale values: the server goes away. A widget beside the dashboard
	// (a page of its own here, as in a frame) marks its panel too.
	tok := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{"http://127.0.0.1:1"}})
	wall := newTabBeside(t, ann, "a wall display")
	wall.visit(in.URL + "/embed/metrics?token=" + url.QueryEscape(tok))
	wall.waitFor(`the metrics widget live`, `document.getElementById(`+jsValue(views.IDIndicator)+`).dataset.state === 'live'`, nil)
	ann.visit(in.URL + "/")
	ann.waitLive()
	const panels = `['Server', 'Last 5 minutes', 'Rooms', 'Activity']`
	var marks []struct {
		Panel    string  `json:"panel"`
		Text     string  `json:"text"`
		Datetime string  `json:"datetime"`
		Painted  bool    `json:"painted"`
		Opacity  float64 `json:"opacity"`
	}
	const readMarks = `` + panels + `.map(name => { const r = region(name); const m = r && r.querySelector('.stale-mark');
		if (m) m.scrollIntoView({block: 'nearest'});
		const body = r && [...r.children].find(c => !c.matches('h2, .panel-head, .stale-mark'));
		return {panel: name, text: m ? m.innerText : '', datetime: m && m.querySelector('time') ? m.querySelector('time').getAttribute('datetime') : '',
			painted: painted(m), opacity: body ? Number(getComputedStyle(body).opacity) : -1}; })`
	ann.eval(ux(readMarks), &marks)
	for _, m := range marks {
		if m.Text != "" || m.Opacity != 1 {
			t.Errorf("while live, %s is marked %q with opacity %v", m.Panel, m.Text, m.Opacity)
		}
	}
	stopped := time.Now()
	in.Stop(t)
	ann.waitFor(`the indicator to read "Reconnecting…"`, `indicator().dataset.state === 'reconnecting'`, nil)
	ann.eval(ux(readMarks), &marks)
	for _, m := range marks {
		at, err := time.Parse(time.RFC3339Nano, m.Datetime)
		want := "Stale since " + enGBClock(at.In(loc))
		if err != nil || m.Text != want || !m.Painted || m.Opacity >= 1 || at.Before(stopped.Add(-time.Second)) || at.After(time.Now()) {
			t.Errorf("with the server away, %s: %+v; want a painted %q (since it went away) and its values dimmed", m.Panel, m, want)
		}
	}
	var wallMark struct {
		Text    string  `json:"text"`
		Painted bool    `json:"painted"`
		Opacity float64 `json:"opacity"`
	}
	wall.waitFor(`the widget's stale mark`, ux(`(m => m && {text: m.innerText, painted: painted(m), opacity: Number(getComputedStyle(region('Metrics').querySelector('p.meta')).opacity)})(document.querySelector('.stale-mark'))`), &wallMark)
	if !strings.HasPrefix(wallMark.Text, "Stale since ") || !wallMark.Painted || wallMark.Opacity >= 1 {
		t.Errorf("the metrics widget with the server away: %+v; want a painted Stale since … and its values dimmed", wallMark)
	}
	start(t, in.DB, in.Addr, "--secret-file", secretFile(t, hex.EncodeToString(embedSecret), 0o600), "--tick", browserTick)
	ann.waitLive()
	ann.waitFor(`the stale marks gone`, ux(`!document.querySelector('.stale-mark, [data-stale]')`), nil)
	ann.eval(ux(readMarks), &marks)
	for _, m := range marks {
		if m.Text != "" || m.Opacity != 1 {
			t.Errorf("back live, %s is marked %q with opacity %v", m.Panel, m.Text, m.Opacity)
		}
	}
}

// checkCopy clicks the new token's Copy button: the clipboard holds token,
// or, where the page may not write it, the token is selected; a reload then
// shows the list, without the token and without a second one.
func checkCopy(t *testing.T, ann *chatTab, in *instance, token string) {
	t.Helper()
	grantClipboard(t, ann.ctx, in.URL)
	ann.do(`click "Copy"`, chromedp.Click(rbButton("Copy")))
	ann.waitFor(`"Copied." beside the button`, ux(`(s => s && painted(s) && s.innerText === 'Copied.')(document.querySelector('.copy-status'))`), nil)
	clip, err := chromedp.Run(ann.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("read the clipboard: %v", err)
	}
	if clip != token {
		t.Errorf("the clipboard holds %q, want the token %q", clip, token)
	}
	// Where the page may not write the clipboard, the token is selected.
	ann.eval(`(() => { navigator.clipboard.writeText = () => Promise.reject(new Error('denied')); document.querySelector('.copy-status').textContent = ''; return true; })()`, nil)
	ann.do(`click "Copy" again`, chromedp.Click(rbButton("Copy")))
	var selected string
	ann.waitFor(`the token selected`, ux(`document.querySelector('.copy-status').innerText !== '' && String(window.getSelection())`), &selected)
	if selected != token {
		t.Errorf("with the clipboard refused, the selection is %q, want the token", selected)
	}
	// A reload shows the list: no token again, none made again.
	ann.reloadPage()
	var after struct {
		Token bool `json:"token"`
		Rows  int  `json:"rows"`
	}
	ann.eval(ux(`({token: !!document.getElementById('new-token'), rows: [...region('API tokens').querySelectorAll('tbody tr')].length})`), &after)
	if after.Token || after.Rows != 1 {
		t.Errorf("after a reload: token shown %v, %d tokens listed; want false, 1", after.Token, after.Rows)
	}
}

// reloadPage reloads the tab as a person does (F5) and waits for the page.
func (c *chatTab) reloadPage() {
	c.t.Helper()
	c.do("reload", chromedp.Reload())
}
