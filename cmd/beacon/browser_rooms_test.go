package main

// Browser tests of chat rooms: real headless Chromium tabs drive the real
// program through what people see in a room: the "Your name" form, the
// "Message" field and its "Send" button, the lists named "Messages" and
// "Online", the typing line, and the dashboard's "Rooms" panel. They reuse
// browser_test.go's browser, its console watch (an uncaught exception or a
// CSP violation fails the test) and its waitFor, which works under the
// page's strict CSP.
//
// Each person has a tab in a browser context of their own (like a private
// window): their own cookies, so their own display name. The tabs of one
// test share one Chromium.
//
// Waits are conditions, never sleeps. Where a test says how long something
// took, the time is measured in the pages (Date.now when the DOM changed),
// not around DevTools round trips.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// rbGrace is the presence grace period of the tests that wait for someone
// to leave: shorter than the default 5s, the same code path.
const rbGrace = time.Second

// rbStart starts Beacon for a room test.
func rbStart(t *testing.T, flags ...string) *instance {
	t.Helper()
	return start(t, "", "", append([]string{"--tick", browserTick}, flags...)...)
}

// rbJS finds a room's parts the way a person does. It is evaluated inside
// browserHelpersJS's scope (norm, text, list, region, indicator).
var rbJS = `
const field = label => { const l = [...document.querySelectorAll('label')].find(l => norm(l.textContent) === label); return l ? l.control : null; };
const button = label => [...document.querySelectorAll('button')].find(b => norm(b.textContent) === label) || null;
// The messages as shown: author, text (as is, line breaks kept) and DOM id.
const messageItems = () => { const l = list('Messages'); return l ? [...l.children].map(li => {
	const c = li.querySelector('.content');
	return {tag: li.tagName, id: li.id, author: text(li.querySelector('.author')), content: c ? c.textContent : null}; }) : null; };
const count = (author, content) => (messageItems() || []).filter(m => m.author === author && m.content === content).length;
const online = () => { const l = list('Online'); return l ? [...l.querySelectorAll('li')].map(text) : null; };
const typingLine = () => { const e = document.getElementById(` + jsValue(views.IDTyping) + `); return e ? text(e) : null; };
const rooms = () => { const r = region('Rooms'); const l = list('Active rooms');
	return r && {items: l ? [...l.querySelectorAll('li')].map(li => ({text: text(li), href: li.querySelector('a') ? li.querySelector('a').getAttribute('href') : ''})) : [],
		empty: [...r.querySelectorAll('p')].some(p => text(p) === 'No one is chatting.')}; };
`

// rb puts rbJS in scope of expr.
func rb(expr string) string { return "(() => {" + rbJS + "\nreturn (" + expr + ");\n})()" }

// rbField selects the input a label names, as a person finds it.
func rbField(label string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//input[@id=//label[normalize-space()=%q]/@for]`, label))
}

// rbButton selects a button by its text.
func rbButton(label string) chromedp.Search {
	return chromedp.Search(fmt.Sprintf(`//button[normalize-space()=%q]`, label))
}

// chatTab is one person's tab, in a browser context of its own.
type chatTab struct {
	*browserPage
	who       string
	closeOnce sync.Once
	cancel    context.CancelFunc
}

// newChatTab opens a tab for who in a new browser context of browser's
// Chromium: no cookies shared with any other tab.
func newChatTab(t *testing.T, browser *browserPage, who string) *chatTab {
	t.Helper()
	return openTab(t, browser.ctx, who, chromedp.WithNewBrowserContext())
}

// openTab opens a tab for who under parent (a browser, or a tab whose
// browser context it shares), with opts.
func openTab(t *testing.T, parent context.Context, who string, opts ...chromedp.ContextOption) *chatTab {
	t.Helper()
	p := &browserPage{t: t}
	ctx, cancel := chromedp.NewContext(parent, append(opts, chromedp.WithListener(p.listen))...)
	c := &chatTab{browserPage: p, who: who, cancel: cancel}
	// Cleanups run last first: this tab closes before its browser does.
	t.Cleanup(func() {
		c.close()
		p.check()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab for %s: %v", who, err)
	}
	p.ctx = ctx
	return c
}

// close closes the tab, as a person closes it: the page gets pagehide.
func (c *chatTab) close() {
	c.closeOnce.Do(func() {
		if err := chromedp.Cancel(c.ctx); err != nil && !errors.Is(err, context.Canceled) {
			c.t.Logf("closing %s's tab: %v", c.who, err)
		}
		c.cancel()
	})
}

// do runs actions in the tab, bounded by browserWait.
func (c *chatTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		c.t.Fatalf("%s: %s: %v\nthe page now: %s", c.who, what, err, c.summary())
	}
}

// follow runs actions that navigate (a form submission) and returns the
// status of the document that loads.
//
// chromedp's wait for the navigation also ends, with no response, at a
// same-document history change: htmx stamps the history entry
// (history.replaceState) at the first live swap of a page, which may come
// just as the form is sent. Then the new document's status is read from
// its navigation timing, once it has replaced the page (window.__followed
// is gone) and loaded.
func (c *chatTab) follow(what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	c.t.Helper()
	c.eval(`window.__followed = 1`, nil)
	ctx, cancel := context.WithTimeout(c.ctx, browserWait)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		c.t.Fatalf("%s: %s: %v", c.who, what, err)
	}
	if resp != nil {
		return resp.Status
	}
	// Polled, not awaited in the page: the old page may go away meanwhile.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		status, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`(!window.__followed && document.readyState === 'complete' &&
			performance.getEntriesByType('navigation')[0].responseStatus) || 0`))
		if err == nil && status != 0 {
			return status
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("%s: %s: no page loaded: %v", c.who, what, ctx.Err())
		case <-tick.C:
		}
	}
}

// visit loads url.
func (c *chatTab) visit(url string) {
	c.t.Helper()
	c.do("open "+url, chromedp.Navigate(url))
}

// join opens room and chooses name in its "Your name" form, then waits
// until the message form shows and the room's socket is open.
func (c *chatTab) join(base, room, name string) {
	c.t.Helper()
	c.visit(base + "/rooms/" + room)
	c.chooseName(name)
	c.waitFor(c.who+`'s "Message" field and a live socket`,
		rb(`!!field('Message') && !!button('Send') && !field('Your name') && indicator().dataset.state === 'live'`), nil)
}

// chooseName fills "Your name" and clicks "Join the chat"; it returns the
// status of the page that answers.
func (c *chatTab) chooseName(name string) int64 {
	c.t.Helper()
	c.waitFor(`the form "Your name"`, rb(`!!field('Your name') && !!button('Join the chat')`), nil)
	c.do(`type "`+name+`" into "Your name"`, sendKeys(rbField("Your name"), name))
	return c.follow(`click "Join the chat"`, chromedp.Click(rbButton("Join the chat")))
}

// say types text into "Message" and presses Enter.
func (c *chatTab) say(text string) {
	c.t.Helper()
	c.do(fmt.Sprintf("say %q", text), sendKeys(rbField("Message"), text+kb.Enter))
}

// typeKeys types into "Message" without sending.
func (c *chatTab) typeKeys(text string) {
	c.t.Helper()
	c.do(fmt.Sprintf("type %q", text), sendKeys(rbField("Message"), text))
}

// reload reloads the page and waits until it is live again.
func (c *chatTab) reload() {
	c.t.Helper()
	c.do("reload", chromedp.Reload())
	c.waitLive()
}

// waitMessage waits until the page shows content by author and returns
// Date.now() of the page at the moment it did (the condition is checked on
// every DOM change).
func (c *chatTab) waitMessage(author, content string) int64 {
	c.t.Helper()
	var at int64
	c.waitFor(fmt.Sprintf("%q by %s in %s's Messages", content, author, c.who),
		rb(`count(`+jsValue(author)+`, `+jsValue(content)+`) > 0 && Date.now()`), &at)
	return at
}

// rbItem is one message as a page shows it.
type rbItem struct {
	Tag     string `json:"tag"`
	ID      string `json:"id"`
	Author  string `json:"author"`
	Content string `json:"content"`
}

func (c *chatTab) messages() []rbItem {
	c.t.Helper()
	var items []rbItem
	c.eval(rb(`messageItems()`), &items)
	return items
}

// checkMessages fails the test unless the page shows exactly want (author,
// content), in order, each once, with distinct message ids.
func (c *chatTab) checkMessages(when string, want [][2]string) {
	c.t.Helper()
	items := c.messages()
	var got [][2]string
	ids := map[string]bool{}
	for _, it := range items {
		got = append(got, [2]string{it.Author, it.Content})
		if it.Tag != "LI" || !strings.HasPrefix(it.ID, "msg-") || ids[it.ID] {
			c.t.Errorf("%s: %s's Messages hold %+v: want list items with distinct msg-N ids", when, c.who, it)
		}
		ids[it.ID] = true
	}
	if !slices.Equal(got, want) {
		c.t.Errorf("%s: %s's Messages show\n%q\nwant each message once, in order:\n%q", when, c.who, got, want)
	}
}

// online returns the page's Online list.
func (c *chatTab) online() []string {
	c.t.Helper()
	var names []string
	c.eval(rb(`online()`), &names)
	return names
}

// waitOnline waits until the Online list reads names (sorted) and returns
// Date.now() of the page when it did.
func (c *chatTab) waitOnline(names ...string) int64 {
	c.t.Helper()
	var at int64
	c.waitFor(fmt.Sprintf("%s's Online list to read %q", c.who, names),
		rb(`JSON.stringify(online()) === `+jsValue(jsValue(names))+` && Date.now()`), &at)
	return at
}

// record keeps, in the page, a log of the values of expr (rbJS in scope):
// its value now, then each new value, checked on every DOM change.
func (c *chatTab) record(key, expr string) {
	c.t.Helper()
	c.eval(`(() => {
		const get = () => { try { return `+rb(expr)+`; } catch (e) { return 'error: ' + e; } };
		window.__rbLog = window.__rbLog || {};
		const log = window.__rbLog[`+jsValue(key)+`] = [get()];
		new MutationObserver(() => { const v = get(); if (JSON.stringify(v) !== JSON.stringify(log[log.length - 1])) log.push(v); })
			.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
		return true;
	})()`, nil)
}

// recorded returns the log that record keeps for key.
func (c *chatTab) recorded(key string, out any) {
	c.t.Helper()
	c.eval(`window.__rbLog && window.__rbLog[`+jsValue(key)+`]`, out)
}

// rbOut is one thing the page sent on its socket, or an input event in the
// message field (Type "input").
type rbOut struct {
	At      int64    `json:"at"`
	Type    string   `json:"type"`
	Keys    []string `json:"keys"`
	Content *string  `json:"content"`
	Raw     string   `json:"raw"`
}

// recordSocket keeps, in the page, what htmx sends on the room's socket and
// every input event, in order: window.__rbOut.
func (c *chatTab) recordSocket() {
	c.t.Helper()
	c.eval(`(() => {
		window.__rbOut = [];
		document.addEventListener('htmx:ws:after:message:outgoing', e => {
			const raw = e.detail.message.data; let v = {};
			try { v = JSON.parse(raw); } catch (err) { v = {type: 'not JSON'}; }
			window.__rbOut.push({at: Date.now(), type: v.type, keys: Object.keys(v).sort(), content: typeof v.content === 'string' ? v.content : null, raw: String(raw)});
		});
		document.addEventListener('input', () => window.__rbOut.push({at: Date.now(), type: 'input', keys: [], content: null, raw: ''}), true);
		return true;
	})()`, nil)
}

func (c *chatTab) sent() []rbOut {
	c.t.Helper()
	var out []rbOut
	c.eval(`window.__rbOut`, &out)
	return out
}

// TestBrowserRoomMessages: two people in one room. A message sent in one
// page appears in the other within a second, and once in each; after both
// reload, the history rendered by the server shows it, still once.
func TestBrowserRoomMessages(t *testing.T) {
	in := rbStart(t) // the default grace period: a reload must not flap
	browser := newBrowserPage(t)
	ann := newChatTab(t, browser, "ann")
	bob := newChatTab(t, browser, "bob")
	ann.join(in.URL, "lobby", "ann")
	bob.join(in.URL, "lobby", "bob")

	ann.recordSocket()
	ann.say("hello bob")
	bobSaw := bob.waitMessage("ann", "hello bob")
	ann.waitMessage("ann", "hello bob")
	var sentAt int64
	for _, o := range ann.sent() {
		if o.Type == "chat" {
			sentAt = o.At
			t.Logf("ann's page sent %s", o.Raw)
			if !slices.Equal(o.Keys, []string{"content", "headers", "type"}) || o.Content == nil || *o.Content != "hello bob" {
				t.Errorf("ann's page sent %s: want {type: chat, content: hello bob, headers}", o.Raw)
			}
			break
		}
	}
	if sentAt == 0 {
		t.Fatalf("ann's page sent no chat message on its socket: %+v", ann.sent())
	}
	latency := time.Duration(bobSaw-sentAt) * time.Millisecond
	t.Logf("ann's message reached bob's page %v after ann's page sent it", latency)
	if latency > time.Second {
		t.Errorf("ann's message reached bob's page %v after it was sent, want within a second", latency)
	}

	// The server sends the form back empty; the field keeps the focus.
	ann.waitFor(`ann's "Message" field empty and focused`,
		rb(`field('Message') && field('Message').value === '' && document.activeElement === field('Message')`), nil)

	// A later message is ordered after any copy of the first: once it shows,
	// each page holds all it will get.
	bob.say("hi ann")
	ann.waitMessage("bob", "hi ann")
	bob.waitMessage("bob", "hi ann")
	want := [][2]string{{"ann", "hello bob"}, {"bob", "hi ann"}}
	ann.checkMessages("before the reloads", want)
	bob.checkMessages("before the reloads", want)

	// Both reload: the history is rendered by the server.
	page := rbGet(t, in.URL+"/rooms/lobby")
	if !strings.Contains(page, ">hello bob</bdi></span>") || !strings.Contains(page, ">hi ann</bdi></span>") {
		t.Errorf("GET /rooms/lobby does not render the history; the page:\n%s", page)
	}
	// ann's reload must not take her off bob's Online list.
	bob.waitOnline("ann", "bob")
	bob.record("online", `online()`)
	ann.reload()
	ann.checkMessages("right after ann reloaded", want)
	var onlineLog [][]string
	bob.recorded("online", &onlineLog)
	if want := [][]string{{"ann", "bob"}}; !slices.EqualFunc(onlineLog, want, slices.Equal) {
		t.Errorf("while ann reloaded, bob's Online list went through %q, want %q", onlineLog, want)
	}
	bob.reload()
	bob.checkMessages("right after bob reloaded", want)

	ann.say("back again")
	ann.waitMessage("ann", "back again")
	bob.waitMessage("ann", "back again")
	want = append(want, [2]string{"ann", "back again"})
	ann.checkMessages("after the reloads", want)
	bob.checkMessages("after the reloads", want)
	ann.waitOnline("ann", "bob")
	bob.waitOnline("ann", "bob")

	t.Logf("visibility: ann %s, bob %s", ann.visibility(), bob.visibility())
}

// TestBrowserRoomPresence: the Online list shows both people in both pages;
// after bob closes his tab, ann's shows only ann once the grace period has
// passed, and not before.
func TestBrowserRoomPresence(t *testing.T) {
	in := rbStart(t, "--presence-grace", rbGrace.String())
	browser := newBrowserPage(t)
	ann := newChatTab(t, browser, "ann")
	bob := newChatTab(t, browser, "bob")
	ann.join(in.URL, "lobby", "ann")
	bob.join(in.URL, "lobby", "bob")
	ann.waitOnline("ann", "bob")
	bob.waitOnline("ann", "bob")

	// bob's tab goes to the background. Headless tabs stay visible, so the
	// test hides it as hx-ws sees it (document.hidden, then the
	// visibilitychange event, whose handler closes a paused socket at
	// once): the room's socket must stay open, or presence would flap
	// whenever someone switches tabs.
	var hidden struct {
		Before int `json:"before"`
		After  int `json:"after"`
		Pause  any `json:"pause"` // false, or what the page had instead
	}
	bob.eval(`(() => {
		const conn = () => { const el = document.getElementById(`+jsValue(views.IDRoomSocket)+`); return el && el._htmx && el._htmx.ws && el._htmx.ws.connection; };
		const state = () => conn() && conn().socket ? conn().socket.readyState : -1;
		const before = state();
		Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});
		Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
		document.dispatchEvent(new Event('visibilitychange'));
		return {before, after: state(), pause: conn() ? conn().config.pauseOnBackground : null};
	})()`, &hidden)
	if hidden.Before != 1 || hidden.After != 1 || hidden.Pause != false {
		t.Errorf("bob's room socket in a background tab: readyState %d before, %d after, pauseOnBackground %v; want 1 (open) both times and false",
			hidden.Before, hidden.After, hidden.Pause)
	}

	ann.record("online", `online()`)
	var before int64
	ann.eval(`Date.now()`, &before)
	bob.close()
	left := ann.waitOnline("ann")
	gone := time.Duration(left-before) * time.Millisecond
	t.Logf("bob left ann's Online list %v after his tab was closed (grace %v)", gone, rbGrace)
	if gone < rbGrace {
		t.Errorf("bob left ann's Online list %v after his tab closed, before the grace period of %v", gone, rbGrace)
	}
	var log [][]string
	ann.recorded("online", &log)
	if want := [][]string{{"ann", "bob"}, {"ann"}}; !slices.EqualFunc(log, want, slices.Equal) {
		t.Errorf("ann's Online list went through %q, want %q", log, want)
	}
}

// TestBrowserRoomTyping: while bob types, ann's page says "bob is typing…";
// it goes away when bob sends, and 3 s (server side) after his last
// keystroke when he does not.
func TestBrowserRoomTyping(t *testing.T) {
	in := rbStart(t)
	browser := newBrowserPage(t)
	ann := newChatTab(t, browser, "ann")
	bob := newChatTab(t, browser, "bob")
	ann.join(in.URL, "lobby", "ann")
	bob.join(in.URL, "lobby", "bob")
	ann.record("typing", `typingLine()`)
	bob.recordSocket()

	var initial string
	ann.eval(rb(`typingLine()`), &initial)
	if initial != "" {
		t.Errorf("before anyone types, ann's typing line reads %q", initial)
	}

	// Sending clears it.
	bob.typeKeys("hel")
	ann.waitFor(`"bob is typing…" in ann's page`, rb(`typingLine() === 'bob is typing…'`), nil)
	var own string
	bob.eval(rb(`typingLine()`), &own)
	if own != "" {
		t.Logf("bob's own page says %q while he types (every page in the room gets the same typing line)", own)
	}
	bob.typeKeys("lo" + kb.Enter)
	ann.waitFor(`bob's "hello" in ann's page and the typing line empty`,
		rb(`count('bob', 'hello') === 1 && typingLine() === ''`), nil)
	bob.waitFor(`bob's "Message" field empty and focused`,
		rb(`field('Message') && field('Message').value === '' && document.activeElement === field('Message')`), nil)

	var still string
	ann.eval(rb(`typingLine()`), &still)
	if still != "" {
		t.Errorf("after bob sent his message, ann's typing line reads %q again", still)
	}

	// Typing stops: the line goes 3 s after the server's last signal. The
	// client sends one at most every second (htmx's throttle also sends the
	// last one of a burst, up to a second after the first), so that is 3 to
	// 4 s after the last keystroke; the test only rules out "too early".
	bob.typeKeys("are you")
	var stopped int64
	bob.eval(`Date.now()`, &stopped)
	ann.waitFor(`"bob is typing…" in ann's page again`, rb(`typingLine() === 'bob is typing…'`), nil)
	var cleared int64
	ann.waitFor(`ann's typing line to clear after bob stopped typing`, rb(`typingLine() === '' && Date.now()`), &cleared)
	after := time.Duration(cleared-stopped) * time.Millisecond
	t.Logf(`"bob is typing…" went %v after bob's last keystroke`, after)
	if after < 2500*time.Millisecond {
		t.Errorf(`"bob is typing…" went %v after bob's last keystroke, before the 3 s expiry`, after)
	}
	var field string
	bob.eval(rb(`field('Message').value`), &field)
	if field != "are you" {
		t.Errorf(`bob's draft reads %q, want "are you": the typing signal must not touch the field`, field)
	}

	var log []string
	ann.recorded("typing", &log)
	if want := []string{"", "bob is typing…", "", "bob is typing…", ""}; !slices.Equal(log, want) {
		t.Errorf("ann's typing line went through %q, want %q", log, want)
	}

	// What bob's page sent: typing signals at most one a second, and none
	// after the message that no keystroke caused.
	out := bob.sent()
	var lastTyping int64
	sinceInput := true
	for i, o := range out {
		switch o.Type {
		case "input":
			sinceInput = true
		case "typing":
			if lastTyping != 0 && o.At-lastTyping < 900 {
				t.Errorf("bob's page sent typing signals %d ms apart, want at most one a second", o.At-lastTyping)
			}
			if !sinceInput {
				t.Errorf("bob's page sent a typing signal after his message with no keystroke in between (#%d of %+v)", i, out)
			}
			lastTyping = o.At
		case "chat":
			// The form comes back new, with a throttle of its own.
			sinceInput, lastTyping = false, 0
		default:
			t.Errorf("bob's page sent %s", o.Raw)
		}
	}
	var seq []string
	for _, o := range out {
		seq = append(seq, fmt.Sprintf("%s@%d", o.Type, o.At-out[0].At))
	}
	t.Logf("bob's page, in order (ms since the first): %s", strings.Join(seq, " "))
	for _, o := range out {
		if o.Type == "typing" {
			t.Logf("a typing signal as bob's page sends it: %s", o.Raw)
			break
		}
	}
}

// Messages that try to run code in the page or to add fields or events to
// an SSE stream. rbTyped are typed into the form; rbSent hold line endings
// a text field cannot take, so a program sends them. (A bare CR is refused:
// TestChatRefusesControlCharacters.)
var (
	rbTyped = []string{
		`<script>window.__pwned=1</script>`,
		`<img src=x onerror="window.__pwned=1">`,
		`javascript:window.__pwned=1`,
	}
	rbSent = []string{
		"one\r\ntwo",
		"first\n\ndata: x",
		"end\n\nevent: beacon:resync\nid: 1\nretry: 1\ndata: <img src=x onerror=\"window.__pwned=1\">\r\r\n",
		"</span></li></ol><script>window.__pwned=1</script><a href=\"javascript:window.__pwned=1\">click</a>",
	}
)

// rbNewlines is how text with line endings reads once parsed: HTML and SSE
// both turn "\r\n" and "\r" into "\n".
var rbNewlines = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// TestBrowserRoomHostileInput: markup and SSE-breaking text in messages
// shows as text and runs nothing, in a page with a name (WebSocket) and in a
// viewer's page (SSE), live and rendered from history; a raw SSE reader of
// the room gets one well-formed event per message; and the name form
// refuses markup.
func TestBrowserRoomHostileInput(t *testing.T) {
	in := rbStart(t, "--presence-grace", rbGrace.String())
	viewerSSE := rbOpenSSE(t, in, views.TopicRoom("lobby"))
	browser := newBrowserPage(t)
	ann := newChatTab(t, browser, "ann")
	viewer := newChatTab(t, browser, "a viewer")

	// A name with markup is refused, with a reason a person can read, and
	// sets no cookie.
	viewer.visit(in.URL + "/rooms/lobby")
	if status := viewer.chooseName("<b>x</b>"); status != http.StatusBadRequest {
		t.Errorf(`choosing the name "<b>x</b>" answered %d, want 400`, status)
	}
	var refusal struct {
		Text string `json:"text"`
		Bold int    `json:"bold"`
	}
	viewer.eval(`({text: text(document.querySelector('main')), bold: document.querySelectorAll('main b').length})`, &refusal)
	if !strings.Contains(refusal.Text, "name") || !strings.Contains(refusal.Text, "letters, digits") || refusal.Bold != 0 {
		t.Errorf("refusing \"<b>x</b>\" the page says %q (with %d <b> elements); want the name rule, as text", refusal.Text, refusal.Bold)
	}
	t.Logf("refusing the name <b>x</b>, the page reads: %q", refusal.Text)
	for _, ck := range viewer.cookies(in.URL) {
		if strings.HasPrefix(ck, "beacon_name=") {
			t.Errorf("after a refused name the browser holds the cookie %q, want none", ck)
		}
	}
	rbRefusedNames(t, in)

	// The viewer: no name, the room read-only over SSE.
	viewer.visit(in.URL + "/rooms/lobby")
	viewer.waitLive()
	viewer.waitFor(`the form "Your name" (no name was kept)`, rb(`!!field('Your name') && !field('Message')`), nil)
	ann.join(in.URL, "lobby", "ann")

	var want [][2]string
	for _, m := range rbTyped {
		ann.say(m)
		ann.waitMessage("ann", m)
		want = append(want, [2]string{"ann", m})
	}
	mallory := rbDialJSON(t, in, "lobby", "mallory")
	for _, m := range rbSent {
		mallory.say(m)
		want = append(want, [2]string{"mallory", rbNewlines.Replace(strings.TrimSpace(m))})
	}
	const last = "that was all"
	mallory.say(last)
	want = append(want, [2]string{"mallory", last})

	// The history API is the database's order: the SSE stream and the pages
	// must match it.
	history := rbHistory(t, in, "lobby")
	if len(history) != len(want) {
		t.Fatalf("the history holds %d messages, want %d: %+v", len(history), len(want), history)
	}
	for i, m := range history {
		if m.User != want[i][0] || rbNewlines.Replace(m.Content) != want[i][1] {
			t.Errorf("history[%d] = %s: %q, want %s: %q", i, m.User, m.Content, want[i][0], want[i][1])
		}
	}
	viewerSSE.expectMessages(history)

	for _, p := range []*chatTab{ann, viewer} {
		p.waitMessage("mallory", last)
		p.checkMessages("live", want)
		p.checkHarmless("live")
	}
	// Rendered from history this time.
	for _, p := range []*chatTab{ann, viewer} {
		p.reload()
		p.checkMessages("after a reload", want)
		p.checkHarmless("after a reload")
	}
	// The next event on the stream is the next message: nothing came in
	// between.
	viewerSSE.expectMessages([]db.Message{mallory.say("over and out")})
}

// checkHarmless fails the test if text from messages became markup or ran.
func (c *chatTab) checkHarmless(when string) {
	c.t.Helper()
	var got struct {
		Pwned    bool     `json:"pwned"`
		Elements []string `json:"elements"`
		Images   int      `json:"images"`
		Inline   int      `json:"inline"`
	}
	c.eval(`({pwned: typeof window.__pwned !== 'undefined',
		elements: [...list('Messages').querySelectorAll('*')].map(e => e.tagName.toLowerCase())
			.filter(n => !['li', 'strong', 'span', 'bdi', 'time'].includes(n)),
		images: document.querySelectorAll('img, [onerror], a[href^="javascript:" i]').length,
		inline: [...document.querySelectorAll('script')].filter(s => !s.src).length})`, &got)
	if got.Pwned {
		c.t.Errorf("%s: text from a message ran as script in %s's page: window.__pwned is set", when, c.who)
	}
	if len(got.Elements) > 0 || got.Images > 0 || got.Inline > 0 {
		c.t.Errorf("%s: %s's page holds elements made from message text: %q in Messages, %d img/onerror/javascript: links, %d inline scripts",
			when, c.who, got.Elements, got.Images, got.Inline)
	}
}

// cookies returns the names of the cookies the tab's browser context holds
// for url.
func (c *chatTab) cookies(url string) []string {
	c.t.Helper()
	var names []string
	c.do("read cookies", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
		if err != nil {
			return err
		}
		for _, ck := range res.Cookies {
			names = append(names, ck.Name+"="+ck.Value)
		}
		return nil
	}))
	return names
}

// visibility is document.visibilityState.
func (c *chatTab) visibility() string {
	var v string
	c.eval(`document.visibilityState`, &v)
	return v
}

// rbRefusedNames checks, as a program would send them, that names with
// markup or line endings are refused and set no cookie, on the name form
// and on the socket.
func rbRefusedNames(t *testing.T, in *instance) {
	t.Helper()
	client := noRedirects(newJar(t))
	defer client.CloseIdleConnections()
	csrf := csrfOf(t, client, in.URL+"/rooms/lobby")
	for _, name := range []string{"<b>x</b>", "a\r\ndata: x", "a\nevent: x", "x\ry"} {
		resp, err := client.PostForm(in.URL+"/rooms/lobby/name", url.Values{"name": {name}, "_csrf": {csrf}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 0 {
			t.Errorf("POST /rooms/lobby/name %q: %s with cookies %v: %s; want 400 and no cookie", name, resp.Status, resp.Cookies(), body)
		}
		ws, resp, err := websocket.DefaultDialer.Dial(rbSocketURL(in, "lobby", name), nil)
		if err == nil {
			ws.Close()
			t.Errorf("a socket with the name %q was accepted", name)
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a socket with the name %q: %v (%v), want a 400 answer", name, err, resp)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

func rbSocketURL(in *instance, room, name string) string {
	return "ws://" + in.Addr + "/rooms/" + room + "/ws?" + url.Values{"name": {name}}.Encode()
}

// rbGet returns the body of a GET, failing the test unless it is a 200.
func rbGet(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: browserWait}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", url, resp.Status, err, body)
	}
	return string(body)
}

// rbHistory returns a room's messages from the history API, oldest first.
func rbHistory(t *testing.T, in *instance, room string) []db.Message {
	t.Helper()
	var page struct {
		Messages []db.Message `json:"messages"`
	}
	if err := json.Unmarshal([]byte(rbGet(t, in.URL+"/api/rooms/"+room+"/messages?limit=500")), &page); err != nil {
		t.Fatal(err)
	}
	return page.Messages
}

// rbJSONClient is a program in a room: a WebSocket with the JSON
// subprotocol.
type rbJSONClient struct {
	t    *testing.T
	name string
	conn *websocket.Conn
}

func rbDialJSON(t *testing.T, in *instance, room, name string) *rbJSONClient {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"beacon.v1.json"}, HandshakeTimeout: browserWait}
	conn, resp, err := d.Dial(rbSocketURL(in, room, name), nil)
	if err != nil {
		t.Fatalf("dial the room as %s: %v (%v)", name, err, resp)
	}
	resp.Body.Close()
	if conn.Subprotocol() != "beacon.v1.json" {
		t.Fatalf("the room answered subprotocol %q", conn.Subprotocol())
	}
	t.Cleanup(func() {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second)) //nolint:errcheck // closing anyway
		conn.Close()
	})
	return &rbJSONClient{t: t, name: name, conn: conn}
}

// say sends content and waits for the room to send it back, stored.
func (c *rbJSONClient) say(content string) db.Message {
	c.t.Helper()
	msg, _ := json.Marshal(map[string]string{"type": "chat", "content": content})
	c.conn.SetWriteDeadline(time.Now().Add(browserWait)) //nolint:errcheck // the write fails then
	if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
		c.t.Fatalf("%s: send %q: %v", c.name, content, err)
	}
	c.conn.SetReadDeadline(time.Now().Add(browserWait)) //nolint:errcheck // the read fails then
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.t.Fatalf("%s: waiting for %q to come back: %v", c.name, content, err)
		}
		var in struct {
			Type  string `json:"type"`
			Error string `json:"error"`
			db.Message
		}
		if err := json.Unmarshal(data, &in); err != nil {
			c.t.Fatalf("%s: the room sent %s: %v", c.name, data, err)
		}
		switch {
		case in.Type == "error":
			c.t.Fatalf("%s: sending %q: the room answered %s", c.name, content, data)
		case in.Type == "message" && in.User == c.name && in.Content == strings.TrimSpace(strings.ReplaceAll(content, "\r\n", "\n")):
			return in.Message
		}
	}
}

// rbSSE reads one /live stream strictly: every line must be one the server
// writes (a comment, "id: …" or "data: …"), with no bare CR anywhere.
type rbSSE struct {
	t      *testing.T
	blocks chan rbBlock
	done   chan struct{}
	err    error // why reading stopped; set before done is closed
	first  rbBlock
}

// rbBlock is one block of the stream between blank lines.
type rbBlock struct {
	ID      string
	HasID   bool
	Data    string // data lines joined with "\n"
	HasData bool
	Raw     string
}

func rbOpenSSE(t *testing.T, in *instance, topics string) *rbSSE {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := dialSSE(ctx, streamClient(t), liveURL(in.URL, topics), "")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &rbSSE{t: t, blocks: make(chan rbBlock, 1024), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = rbReadBlocks(stream.br, s.blocks)
	}()
	t.Cleanup(func() {
		cancel()
		stream.Close()
		<-s.done
	})
	// A fresh stream starts with the position it is at: an id, nothing else.
	s.first = s.next("the stream's first block")
	if !s.first.HasID || s.first.HasData {
		t.Fatalf("the stream's first block is %q, want an id only", s.first.Raw)
	}
	return s
}

// rbReadBlocks sends every block of the stream to out until it fails.
func rbReadBlocks(br *bufio.Reader, out chan<- rbBlock) error {
	var b rbBlock
	var raw strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		raw.WriteString(line)
		body := strings.TrimSuffix(line, "\n")
		if strings.ContainsAny(body, "\r\x00") {
			return fmt.Errorf("a line holds a CR or NUL: %q", line)
		}
		switch {
		case body == "":
			if raw.Len() > 1 {
				b.Raw = raw.String()
				out <- b
			}
			b = rbBlock{}
			raw.Reset()
		case strings.HasPrefix(body, ":"):
			// a comment: a heartbeat
		case strings.HasPrefix(body, "id: "):
			if b.HasID {
				return fmt.Errorf("a block with two ids: %q", raw.String())
			}
			b.ID, b.HasID = strings.TrimPrefix(body, "id: "), true
		case strings.HasPrefix(body, "data: "):
			if b.HasData {
				b.Data += "\n"
			}
			b.Data += strings.TrimPrefix(body, "data: ")
			b.HasData = true
		default:
			return fmt.Errorf("a line that is no comment, id or data: %q in %q", body, raw.String())
		}
	}
}

// next returns the next block that is not a heartbeat.
func (s *rbSSE) next(what string) rbBlock {
	s.t.Helper()
	deadline := time.NewTimer(browserWait)
	defer deadline.Stop()
	for {
		select {
		case b := <-s.blocks:
			if !b.HasID && !b.HasData {
				continue
			}
			return b
		case <-s.done:
			// Blocks read before the end are still in the channel.
			select {
			case b := <-s.blocks:
				if b.HasID || b.HasData {
					return b
				}
				continue
			default:
			}
			s.t.Fatalf("SSE: waiting for %s: the stream ended: %v", what, s.err)
		case <-deadline.C:
			s.t.Fatalf("SSE: no %s within %v", what, browserWait)
		}
	}
}

// rbMessageID matches the list item of a message in an event's HTML.
var rbMessageID = regexp.MustCompile(`<li id="msg-(\d+)"`)

// expectMessages reads one event per message, in order, and checks that
// each is exactly the message's fragment: its id, its data and nothing else.
func (s *rbSSE) expectMessages(msgs []db.Message) {
	s.t.Helper()
	epoch, _, ok := live.ParseID(s.first.ID)
	if !ok {
		s.t.Fatalf("SSE: the first id %q is not <epoch>-<position>", s.first.ID)
	}
	for i, m := range msgs {
		b := s.next(fmt.Sprintf("the event of message %d", i+1))
		if want := live.FormatID(epoch, m.Position); !b.HasID || b.ID != want || !b.HasData {
			s.t.Errorf("SSE event %d is %q, want id %s with data (message %q)", i+1, b.Raw, want, m.Content)
			continue
		}
		var frag bytes.Buffer
		if err := views.MessageFragment(views.Message{Position: m.Position, User: m.User, Guest: m.UserID == 0, Content: m.Content, At: m.At}).Render(context.Background(), &frag); err != nil {
			s.t.Fatal(err)
		}
		if want := rbNewlines.Replace(frag.String()); b.Data != want {
			s.t.Errorf("SSE event %d data:\n%q\nwant the message's fragment:\n%q", i+1, b.Data, want)
		}
		if esc := rbNewlines.Replace(templ.EscapeString(m.Content)); !strings.Contains(b.Data, esc) {
			s.t.Errorf("SSE event %d data %q does not hold the escaped text %q", i+1, b.Data, esc)
		}
		if ids := rbMessageID.FindAllString(b.Data, -1); len(ids) != 1 {
			s.t.Errorf("SSE event %d holds %d message items: %q", i+1, len(ids), b.Data)
		}
	}
	// Nothing else has arrived, or arrives in the meantime.
	select {
	case b := <-s.blocks:
		if b.HasID || b.HasData {
			s.t.Errorf("SSE: an extra block after the messages: %q", b.Raw)
		}
	default:
	}
	select {
	case <-s.done:
		s.t.Errorf("SSE: the stream ended: %v", s.err)
	default:
	}
}

// TestBrowserRoomDashboard: the dashboard's Rooms panel lists a room with
// how many people are in it, live, and opens one.
func TestBrowserRoomDashboard(t *testing.T) {
	in := rbStart(t, "--presence-grace", rbGrace.String())
	browser := newBrowserPage(t)
	dash := newChatTab(t, browser, "the dashboard")
	ann := newChatTab(t, browser, "ann")
	bob := newChatTab(t, browser, "bob")

	dash.visit(in.URL + "/")
	dash.waitLive()
	dash.waitFor(`"No one is chatting." in the Rooms panel`, rb(`rooms() && rooms().empty && rooms().items.length === 0`), nil)

	// ann opens the room from the dashboard's form.
	ann.visit(in.URL + "/")
	ann.waitLive()
	ann.do(`type "lobby" into "Room"`, sendKeys(rbField("Room"), "lobby"))
	if status := ann.follow(`click "Open"`, chromedp.Click(rbButton("Open"))); status != http.StatusOK {
		t.Fatalf(`opening "lobby" from the dashboard answered %d`, status)
	}
	var path string
	ann.eval(`location.pathname`, &path)
	if path != "/rooms/lobby" {
		t.Errorf(`the dashboard's form opened %q, want /rooms/lobby`, path)
	}
	if status := ann.chooseName("ann"); status != http.StatusOK {
		t.Fatalf("choosing the name ann answered %d", status)
	}
	ann.waitLive()

	waitRooms := func(want string) {
		t.Helper()
		dash.waitFor(`the Rooms panel to list `+want,
			rb(`rooms() && !rooms().empty && rooms().items.length === 1 && rooms().items[0].text === `+jsValue(want)+
				` && rooms().items[0].href === '/rooms/lobby'`), nil)
	}
	waitRooms("lobby 1 online")
	bob.join(in.URL, "lobby", "bob")
	waitRooms("lobby 2 online")
	bob.close()
	waitRooms("lobby 1 online")

	// Rendered by the server too.
	dash.reload()
	var listed map[string]any
	dash.eval(rb(`rooms()`), &listed)
	if got := jsValue(listed); got != `{"empty":false,"items":[{"href":"/rooms/lobby","text":"lobby 1 online"}]}` {
		t.Errorf("after a reload the Rooms panel holds %s, want lobby 1 online", got)
	}

	ann.close()
	dash.waitFor(`"No one is chatting." once ann has left`, rb(`rooms() && rooms().empty && rooms().items.length === 0`), nil)
}
