package main

// Browser tests of embeddable widgets: a page served from a second origin
// (another port on 127.0.0.1, with no policy of its own) embeds Beacon's
// widgets in iframes, as a customer's site would. The widgets are
// cross-origin, so the host page's script cannot look inside them; the
// tests read each frame through DevTools instead, in an isolated world of
// that frame (found by the iframe's name), and find what people see by
// text and label.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/beacon-live/beacon/widget"
)

// hostSite is a customer's site: one page, served from an origin of its
// own, that embeds frames. The page also holds a <noscript> marker, which
// is an element only when the tab runs no script.
type hostSite struct {
	*httptest.Server
	mu   sync.Mutex
	page string // guarded by mu
}

func newHostSite(t *testing.T) *hostSite {
	t.Helper()
	h := &hostSite{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		page := h.page
		h.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page)) //nolint:errcheck // the browser sees what failed
	}))
	t.Cleanup(h.Close)
	return h
}

// embed sets the page to one that frames each src under its name. The
// tokens in the srcs need the site's origin, hence the two steps.
func (h *hostSite) embed(frames [][2]string) {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html><html><head><title>Host</title></head><body><noscript><p id=\"nojs\">no script</p></noscript>")
	for _, f := range frames {
		fmt.Fprintf(&b, `<iframe name=%q src=%q title=%q width="600" height="400"></iframe>`, f[0], f[1], f[0])
	}
	b.WriteString("</body></html>")
	h.mu.Lock()
	h.page = b.String()
	h.mu.Unlock()
}

// frameState is a child frame as DevTools sees it.
type frameState struct {
	ID          cdp.FrameID
	URL         string
	Unreachable string // set when the frame could not be loaded (a refusal to be framed, too)
}

// frame returns the state of the child frame named name, if it exists yet.
func (p *browserPage) frame(name string) (frameState, bool) {
	p.t.Helper()
	var tree *page.FrameTree
	err := chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		res, err := cdp.Call(ctx, tg, page.GetFrameTree, cdp.Empty{})
		tree = res.FrameTree
		return err
	}))
	if err != nil {
		p.t.Fatalf("frame tree: %v", err)
	}
	for _, c := range tree.ChildFrames {
		if c.Frame.Name == name {
			return frameState{ID: c.Frame.ID, URL: c.Frame.URL, Unreachable: c.Frame.UnreachableURL}, true
		}
	}
	return frameState{}, false
}

// frameEval evaluates expr (helpers in scope) in an isolated world of the
// frame named name and decodes its JSON value into out. ok is false when the
// frame is not there or is between documents.
func (p *browserPage) frameEval(name, expr string, out any) bool {
	p.t.Helper()
	f, found := p.frame(name)
	if !found || f.Unreachable != "" {
		return false
	}
	var res string
	err := chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		world, err := cdp.Call(ctx, tg, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: f.ID, WorldName: "beacon-test"})
		if err != nil {
			return err
		}
		byValue := true
		v, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{
			Expression: jsWrap(expr), ContextID: world.ExecutionContextID, ReturnByValue: &byValue,
		})
		if err != nil {
			return err
		}
		if v.ExceptionDetails != nil {
			return fmt.Errorf("%s", describeException(v.ExceptionDetails))
		}
		return json.Unmarshal(v.Result.Value, &res)
	}))
	if err != nil {
		return false // a navigation replaced the world: try again
	}
	truthy := res != "null" && res != "false" && res != `""` && res != "0"
	if truthy && out != nil {
		if err := json.Unmarshal([]byte(res), out); err != nil {
			p.t.Fatalf("frame %s: decode %s: %v", name, res, err)
		}
	}
	return truthy
}

// waitInFrame waits until expr is truthy in the frame named name. Nothing
// in the frame can announce itself to a test outside it, so this polls;
// the interval only paces the polling.
func (p *browserPage) waitInFrame(name, what, expr string, out any) {
	p.t.Helper()
	deadline := time.Now().Add(browserWait)
	for !p.frameEval(name, expr, out) {
		if time.Now().After(deadline) {
			var text string
			p.frameEval(name, `document.body ? norm(document.body.innerText).slice(0, 500) : 'no body'`, &text)
			f, _ := p.frame(name)
			p.t.Fatalf("waiting for %s in frame %s: not within %v; the frame (%+v) shows: %q", what, name, browserWait, f, text)
		}
		time.Sleep(50 * time.Millisecond) // pacing only
	}
}

// measuredIn is the "Measured at …" line of the metrics widget (the posted
// metrics: a widget never shows the server's own figures).
const measuredIn = `(() => { const r = region('Metrics'); const m = r && [...r.querySelectorAll('p')].find(p => text(p).startsWith('Measured at '));
	return m ? text(m) : ''; })()`

func TestBrowserEmbeddedWidgetsGoLive(t *testing.T) {
	in := startEmbed(t)
	host := newHostSite(t)
	metrics := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{host.URL}})
	room := sign(t, in, widget.Claims{Widget: widget.Room, Room: "lobby", Post: true, Origins: []string{host.URL}})
	host.embed([][2]string{
		{"metrics", in.URL + "/embed/metrics?token=" + url.QueryEscape(metrics)},
		{"room", in.URL + "/embed/rooms/lobby?token=" + url.QueryEscape(room) + "&theme=dark"},
	})

	p := newBrowserPage(t)
	if err := chromedp.Do(p.ctx, chromedp.Navigate(host.URL)); err != nil {
		t.Fatal(err)
	}
	// The metrics widget changes on its own: each change is a panel pushed
	// over the widget's SSE connection.
	var first, next string
	p.waitInFrame("metrics", "the metrics widget to say when it was measured", measuredIn, &first)
	p.waitInFrame("metrics", "the metrics widget to update", `(() => { const v = `+measuredIn+`; return v !== '' && v !== `+jsValue(first)+` && v; })()`, &next)
	t.Logf("the embedded metrics said %q, then %q", first, next)

	// A message sent in the room (by a program on its WebSocket) appears in
	// the embedded room.
	p.waitInFrame("room", "the room widget's connection", `document.getElementById('live') && document.getElementById('live')._htmx !== undefined || document.querySelector('[hx-sse\\:connect]')`, nil)
	var theme string
	p.frameEval("room", `document.documentElement.dataset.theme`, &theme)
	if theme != "dark" {
		t.Errorf("?theme=dark: the widget's theme is %q", theme)
	}
	bob := rbDialJSON(t, in, "lobby", "bob")
	// The widget may connect after bob's message: it resumes from the
	// position its page was rendered at, so the message arrives either way.
	bob.say("hello embedded world")
	p.waitInFrame("room", `"hello embedded world" in the embedded room`,
		`[...(list('Messages') || {children: []}).children].some(li => text(li).includes('hello embedded world'))`, nil)

	// A visitor of the host site posts from the widget, as a guest.
	p.frameEval("room", `(() => {
		const field = label => { const l = [...document.querySelectorAll('label')].find(l => norm(l.textContent) === label); return l ? l.control : null; };
		field('Your name').value = 'Ann';
		field('Message').value = 'hi from the host site';
		document.getElementById('widget-post').requestSubmit();
		return true; })()`, nil)
	p.waitInFrame("room", "the widget's own message in its list",
		`[...list('Messages').children].some(li => text(li).startsWith('Ann guest') && li.querySelector('.guest') && text(li).includes('hi from the host site'))`, nil)
	var kept struct {
		Name    string `json:"name"`
		Message string `json:"message"`
	}
	p.waitInFrame("room", "the form emptied, the name kept",
		`(f => f && f.querySelector('[name=content]').value === '' && {name: f.querySelector('[name=name]').value, message: f.querySelector('[name=content]').value})(document.getElementById('widget-post'))`, &kept)
	if kept.Name != "Ann" {
		t.Errorf("after sending, the name field holds %q, want Ann kept", kept.Name)
	}
}

func TestBrowserStreamWithoutJavaScript(t *testing.T) {
	in := startEmbed(t)
	host := newHostSite(t)
	metrics := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{host.URL}})
	host.embed([][2]string{{"stream", in.URL + "/stream/metrics?token=" + url.QueryEscape(metrics)}})

	p := newBrowserPage(t)
	// A tab of its own with script turned off, before anything loads.
	tab, cancel := chromedp.NewContext(p.ctx)
	defer cancel()
	noScript := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})
	// Navigate without waiting for the load event: a page that frames a
	// stream loads for as long as the stream lasts.
	navigate := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.Navigate, page.NavigateParams{URL: host.URL})
		return err
	})
	if err := chromedp.Do(tab, noScript, navigate); err != nil {
		t.Fatal(err)
	}
	// DOM reads need no script in the page.
	outer := func() string {
		var html string
		err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			depth, pierce := int64(-1), true
			doc, err := cdp.Call(ctx, tg, dom.GetDocument, dom.GetDocumentParams{Depth: &depth, Pierce: &pierce})
			if err != nil {
				return err
			}
			out, err := cdp.Call(ctx, tg, dom.GetOuterHTML, dom.GetOuterHTMLParams{NodeID: doc.Root.NodeID})
			html = out.OuterHTML
			if err != nil {
				return err
			}
			// An iframe's document is not in its element's markup: add it.
			var inner func(n *cdp.Node) error
			inner = func(n *cdp.Node) error {
				if n.ContentDocument != nil {
					out, err := cdp.Call(ctx, tg, dom.GetOuterHTML, dom.GetOuterHTMLParams{NodeID: n.ContentDocument.NodeID})
					if err != nil {
						return err
					}
					html += "\n" + out.OuterHTML
				}
				for _, c := range n.Children {
					if err := inner(c); err != nil {
						return err
					}
				}
				return nil
			}
			return inner(doc.Root)
		}))
		if err != nil {
			return "" // the document changed under the read: read again
		}
		return html
	}
	frameCount := func() int { return strings.Count(outer(), `<div class="frame">`) }
	deadline := time.Now().Add(browserWait)
	for !strings.Contains(outer(), "<iframe") {
		if time.Now().After(deadline) {
			t.Fatalf("the host page did not load")
		}
		time.Sleep(50 * time.Millisecond) // pacing only
	}
	if !strings.Contains(outer(), `<p id="nojs">`) {
		t.Fatalf("script still runs in the tab: the <noscript> marker is not an element")
	}
	start := 0
	for start = frameCount(); start == 0; start = frameCount() {
		if time.Now().After(deadline) {
			t.Fatalf("the streamed widget never showed a frame:\n%.2000s", outer())
		}
		time.Sleep(50 * time.Millisecond) // pacing only
	}
	for frameCount() < start+2 {
		if time.Now().After(deadline) {
			t.Fatalf("the streamed widget did not update (still %d frames)", frameCount())
		}
		time.Sleep(50 * time.Millisecond) // pacing only
	}
	// What a person sees: exactly one frame has a box, the newest, and it
	// is painted (its pixels are not all the background). Blink does not
	// match :last-of-type while the stream's body is still open, so a rule
	// built on it hid every frame.
	waitFor(t, browserWait, "the newest streamed frame to be painted", func() (bool, string) {
		return newestFramePainted(tab)
	})
	html := outer()
	if !strings.Contains(html, "Measured at") || strings.Contains(html, "/embed/live") {
		t.Errorf("the streamed widget should show the metrics and open no SSE connection")
	}
	t.Logf("with script off, the streamed metrics widget went from %d to %d frames", start, strings.Count(html, `<div class="frame">`))
}

func TestBrowserFramingRefusals(t *testing.T) {
	in := startEmbed(t)
	host := newHostSite(t)
	origin := host.URL
	ok := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{origin}})
	elsewhere := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{"http://127.0.0.1:1"}})
	expired := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{origin}, Expires: time.Now().Add(-time.Minute).Unix()})
	host.embed([][2]string{
		{"allowed", in.URL + "/embed/metrics?token=" + url.QueryEscape(ok)},
		{"other-origin", in.URL + "/embed/metrics?token=" + url.QueryEscape(elsewhere)},
		{"dashboard", in.URL + "/"},
		{"expired", in.URL + "/embed/metrics?token=" + url.QueryEscape(expired)},
	})
	p := newBrowserPage(t)
	if err := chromedp.Do(p.ctx, chromedp.Navigate(host.URL)); err != nil {
		t.Fatal(err)
	}
	p.waitInFrame("allowed", "the allowed widget", `region('Metrics') !== null`, nil)
	var shown string
	p.waitInFrame("expired", "the 401 page inside the frame", `(h => h && text(h))(document.querySelector('h1'))`, &shown)
	if !strings.HasPrefix(shown, "401") {
		t.Errorf("the expired token's frame shows %q, want the 401 page", shown)
	}
	for _, name := range []string{"other-origin", "dashboard"} {
		waitFor(t, browserWait, "frame "+name+" to be refused", func() (bool, string) {
			f, found := p.frame(name)
			if found && f.Unreachable != "" {
				t.Logf("frame %s refused: %s in place of %s", name, f.URL, f.Unreachable)
				return true, ""
			}
			return false, fmt.Sprintf("frame %+v", f)
		})
	}
	// The browser reports both refusals; they are what this test expects.
	for _, pr := range p.takeProblems() {
		if !strings.Contains(pr, "frame-ancestors") && !strings.Contains(pr, "X-Frame-Options") {
			t.Errorf("unexpected problem: %s", pr)
		} else {
			t.Logf("the browser said: %s", pr)
		}
	}
}

// newestFramePainted reports whether, in the first frame document of the
// tab, the newest .frame of a stream is the only one laid out, with a
// non-empty box, and whether its pixels in a screenshot hold more than one
// colour (text on a background). It needs no script in the page.
func newestFramePainted(tab context.Context) (bool, string) {
	why := ""
	err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		depth, pierce := int64(-1), true
		doc, err := cdp.Call(ctx, tg, dom.GetDocument, dom.GetDocumentParams{Depth: &depth, Pierce: &pierce})
		if err != nil {
			return err
		}
		var inner *cdp.Node
		var find func(n *cdp.Node)
		find = func(n *cdp.Node) {
			if inner == nil && n.ContentDocument != nil {
				inner = n.ContentDocument
			}
			for _, c := range n.Children {
				find(c)
			}
		}
		find(doc.Root)
		if inner == nil {
			why = "no framed document yet"
			return nil
		}
		found, err := cdp.Call(ctx, tg, dom.QuerySelectorAll, dom.QuerySelectorAllParams{NodeID: inner.NodeID, Selector: "body.stream > .frame"})
		if err != nil {
			return err
		}
		ids := found.NodeIDs
		if len(ids) < 2 {
			why = fmt.Sprintf("%d frames so far", len(ids))
			return nil
		}
		for i, id := range ids[:len(ids)-1] {
			if _, err := cdp.Call(ctx, tg, dom.GetBoxModel, dom.GetBoxModelParams{NodeID: id}); err == nil {
				why = fmt.Sprintf("frame %d of %d, not the newest, has a box: it is shown", i+1, len(ids))
				return nil
			}
		}
		box, err := cdp.Call(ctx, tg, dom.GetBoxModel, dom.GetBoxModelParams{NodeID: ids[len(ids)-1]})
		if err != nil {
			why = fmt.Sprintf("the newest of %d frames has no box (it is hidden): %v", len(ids), err)
			return nil
		}
		m := box.Model
		if m.Width == 0 || m.Height == 0 {
			why = fmt.Sprintf("the newest frame's box is %dx%d", m.Width, m.Height)
			return nil
		}
		n, err := clipColours(ctx, tg, page.Viewport{X: m.Border[0], Y: m.Border[1], Width: float64(m.Width), Height: float64(m.Height)})
		if err != nil {
			return err
		}
		if n < 2 {
			why = fmt.Sprintf("the newest frame's %dx%d box is painted in %d colour", m.Width, m.Height, n)
		}
		return nil
	}))
	if err != nil {
		return false, err.Error() // the document changed under the read: read again
	}
	return why == "", why
}
