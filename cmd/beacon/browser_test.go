package main

// Browser tests: a real headless Chromium drives the real program (started by
// start, exactly as main starts it) through what a person sees: the title,
// the connection indicator, labelled regions, cards, the chart's images and
// the activity feed. `go test -run Browser ./cmd/beacon` selects them.
//
// Waits are conditions, never sleeps: waitFor evaluates a JavaScript
// predicate in the page on every DOM change (and every 100 ms) until it holds,
// with one generous deadline that fails the test. chromedp.Poll cannot be
// used here: it compiles its predicate with new Function, which the page's
// CSP (script-src 'self', no 'unsafe-eval') forbids.
//
// Every tab's console is watched: an uncaught exception or a CSP violation
// fails the test that caused it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

const (
	// browserTick makes the dashboard refresh four times a second: the same
	// mechanism as the default 1s, just sooner.
	browserTick = "250ms"
	// browserWait bounds every wait for something to appear in the page. It
	// is generous on purpose (race detector, busy CI machines); a passing
	// test never waits for it.
	browserWait = 30 * time.Second
)

// startForBrowser starts Beacon for a browser test.
func startForBrowser(t *testing.T) *instance {
	t.Helper()
	return start(t, "", "", "--tick", browserTick)
}

// chromiumPath returns the path of the Chromium binary, or skips the test (fails
// it when CI is set) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "browser tests need Chromium: install Debian's chromium (apt-get install chromium), " +
		"which provides /usr/bin/chromium"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browserPage is one tab of its own headless Chromium, with its console watched.
type browserPage struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // guarded by mu; uncaught exceptions and CSP violations
	console  []string // guarded by mu; everything else the console and the browser log said
}

// newBrowserPage starts a headless Chromium for the test and opens a tab. The
// browser is closed, and the console checked, when the test ends. Each test
// has its own browser. Measured with -race on 2 cores: a browser of its own
// starts in 1.0–1.5 s, a new tab in a shared one opens in 0.5–1 s; the few
// seconds a shared browser would save over this file do not pay for tests
// that share cookies, cache and a crash, or for a browser that must outlive
// every test and still be closed before goleak looks.
func newBrowserPage(t *testing.T) *browserPage {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // we run as root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	p := &browserPage{t: t}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(p.listen))
	t.Cleanup(func() {
		if err := chromedp.Cancel(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing chromium: %v", err)
		}
		cancel()
		cancelAlloc() // waits for the browser process to exit
		p.check()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	p.ctx = ctx
	return p
}

// listen records what the console and the browser log say. It runs on
// chromedp's reading goroutine: it must be fast and must not call t.
func (p *browserPage) listen(ev any) {
	var problem, line string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "uncaught exception: " + describeException(ev.ExceptionDetails)
	case *runtime.EventConsoleAPICalled:
		line = fmt.Sprintf("console.%s: %s", ev.Type, describeConsoleArgs(ev.Args))
		if isCSPMessage(line) {
			problem = "CSP violation: " + line
		}
	case *log.EventEntryAdded:
		e := ev.Entry
		line = fmt.Sprintf("log %s/%s: %s (%s)", e.Source, e.Level, e.Text, e.URL)
		if e.Source == log.EntrySourceSecurity || isCSPMessage(e.Text) {
			problem = "CSP violation: " + line
		}
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if problem != "" {
		p.problems = append(p.problems, problem)
	} else {
		p.console = append(p.console, line)
	}
}

func isCSPMessage(s string) bool {
	return strings.Contains(s, "Content Security Policy") || strings.Contains(s, "Content-Security-Policy")
}

func describeException(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s at %s:%d:%d", s, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

func describeConsoleArgs(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.Description != "":
			parts = append(parts, a.Description)
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// takeProblems returns the problems seen so far and forgets them.
func (p *browserPage) takeProblems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.problems
	p.problems = nil
	return out
}

// check fails the test for every exception or CSP violation the page had, and
// logs the rest of the console (shown when the test fails or with -v).
func (p *browserPage) check() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.console {
		p.t.Log(l)
	}
	for _, pr := range p.problems {
		p.t.Errorf("browser: %s", pr)
	}
}

// browserHelpersJS finds things the way a person does: by the text of labels and
// headings, by roles and accessible names. Every expression that the tests
// evaluate sees these functions.
const browserHelpersJS = `
const norm = s => (s || '').replace(/\s+/g, ' ').trim();
const text = el => el ? norm(el.textContent) : null;
// The connection indicator: the status element in the page's banner.
const indicator = () => document.querySelector('header [role="status"], [role="banner"] [role="status"]');
// A labelled region (section) by the text of the heading that names it.
const region = name => [...document.querySelectorAll('section[aria-labelledby], [role="region"][aria-labelledby]')]
	.find(s => { const h = document.getElementById(s.getAttribute('aria-labelledby')); return h && norm(h.textContent) === name; }) || null;
const regionStarting = prefix => [...document.querySelectorAll('section[aria-labelledby]')]
	.find(s => { const h = document.getElementById(s.getAttribute('aria-labelledby')); return h && norm(h.textContent).startsWith(prefix); }) || null;
// A list by its accessible name (aria-label).
const list = name => [...document.querySelectorAll('ol, ul, [role="list"]')].find(l => l.getAttribute('aria-label') === name) || null;
// The card (a <dt> label and its <dd> figure) whose label reads label.
const card = (label, within) => { const dt = [...(within || document).querySelectorAll('dt')].find(d => norm(d.textContent) === label); return dt ? dt.parentElement : null; };
const figure = (label, within) => { const c = card(label, within); return c ? text(c.querySelector('dd')) : null; };
// The items of the activity feed, top first: their text, link and DOM id.
const feed = () => { const l = list('Activity feed'); return l ? [...l.children].filter(li => li.matches('li')).map(li => {
	const t = li.querySelector('a, span'); const a = li.querySelector('a[href]');
	return {text: text(t), href: a ? a.href : '', id: li.id, visible: li.checkVisibility({opacityProperty: true, visibilityProperty: true})}; }) : null; };
const visible = el => !!el && el.checkVisibility({opacityProperty: true, visibilityProperty: true});
// The page's notices about the stream: the status region that is not the indicator.
const notice = () => [...document.querySelectorAll('[role="status"]')].find(e => e !== indicator()) || null;
`

// clipColours takes a screenshot of clip, a region of the page in CSS
// pixels, and counts its colours (see colours): something painted on a
// background has two at least, an empty region one.
func clipColours(ctx context.Context, tg *chromedp.Target, clip page.Viewport) (int, error) {
	clip.Scale = 1
	res, err := cdp.Call(ctx, tg, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng, Clip: &clip})
	if err != nil {
		return 0, err
	}
	img, err := png.Decode(bytes.NewReader(res.Data))
	if err != nil {
		return 0, err
	}
	return colours(img), nil
}

// colours counts the distinct colours of img, up to 16.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= 16 {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// jsValue is v as a JavaScript literal.
func jsValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// jsWrap puts the helpers in scope of expr and returns expr's value as JSON.
func jsWrap(expr string) string {
	return "(() => {" + browserHelpersJS + "\nreturn JSON.stringify((" + expr + ") ?? null);\n})()"
}

// eval evaluates expr in the page (helpers in scope) and decodes its value
// into out.
func (p *browserPage) eval(expr string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsWrap(expr)))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res), out); err != nil {
			p.t.Fatalf("evaluate %s: decode %s: %v", expr, res, err)
		}
	}
}

// waitFor waits until the JavaScript expression cond (helpers in scope) is
// truthy and decodes its value into out (unless out is nil). The page checks
// it on every DOM change and every 100 ms. If it does not hold within
// browserWait, or the page navigates away meanwhile, the test fails with what
// and a summary of the page.
func (p *browserPage) waitFor(what, cond string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	expr := `new Promise(resolve => {
	const cond = () => { try { return (() => {` + browserHelpersJS + `
		return (` + cond + `);
	})(); } catch (e) { return undefined; } };
	let done = false;
	const check = () => {
		if (done) return;
		const v = cond();
		if (!v) return;
		done = true;
		obs.disconnect();
		clearInterval(timer);
		resolve(JSON.stringify(v));
	};
	const obs = new MutationObserver(check);
	const timer = setInterval(check, 100);
	obs.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
	check();
})`
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	for err != nil && navigatedAway(err) && ctx.Err() == nil {
		// The page the promise waited in was left (a link, a redirect):
		// the condition is for the page that replaced it, so wait there.
		res, err = chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	}
	if err != nil {
		p.t.Fatalf("waiting for %s: %v\nthe page now: %s", what, err, p.summary())
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res), out); err != nil {
			p.t.Fatalf("waiting for %s: decode %s: %v", what, res, err)
		}
	}
}

// navigatedAway reports whether err says that the document a script ran in
// was replaced by a navigation before the script's promise settled.
func navigatedAway(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Inspected target navigated or closed") ||
		strings.Contains(msg, "Execution context was destroyed") ||
		strings.Contains(msg, "Cannot find context with specified id")
}

// summary describes the page for a failure message.
func (p *browserPage) summary() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](jsWrap(`({
		url: location.href,
		title: document.title,
		indicator: indicator() && {state: indicator().dataset.state, text: text(indicator())},
		notice: text(notice()),
		measured: (r => text(r && [...r.querySelectorAll('p')].find(p => text(p).startsWith('Measured at'))))(region('Server') || region('Metrics')),
		feed: feed(),
		marker: window.__marker,
		// How far the live connection got: processed by htmx, opened by hx-sse.
		live: (el => el && {htmx: !!el._htmx, sse: !!(el._htmx && el._htmx.sse)})(document.getElementById(`+jsValue(views.IDLive)+`)),
		requests: performance.getEntriesByType('resource').map(e => e.name.replace(location.origin, '') + ' @' + Math.round(e.startTime) + '-' + Math.round(e.responseEnd) + 'ms'),
	})`)))
	if err != nil {
		return fmt.Sprintf("(could not read the page: %v)", err)
	}
	return res
}

// open loads url and waits until the page's connection indicator says Live.
func (p *browserPage) open(url string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		p.t.Fatalf("open %s: %v", url, err)
	}
	p.waitLive()
}

// waitLive waits until the indicator reads "Live".
func (p *browserPage) waitLive() {
	p.t.Helper()
	p.waitFor(`the indicator to read "Live"`,
		`indicator() && indicator().dataset.state === 'live' && text(indicator()) === 'Live'`, nil)
}

// setMarker sets a value on window that only survives as long as the page:
// a reload would drop it.
func (p *browserPage) setMarker() { p.eval(`window.__marker = 1`, nil) }

// checkMarker fails the test if the page was reloaded since setMarker.
func (p *browserPage) checkMarker() {
	p.t.Helper()
	var marker *int
	p.eval(`window.__marker`, &marker)
	if marker == nil || *marker != 1 {
		p.t.Errorf("window.__marker = %v: the page was reloaded; live updates must not reload it", marker)
	}
}

// browserPost sends an ingest request from Go, as a script would, and fails the
// test unless it is accepted with 201.
func browserPost(t *testing.T, in *instance, path, contentType, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var answer bytes.Buffer
	answer.ReadFrom(resp.Body) //nolint:errcheck // only shown on failure
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s %s: %s %s", path, body, resp.Status, answer.String())
	}
}

func browserPostMetric(t *testing.T, in *instance, name, value, unit string) {
	t.Helper()
	form := url.Values{"name": {name}, "value": {value}, "unit": {unit}}
	browserPost(t, in, "/api/metrics", "application/x-www-form-urlencoded", form.Encode())
}

func browserPostActivity(t *testing.T, in *instance, text, link string) {
	t.Helper()
	body := map[string]string{"text": text}
	if link != "" {
		body["link"] = link
	}
	browserPost(t, in, "/api/activity", "application/json", jsValue(body))
}

// browserFeedItem is one item of the activity feed as the page shows it.
type browserFeedItem struct {
	Text    string `json:"text"`
	Href    string `json:"href"`
	ID      string `json:"id"`
	Visible bool   `json:"visible"`
}

func TestBrowserDashboardLoads(t *testing.T) {
	in := startForBrowser(t)
	// The first account is the admin: its dashboard has the server panel.
	admin := newChatTab(t, newBrowserPage(t), "the admin")
	signUpInBrowser(admin, in, "ann", "password-of-ann")
	p := admin.browserPage

	var title string
	p.eval(`document.title`, &title)
	if !strings.Contains(title, "Dashboard") {
		t.Errorf("title = %q, want it to contain Dashboard", title)
	}
	var heading string
	p.eval(`text(document.querySelector('h1'))`, &heading)
	if heading != "Dashboard" {
		t.Errorf("the page's heading reads %q, want Dashboard", heading)
	}

	// The metrics panel: the region named "Server" with the server's cards
	// (an admin's; everyone else's is named "Metrics" and has none).
	var cards map[string]string
	p.eval(`region('Server') && Object.fromEntries(['Live connections', 'Active users', 'Requests/min',
		'Response time p50', 'Response time p95', 'Log events/s', 'Goroutines', 'Memory'].map(l => [l, figure(l, region('Server'))]))`, &cards)
	if cards == nil {
		t.Fatalf("no region named Server (the metrics panel); the page: %s", p.summary())
	}
	for label, fig := range cards {
		if fig == "" {
			t.Errorf("the metrics panel has no card %q with a figure", label)
		}
	}
	// The page's own live connection is counted once the panel refreshes.
	var conns string
	p.waitFor(`"Live connections" to count this page`,
		`(() => { const f = figure('Live connections', region('Server')); return f && parseInt(f.replace(/,/g, ''), 10) >= 1 && f; })()`, &conns)

	// The chart: a region whose heading names its range, with one image
	// (an svg with role=img, named by its title) per series.
	var chart struct {
		Heading string   `json:"heading"`
		Labels  []string `json:"labels"`
	}
	p.eval(`(() => { const r = regionStarting('Last '); return r && {
		heading: text(document.getElementById(r.getAttribute('aria-labelledby'))),
		labels: [...r.querySelectorAll('svg[role="img"]')].map(s => text(s.querySelector(':scope > title'))) }; })()`, &chart)
	if chart.Heading != "Last 5 minutes" {
		t.Errorf("chart heading = %q, want Last 5 minutes", chart.Heading)
	}
	if len(chart.Labels) == 0 {
		t.Errorf("the chart has no svg with role=img")
	}
	for _, l := range chart.Labels {
		if !strings.HasSuffix(l, ", last 5 minutes") {
			t.Errorf("chart image has accessible name %q, want it to say what it shows", l)
		}
	}

	// The activity feed: an empty list with its accessible name, and the
	// empty state visible.
	var feed struct {
		Found     bool   `json:"found"`
		Items     int    `json:"items"`
		Live      string `json:"live"`
		EmptyText bool   `json:"emptyText"`
	}
	p.eval(`(() => { const l = list('Activity feed'); const empty = [...document.querySelectorAll('p')].find(p => text(p) === 'No activity yet.');
		return {found: !!l, items: l ? l.querySelectorAll('li').length : -1, live: l && l.getAttribute('aria-live'), emptyText: visible(empty)}; })()`, &feed)
	if !feed.Found {
		t.Fatalf("no list named Activity feed; the page: %s", p.summary())
	}
	if feed.Items != 0 || !feed.EmptyText {
		t.Errorf("a new database's feed has %d items and shows \"No activity yet.\": %v; want 0 and true", feed.Items, feed.EmptyText)
	}
	if feed.Live != "polite" {
		t.Errorf("the feed's aria-live = %q, want polite", feed.Live)
	}

	var ind struct {
		ID, State, Text string
	}
	p.eval(`({id: indicator().id, state: indicator().dataset.state, text: text(indicator())})`, &ind)
	if ind.ID != views.IDIndicator || ind.State != "live" || ind.Text != "Live" {
		t.Errorf("indicator = %+v, want id %s, state live, text Live", ind, views.IDIndicator)
	}
}

// TestBrowserConnectsWhenScriptsLoadLate loads the dashboard with one of its
// scripts held back, as a slow network can deliver it, until the moment it
// would do harm if the page relied on download order: the page must still go
// live. (With deferred scripts, htmx 4 starts on a timer right after its own
// script runs: a late hx-sse left the page "Connecting…" for ever, in about
// one load out of fifty here without any hold.)
func TestBrowserConnectsWhenScriptsLoadLate(t *testing.T) {
	for _, tc := range []struct {
		script string // the file held back
		until  string // the harmful moment to release it at, in the page
	}{
		{"hx-sse.min.js", `window.__htmxStarted && 'htmx processed the page before its extension arrived'`},
		{"beacon.js", `(el => el && el._htmx && el._htmx.sse && 'the live connection opened before beacon.js arrived')(document.getElementById(` + jsValue(views.IDLive) + `))`},
		// tabs.js takes the connection from hx-sse before htmx starts it.
		{"tabs.js", `(el => el && el._htmx && el._htmx.sse && 'hx-sse opened a connection of its own before tabs.js arrived')(document.getElementById(` + jsValue(views.IDLive) + `))`},
	} {
		t.Run(tc.script, func(t *testing.T) {
			in := startForBrowser(t)
			p := newBrowserPage(t)
			p.holdScriptUntil(in.URL+"/", tc.script, tc.until)
			p.waitLive()
		})
	}
}

// holdScriptUntil navigates to url with every request for script held back
// until the page's expression until holds, or it is clear that no such moment
// will come: htmx is waiting for the document to be parsed (scripts that run
// in order), or the page loaded without asking for script.
func (p *browserPage) holdScriptUntil(url, script, until string) {
	t := p.t
	t.Helper()
	// Note when htmx has processed the body, before any script of the page runs.
	err := chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `document.addEventListener('htmx:after:process', e => { if (e.target === document.body) window.__htmxStarted = true; });`,
		})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{
			Patterns: []*fetch.RequestPattern{{URLPattern: "*/" + script + "*", RequestStage: fetch.RequestStageRequest}},
		})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}

	// Requests for script wait for release; the handler lives as long as the test.
	release := make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	var held sync.WaitGroup
	evCtx, stopEvents := context.WithCancel(p.ctx)
	paused := chromedp.Events(evCtx, fetch.RequestPaused)
	held.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			select {
			case <-release:
			case <-evCtx.Done():
				return
			}
			chromedp.Do(evCtx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error { //nolint:errcheck // the page shows what failed
				_, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				return err
			}))
		}
	})
	t.Cleanup(func() {
		releaseAll()
		stopEvents()
		held.Wait()
	})

	// Navigate without waiting for the load event: the held script delays it.
	err = chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.Navigate, page.NavigateParams{URL: url})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	var when string
	p.waitFor("the moment to release "+script, `(`+until+`) ||
		(window.htmx && document.readyState === 'loading' && 'htmx waits for the document to be parsed') ||
		(document.readyState === 'complete' && 'the page loaded')`, &when)
	t.Logf("released %s when %s", script, when)
	releaseAll()
}

func TestBrowserMetricsUpdateLive(t *testing.T) {
	in := startForBrowser(t)
	p := newBrowserPage(t)
	p.open(in.URL + "/")
	p.setMarker()

	// "Measured at 10:00:01" in the metrics panel changes every second; each
	// change arrives as a new panel over SSE.
	const measured = `(() => { const r = region('Metrics'); const m = r && [...r.querySelectorAll('p')].find(p => text(p).startsWith('Measured at '));
		return m ? text(m) : ''; })()`
	var first string
	p.waitFor("the metrics panel to say when it was measured", measured, &first)
	seen := []string{first}
	for len(seen) < 3 {
		var next string
		prev := seen[len(seen)-1]
		p.waitFor(fmt.Sprintf("the metrics panel to change from %q", prev),
			`(() => { const v = `+measured+`; return v !== '' && v !== `+jsValue(prev)+` && v; })()`, &next)
		seen = append(seen, next)
	}
	t.Logf("the metrics panel said: %q", seen)
	p.checkMarker()
}

func TestBrowserPostedMetricAppears(t *testing.T) {
	in := startForBrowser(t)
	p := newBrowserPage(t)
	p.open(in.URL + "/")
	p.setMarker()

	var hint bool
	p.eval(`[...region('Metrics').querySelectorAll('p')].some(p => text(p) === 'POST /api/metrics to add one.')`, &hint)
	if !hint {
		t.Errorf("before any metric is posted the panel should say how to add one")
	}

	browserPostMetric(t, in, "queue depth", "42", "jobs")
	var fig string
	p.waitFor(`a card "queue depth" showing 42 jobs`,
		`(() => { const f = figure('queue depth', region('Metrics')); return f && f.startsWith('42 jobs') && f; })()`, &fig)

	var series struct {
		Name  string `json:"name"`
		Label string `json:"label"`
		Last  string `json:"last"`
	}
	p.waitFor(`a chart series "queue depth" with an image`,
		`(() => { const s = regionStarting('Last ') && regionStarting('Last ').querySelector('[data-series="queue depth"]');
		const svg = s && s.querySelector('svg[role="img"]');
		return svg && {name: text(s.querySelector('.series-name')), label: text(svg.querySelector(':scope > desc')),
			last: text(s.querySelector('.series-stats dd'))}; })()`, &series)
	if series.Name != "queue depth" || !strings.HasPrefix(series.Label, "Last 42 jobs, min 42 jobs, max 42 jobs") || series.Last != "42 jobs" {
		t.Errorf("series = %+v, want its name, an image described \"Last 42 jobs, min 42 jobs, max 42 jobs…\" and the value 42 jobs", series)
	}

	// A second value replaces the card's figure; the chart keeps the peak.
	browserPostMetric(t, in, "queue depth", "17", "jobs")
	p.waitFor(`the card "queue depth" to show 17 jobs`,
		`(() => { const f = figure('queue depth', region('Metrics')); return f && f.startsWith('17 jobs'); })()`, nil)
	p.waitFor(`the chart to say "Last 17 jobs, min 17 jobs, max 42 jobs"`,
		`(() => { const svg = document.querySelector('[data-series="queue depth"] svg[role="img"]');
		return svg && text(svg.querySelector(':scope > desc')).startsWith('Last 17 jobs, min 17 jobs, max 42 jobs'); })()`, nil)
	p.checkMarker()
}

func TestBrowserActivityAppears(t *testing.T) {
	in := startForBrowser(t)
	p := newBrowserPage(t)
	p.open(in.URL + "/")
	p.setMarker()

	browserPostActivity(t, in, "Deployed v1.2.3", "https://example.com/release")
	var items []browserFeedItem
	p.waitFor(`"Deployed v1.2.3" in the activity feed, visible`,
		`(() => { const f = feed(); return f && f.length === 1 && f[0].visible && f; })()`, &items)
	if got := items[0]; got.Text != "Deployed v1.2.3" || got.Href != "https://example.com/release" {
		t.Errorf("feed item = %+v, want the text Deployed v1.2.3 as a link to https://example.com/release", got)
	}
	var emptyShown bool
	p.eval(`visible([...document.querySelectorAll('p')].find(p => text(p) === 'No activity yet.'))`, &emptyShown)
	if emptyShown {
		t.Errorf(`"No activity yet." is still shown after an item arrived`)
	}

	// Markup in the text is text: it shows as typed and never runs.
	script := `<script>window.__pwned=1</script>`
	img := `<img src=x onerror="window.__pwned=1">`
	browserPostActivity(t, in, script, "")
	browserPostActivity(t, in, img, "")
	p.waitFor(`both markup items in the feed`,
		`(() => { const f = feed(); return f && f.length === 3 && f; })()`, &items)
	want := []string{img, script, "Deployed v1.2.3"} // newest on top
	for i, w := range want {
		if items[i].Text != w {
			t.Errorf("feed item %d reads %q, want %q (all: %+v)", i, items[i].Text, w, items)
		}
	}
	if items[0].Href != "" || items[1].Href != "" {
		t.Errorf("items posted without a link are links: %+v", items[:2])
	}
	var injected struct {
		Elements int  `json:"elements"`
		Pwned    bool `json:"pwned"`
	}
	p.eval(`({elements: list('Activity feed').querySelectorAll('script, img, [onerror]').length,
		pwned: typeof window.__pwned !== 'undefined'})`, &injected)
	if injected.Elements != 0 {
		t.Errorf("the feed holds %d script/img elements made from posted text", injected.Elements)
	}
	if injected.Pwned {
		t.Errorf("posted text ran as script: window.__pwned is set")
	}
	p.checkMarker()
}

func TestBrowserReconnectAndCatchUp(t *testing.T) {
	in := startForBrowser(t)
	p := newBrowserPage(t)
	p.open(in.URL + "/")
	p.setMarker()

	// One item seen live before the outage: it must not come back twice.
	browserPostActivity(t, in, "Before the restart", "")
	p.waitFor(`"Before the restart" in the feed`,
		`(() => { const f = feed(); return f && f.length === 1 && f[0].text === 'Before the restart'; })()`, nil)

	in.Stop(t)
	p.waitFor(`the indicator to read "Reconnecting…"`,
		`indicator().dataset.state === 'reconnecting' && text(indicator()) === 'Reconnecting…'`, nil)

	// Activity written while Beacon is down, straight into its database.
	ctx := context.Background()
	store, err := db.Open(ctx, in.DB, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"Missed while down 1", "Missed while down 2"} {
		if _, err := store.AddActivity(ctx, text, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	var stillReconnecting string
	p.eval(`indicator().dataset.state`, &stillReconnecting)
	if stillReconnecting != "reconnecting" {
		t.Errorf("with the server down the indicator's state is %q, want reconnecting", stillReconnecting)
	}

	in2 := start(t, in.DB, in.Addr, "--tick", browserTick)
	p.waitLive()
	p.waitFor(`both missed items in the feed`,
		`(() => { const f = feed(); return f && f.some(i => i.text === 'Missed while down 2') && f.some(i => i.text === 'Missed while down 1'); })()`, nil)

	// An item posted now arrives after anything the replay could still
	// send, so once it shows, the feed is complete.
	browserPostActivity(t, in2, "After the restart", "")
	var items []browserFeedItem
	p.waitFor(`"After the restart" in the feed`,
		`(() => { const f = feed(); return f && f.some(i => i.text === 'After the restart') && f; })()`, &items)
	var got []string
	for _, it := range items {
		got = append(got, it.Text)
	}
	want := []string{"After the restart", "Missed while down 2", "Missed while down 1", "Before the restart"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("feed after the restart, top first:\n%q\nwant each item once, newest on top:\n%q", got, want)
	}
	var notice string
	p.eval(`text(notice())`, &notice)
	if notice != "" {
		t.Errorf("after a short restart the page says %q; want a quiet replay of what it missed, not a resync", notice)
	}
	p.checkMarker()
}

// TestBrowserCSPBlocksInlineCode proves two things the other tests rely on:
// the server's CSP is enforced (code injected into the page does not run),
// and the console watcher sees the violation.
func TestBrowserCSPBlocksInlineCode(t *testing.T) {
	in := startForBrowser(t)
	p := newBrowserPage(t)
	p.open(in.URL + "/")

	p.eval(`(() => {
		document.addEventListener('securitypolicyviolation', e => { window.__violated = e.effectiveDirective; });
		const s = document.createElement('script');
		s.textContent = 'window.__inline = 1';
		document.body.append(s);
		return true;
	})()`, nil)
	var directive string
	p.waitFor("a securitypolicyviolation event", `window.__violated`, &directive)
	if directive != "script-src-elem" {
		t.Errorf("the inline script violated %q, want script-src-elem", directive)
	}
	var ran bool
	p.eval(`typeof window.__inline !== 'undefined'`, &ran)
	if ran {
		t.Errorf("an inline script ran: the Content-Security-Policy is not enforced")
	}
	// The browser log reports the violation too, at about the same time:
	// round trips to the page let it arrive.
	var problems []string
	for deadline := time.Now().Add(browserWait); len(problems) == 0 && time.Now().Before(deadline); {
		p.eval(`true`, nil)
		problems = p.takeProblems()
	}
	if len(problems) == 0 {
		t.Fatalf("the console watcher saw no CSP violation for an inline script")
	}
	for _, pr := range problems {
		t.Logf("the watcher saw: %s", pr)
		if !strings.Contains(pr, "CSP violation") || !strings.Contains(pr, "script-src") {
			t.Errorf("unexpected problem: %s", pr)
		}
	}
}

// sendKeys types text into the first node sel finds, as chromedp.SendKeys
// does (focus it, then one key event per key), without SendKeys' read of
// the node's attributes outside the node's lock: chromedp v0.23.0 reads
// them unlocked while its DOM event loop writes them, and the race
// detector failed a test in CI when htmx changed a field's attributes as
// the test typed into it.
func sendKeys[S chromedp.Selectable](sel S, text string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Focus(sel), chromedp.KeyEvent(text))
}
