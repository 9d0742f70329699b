package main

// Browser tests of the charts (issue 11, item 8): what is painted (axes,
// tick labels and a series inside its plot, each with a box on screen, in
// more than one colour), the value a column shows on hover, the ranges,
// a metric's own page going live, and an admin deleting a series while
// someone else's dashboard is open.

import (
	"context"
	"encoding/hex"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/widget"
)

// chartJS finds a series' figure and reads what it paints: the boxes on
// screen of its plot, its data area, its line, and its labelled ticks.
const chartJS = `
const seriesFigure = name => [...document.querySelectorAll('figure[data-series]')].find(f => f.dataset.series === name) || null;
const box = el => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
const chartOf = name => { const f = seriesFigure(name); if (!f) return null;
	const plot = f.querySelector('svg[role="img"]'), data = plot.querySelector('svg.data'), line = data.querySelector('path.line');
	const ticks = [...plot.querySelectorAll(':scope > text')].filter(t => visible(t)).map(t => ({text: text(t), box: box(t), left: t.getAttribute('x') === '4'}));
	const stats = Object.fromEntries([...f.querySelectorAll('.series-stats div')].map(d => [text(d.querySelector('dt')), text(d.querySelector('dd'))]));
	// The plot area is the nested svg's viewport (its own box on screen is
	// that of what it draws): its viewBox through its content's transform.
	const m = data.firstElementChild && data.firstElementChild.getScreenCTM(), vb = data.viewBox.baseVal;
	return {title: text(plot.querySelector(':scope > title')), desc: text(plot.querySelector(':scope > desc')),
		plot: box(plot), data: m && {x: m.e, y: m.f, w: vb.width * m.a, h: vb.height * m.d}, line: line && box(line), d: line && line.getAttribute('d'),
		values: ticks.filter(t => t.left), times: ticks.filter(t => !t.left), stats,
		grid: [...plot.querySelectorAll(':scope > line.grid')].filter(l => { const b = box(l); return b.w > 0 || b.h > 0; }).length,
		hovers: [...data.querySelectorAll('rect')].map(r => ({title: text(r.querySelector('title')), box: box(r)}))}; };
`

func cj(expr string) string { return "(() => {" + chartJS + "\nreturn (" + expr + ");\n})()" }

// browserBox is a box on screen.
type browserBox struct{ X, Y, W, H float64 }

func (b browserBox) inside(o browserBox) bool {
	return b.X >= o.X-1 && b.Y >= o.Y-1 && b.X+b.W <= o.X+o.W+1 && b.Y+b.H <= o.Y+o.H+1
}

// browserChart is what chartJS reads of a series' figure.
type browserChart struct {
	Title, Desc string
	Plot, Data  browserBox
	Line        *browserBox
	D           string
	Values      []chartTick
	Times       []chartTick
	Stats       map[string]string
	Grid        int
	Hovers      []struct {
		Title string
		Box   browserBox
	}
}

type chartTick struct {
	Text string
	Box  browserBox
}

func tickTexts(ticks []chartTick) string {
	var out []string
	for _, t := range ticks {
		out = append(out, t.Text)
	}
	return strings.Join(out, " ")
}

// seedQueue writes four minutes of "queue depth" (jobs), a sample every
// ten seconds, into a new database, as if a script had posted them; the
// server reloads them at start.
func seedQueue(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "beacon.db")
	store, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 24; i >= 1; i-- {
		v := 20 + 15*math.Sin(float64(i)/4)
		if err := store.AddSample(context.Background(), db.Sample{Name: "queue depth", Value: math.Round(v), Unit: "jobs", At: now.Add(-time.Duration(i) * 10 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// readChart waits for the figure of name and returns what it paints.
func (p *browserPage) readChart(name string) browserChart {
	p.t.Helper()
	var c browserChart
	p.waitFor(fmt.Sprintf("the chart of %q, drawn", name), cj(`(c => c && c.line && c.line.w > 0 && c)(chartOf(`+jsValue(name)+`))`), &c)
	return c
}

// source fetches path from the page, with its cookies, and returns the
// HTML the server sends for it.
func (p *browserPage) source(path string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(`+jsValue(path)+`).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("fetching %s: %v", path, err)
	}
	return html
}

// paintedColours counts the colours of a screenshot of box.
func (p *browserPage) paintedColours(b browserBox) int {
	p.t.Helper()
	var n int
	err := chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
		n, err = clipColours(ctx, tg, page.Viewport{X: b.X, Y: b.Y, Width: b.W, Height: b.H})
		return err
	}))
	if err != nil {
		p.t.Fatal(err)
	}
	return n
}

func TestBrowserChartIsReadable(t *testing.T) {
	in := start(t, seedQueue(t), "", "--tick", browserTick)
	p := newBrowserPage(t)
	p.open(in.URL + "/")
	c := p.readChart("queue depth")

	if c.Title != "queue depth, last 5 minutes" || !strings.HasPrefix(c.Desc, "Last ") || !strings.Contains(c.Desc, "min ") {
		t.Errorf("the chart's text alternative: title %q, desc %q", c.Title, c.Desc)
	}
	if c.Stats["last"] == "" || !strings.HasSuffix(c.Stats["min"], " jobs") || !strings.HasSuffix(c.Stats["max"], " jobs") {
		t.Errorf("min/max/last shown: %v", c.Stats)
	}
	// Value ticks at nice numbers, the unit on the top one; time ticks a
	// minute apart, and the zone. Each is painted with a box of its own.
	if len(c.Values) < 3 || !strings.HasSuffix(c.Values[len(c.Values)-1].Text, " jobs") || c.Values[0].Text != "0" {
		t.Errorf("value ticks %q, want several from 0, the top one with its unit", tickTexts(c.Values))
	}
	if len(c.Times) < 4 || c.Times[len(c.Times)-1].Text != "UTC" {
		t.Errorf("time ticks %q, want several and UTC", tickTexts(c.Times))
	}
	for _, tk := range append(c.Values, c.Times...) {
		if tk.Box.W == 0 || tk.Box.H == 0 || !tk.Box.inside(browserBox{c.Plot.X - 20, c.Plot.Y - 20, c.Plot.W + 40, c.Plot.H + 40}) {
			t.Errorf("tick %q is painted at %+v, the plot at %+v", tk.Text, tk.Box, c.Plot)
		}
	}
	for i := 1; i < len(c.Values); i++ {
		if c.Values[i].Box.Y >= c.Values[i-1].Box.Y {
			t.Errorf("value tick %q is not above %q", c.Values[i].Text, c.Values[i-1].Text)
		}
	}
	if c.Grid < 6 {
		t.Errorf("%d gridlines painted", c.Grid)
	}
	// The series: a line with a box of its own, inside the plot area, which
	// is inside the figure's image; the young series (four minutes of five)
	// does not reach the left edge.
	if c.Line.W < 20 || c.Line.H < 5 || !c.Line.inside(c.Data) || !c.Data.inside(c.Plot) {
		t.Errorf("the line's box %+v, the plot area %+v, the image %+v", *c.Line, c.Data, c.Plot)
	}
	if c.Line.X < c.Data.X+c.Data.W/20 {
		t.Errorf("four minutes of samples start at the left edge of five: line %+v in %+v", *c.Line, c.Data)
	}
	if n := p.paintedColours(c.Data); n < 2 {
		t.Errorf("the plot area is painted in %d colour", n)
	}
	// The band from each column's lowest to highest value is a filled
	// area, not two more lines beside the series'. (These samples make
	// none: one per column. The stylesheet's rules for one are checked on
	// a band put where the view puts it.)
	var band struct{ Fill, Stroke string }
	p.eval(cj(`(data => { const b = document.createElementNS('http://www.w3.org/2000/svg', 'path'); b.setAttribute('class', 'band');
		data.prepend(b); const s = getComputedStyle(b), out = {fill: s.fill, stroke: s.stroke}; b.remove(); return out; })(seriesFigure('queue depth').querySelector('svg.data'))`), &band)
	if band.Fill == "none" || band.Fill == "" || band.Stroke != "none" {
		t.Errorf("the min-max band is painted with fill %q and stroke %q, want a fill and no stroke", band.Fill, band.Stroke)
	}

	// Hovering a column shows its time and value.
	if len(c.Hovers) < 20 {
		t.Fatalf("%d hover columns", len(c.Hovers))
	}
	h := c.Hovers[len(c.Hovers)/2]
	if !strings.Contains(h.Title, " · ") || !strings.Contains(h.Title, " jobs") {
		t.Errorf("a column's hover text %q", h.Title)
	}
	x, y := h.Box.X+h.Box.W/2, h.Box.Y+h.Box.H/2
	t.Logf("pointing at %q", h.Title)
	if err := chromedp.Do(p.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: x, Y: y})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	var hovered struct {
		Title  string
		Titles []string
	}
	p.waitFor("a column under the pointer to be hovered", cj(`(r => r && {title: text(r.querySelector('title')),
		titles: [...document.querySelectorAll('svg.data rect title')].map(t => text(t))})(document.querySelector('svg.data rect:hover'))`), &hovered)
	// The chart moves a column left every five seconds: the column under
	// the pointer may be a later one than was measured, but it says its own.
	if !strings.Contains(hovered.Title, " · ") || !strings.Contains(hovered.Title, " jobs") || !slices.Contains(hovered.Titles, hovered.Title) {
		t.Errorf("the hovered column says %q", hovered.Title)
	}
}

func TestBrowserChartRanges(t *testing.T) {
	in := start(t, seedQueue(t), "", "--tick", browserTick)
	p := newBrowserPage(t)
	p.open(in.URL + "/")
	five := p.readChart("queue depth")
	var heading string
	p.eval(`text(document.getElementById(regionStarting('Last ').getAttribute('aria-labelledby')))`, &heading)
	if heading != "Last 5 minutes" {
		t.Errorf("heading %q", heading)
	}

	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.Search(`//nav[@aria-label="Chart range"]/a[normalize-space()="1 h"]`))); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("following the 1 h link: %v", err)
	}
	p.waitFor(`the dashboard over the last hour`, `location.search === '?range=1h' && regionStarting('Last hour') !== null`, nil)
	p.waitLive()
	hour := p.readChart("queue depth")
	if hour.Title != "queue depth, last hour" {
		t.Errorf("title %q", hour.Title)
	}
	if tickTexts(hour.Times) == tickTexts(five.Times) || hour.D == five.D {
		t.Errorf("the hour's chart draws what the five minutes' did: times %q, line %q", tickTexts(hour.Times), hour.D)
	}
	if n := p.paintedColours(hour.Data); n < 3 {
		t.Errorf("the hour's plot area is painted in %d colours", n)
	}
	// Four minutes of an hour: a sliver no more, but points at the right.
	if hour.Line.X < hour.Data.X+hour.Data.W*0.8 {
		t.Errorf("four minutes of an hour drawn from x=%v in %+v", hour.Line.X, hour.Data)
	}
	var current, connect string
	p.eval(`text(document.querySelector('nav[aria-label="Chart range"] a[aria-current="true"]'))`, &current)
	// The page's topics, as the server wrote them (tabs.js takes the
	// attribute to share the connection among the browser's tabs).
	if m := regexp.MustCompile(`hx-sse:connect="([^"]*)"`).FindStringSubmatch(p.source("/?range=1h")); m != nil {
		connect, _ = url.QueryUnescape(html.UnescapeString(m[1]))
	}
	if current != "1 h" || !strings.Contains(connect, "chart:1h") {
		t.Errorf("the current range %q, the live connection %q; want 1 h and the topic chart:1h", current, connect)
	}
	// The hour's chart is live on its own topic.
	p.setMarker()
	browserPostMetric(t, in, "queue depth", "99", "jobs")
	p.waitFor(`the hour's chart to show 99 jobs`, cj(`(c => c && c.stats.last === '99 jobs')(chartOf('queue depth'))`), nil)
	p.checkMarker()
}

func TestBrowserSeriesPage(t *testing.T) {
	in := start(t, seedQueue(t), "", "--tick", browserTick)
	p := newBrowserPage(t)
	p.open(in.URL + "/")
	p.readChart("queue depth")
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	// Clicking the link navigates: wait for the page it loads, not during
	// the navigation.
	if resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.Search(`//figure[@data-series="queue depth"]//a[normalize-space()="queue depth"]`))); err != nil || resp.Status != http.StatusOK {
		t.Fatalf("following the metric's link: %v", err)
	}
	p.waitFor(`the metric's page`, `location.pathname === '/charts/queue%20depth' && text(document.querySelector('h1')) === 'queue depth'`, nil)
	p.waitLive()
	c := p.readChart("queue depth")
	if len(c.Hovers) < 20 || c.Data.H < 200 {
		t.Errorf("the page's chart: %d columns, %v px high; want one per second, tall", len(c.Hovers), c.Data.H)
	}
	if n := p.paintedColours(c.Data); n < 3 || !c.Line.inside(c.Data) {
		t.Errorf("the page's plot area %+v is painted in %d colours, its line at %+v", c.Data, n, *c.Line)
	}
	var title string
	p.eval(`document.title`, &title)
	if !strings.HasPrefix(title, "queue depth") {
		t.Errorf("title %q", title)
	}
	p.setMarker()
	browserPostMetric(t, in, "queue depth", "77.5", "jobs")
	p.waitFor(`the page to show 77.5 jobs`, cj(`(c => c && c.stats.last === '77.5 jobs' && c.desc.startsWith('Last 77.5 jobs'))(chartOf('queue depth'))`), nil)
	p.checkMarker()
	if resp, _ := peek(t, streamClient(t), in.URL+"/charts/no%20such"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the page of a metric nobody posted: %d, want 404", resp.StatusCode)
	}
}

func TestBrowserDeleteSeries(t *testing.T) {
	in := start(t, seedQueue(t), "", "--tick", browserTick, "--dashboard", "members")
	browser := newBrowserPage(t)
	admin := newChatTab(t, browser, "the admin")
	signUpInBrowser(admin, in, "ann", "password-of-ann")
	member := newChatTab(t, browser, "a member")
	signUpInBrowser(member, in, "bob", "password-of-bob")
	member.waitLive()
	member.readChart("queue depth")
	member.setMarker()

	admin.visit(in.URL + "/charts/queue%20depth")
	admin.waitLive()
	admin.readChart("queue depth")
	// The same metric's page, as the member's browser gets it, offers no
	// delete (the admin's, which the admin uses below, does).
	if page := member.source("/charts/queue%20depth"); !strings.Contains(page, `data-series="queue depth"`) || strings.Contains(page, `/delete"`) {
		t.Errorf("a member's page of the metric offers to delete, or is not the metric's: %.300s", page)
	}
	if page := admin.source("/charts/queue%20depth"); !strings.Contains(page, `/delete"`) {
		t.Errorf("the admin's page of the metric offers no delete: %.300s", page)
	}
	if status := admin.follow(`click "Delete queue depth"`, chromedp.Click(rbButton("Delete queue depth"))); status != http.StatusOK {
		t.Fatalf("deleting: %d; the page: %s", status, admin.summary())
	}
	var path string
	admin.eval(`location.pathname`, &path)
	if path != "/" {
		t.Errorf("after deleting, the admin is at %s, want the dashboard", path)
	}
	admin.waitLive()
	var left bool
	admin.eval(cj(`!!seriesFigure('queue depth') || !!card('queue depth')`), &left)
	if left {
		t.Error("the deleted series is on the admin's dashboard")
	}
	member.waitFor(`the series to leave the member's open dashboard`, cj(`!seriesFigure('queue depth') && !card('queue depth')`), nil)
	member.checkMarker()
	if status := admin.follow("open the deleted series' page", chromedp.Navigate(in.URL+"/charts/queue%20depth")); status != http.StatusNotFound {
		t.Errorf("the deleted series' page: %d, want 404", status)
	}
}

// TestBrowserStreamedChartWithoutJavaScript: the zero-JavaScript chart
// stream (issue 11, items 2 and 8), framed by another site in a tab that
// runs no script, paints its newest frame only, and in it a chart: the
// plot has a box of its own, its line too, inside it, and the plot's
// pixels are more than a background.
func TestBrowserStreamedChartWithoutJavaScript(t *testing.T) {
	in := start(t, seedQueue(t), "", "--secret-file", secretFile(t, hex.EncodeToString(embedSecret), 0o600), "--tick", browserTick)
	host := newHostSite(t)
	tok := sign(t, in, widget.Claims{Widget: widget.Chart, Origins: []string{host.URL}})
	host.embed([][2]string{{"stream", in.URL + "/stream/chart?token=" + url.QueryEscape(tok)}})
	tab := noScriptTab(t, newBrowserPage(t), host.URL)

	waitFor(t, browserWait, "the first streamed chart, painted", func() (bool, string) {
		return newestChartPainted(tab, 1)
	})
	// A new sample changes the chart: a second frame, which alone is shown.
	browserPostMetric(t, in, "queue depth", "99", "jobs")
	waitFor(t, browserWait, "the newest of two streamed charts, alone painted", func() (bool, string) {
		if ok, why := newestFramePainted(tab); !ok {
			return false, why
		}
		return newestChartPainted(tab, 2)
	})
}

// noScriptTab opens url in a new tab of p that runs no script, without
// waiting for its load event (a page that frames a stream loads for as
// long as the stream lasts).
func noScriptTab(t *testing.T, p *browserPage, url string) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(p.ctx)
	t.Cleanup(cancel)
	err := chromedp.Do(tab, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, page.Navigate, page.NavigateParams{URL: url})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// newestChartPainted reports whether the first framed document of tab
// holds at least frames stream frames, and whether the newest one's chart
// is painted: its plot and its line have boxes, the line's inside the
// plot's, and a screenshot of the plot holds at least three colours
// (background, gridlines, the series). It needs no script in the page.
func newestChartPainted(tab context.Context, frames int) (bool, string) {
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
		if find(doc.Root); inner == nil {
			why = "no framed document yet"
			return nil
		}
		all, err := cdp.Call(ctx, tg, dom.QuerySelectorAll, dom.QuerySelectorAllParams{NodeID: inner.NodeID, Selector: "body.stream > .frame"})
		if err != nil {
			return err
		}
		if len(all.NodeIDs) < frames {
			why = fmt.Sprintf("%d frames so far, want %d", len(all.NodeIDs), frames)
			return nil
		}
		newest := all.NodeIDs[len(all.NodeIDs)-1]
		boxOf := func(sel string) (*dom.BoxModel, error) {
			n, err := cdp.Call(ctx, tg, dom.QuerySelector, dom.QuerySelectorParams{NodeID: newest, Selector: sel})
			if err != nil || n.NodeID == 0 {
				return nil, fmt.Errorf("the newest frame has no %s", sel)
			}
			b, err := cdp.Call(ctx, tg, dom.GetBoxModel, dom.GetBoxModelParams{NodeID: n.NodeID})
			if err != nil {
				return nil, fmt.Errorf("the newest frame's %s has no box: %v", sel, err)
			}
			return b.Model, nil
		}
		plot, err := boxOf(`figure[data-series="queue depth"] svg.plot`)
		if err != nil {
			why = err.Error()
			return nil
		}
		line, err := boxOf(`figure[data-series="queue depth"] path.line`)
		if err != nil {
			why = err.Error()
			return nil
		}
		pb := browserBox{plot.Border[0], plot.Border[1], float64(plot.Width), float64(plot.Height)}
		lb := browserBox{line.Border[0], line.Border[1], float64(line.Width), float64(line.Height)}
		if pb.W < 100 || pb.H < 40 || lb.W < 10 || !lb.inside(pb) {
			why = fmt.Sprintf("the plot's box %+v, the line's %+v", pb, lb)
			return nil
		}
		n, err := clipColours(ctx, tg, page.Viewport{X: pb.X, Y: pb.Y, Width: pb.W, Height: pb.H})
		if err != nil {
			return err
		}
		if n < 3 {
			why = fmt.Sprintf("the plot is painted in %d colours", n)
		}
		return nil
	}))
	if err != nil {
		return false, err.Error() // the document changed under the read: read again
	}
	return why == "", why
}

// A chart's times are the viewer's (item 6 for item 8's charts): its time
// ticks and hover texts, drawn once in UTC for everyone, are shown in the
// viewer's zone, and the zone label names that zone.
func TestBrowserChartTimesInTheViewersZone(t *testing.T) {
	in := start(t, seedQueue(t), "", "--tick", browserTick)
	p := newBrowserPage(t)
	emulateZone(t, p.ctx, "Asia/Kolkata", "en-GB") // UTC+05:30 all year: every label differs from UTC's
	p.open(in.URL + "/")
	p.readChart("queue depth")
	type stamped struct{ At, Format, Text string }
	var got struct {
		Ticks []stamped
		Hover stamped
		Zone  string
	}
	p.eval(cj(`(f => { const s = el => ({at: el.getAttribute('data-at'), format: el.getAttribute('data-format'), text: el.textContent});
		return {ticks: [...f.querySelectorAll('svg[role="img"] > text[data-at]')].filter(t => visible(t)).map(s),
			hover: {at: f.querySelector('svg.data').getAttribute('data-end'), text: f.querySelector('svg.data rect title').textContent},
			zone: text(f.querySelector('text[data-zone]'))}; })(seriesFigure('queue depth'))`), &got)
	kolkata := time.FixedZone("IST", 5*3600+30*60)
	local := func(s stamped) string {
		t.Helper()
		at, err := time.Parse(time.RFC3339, s.At)
		if err != nil {
			t.Fatalf("data-at %q: %v", s.At, err)
		}
		if s.Format == "seconds" {
			return at.In(kolkata).Format("15:04:05")
		}
		return at.In(kolkata).Format("15:04")
	}
	if len(got.Ticks) < 4 {
		t.Fatalf("time ticks %+v, want several", got.Ticks)
	}
	for _, tk := range got.Ticks {
		if want := local(tk); tk.Text != want {
			t.Errorf("the tick at %s reads %q, want %q (Kolkata)", tk.At, tk.Text, want)
		}
	}
	// A column's hover text starts with its start in Kolkata: read back as
	// Kolkata's clock, it is within the chart's five minutes (read as UTC's,
	// it would be five and a half hours off).
	end, err := time.Parse(time.RFC3339, got.Hover.At)
	if err != nil {
		t.Fatalf("the plot's data-end %q: %v", got.Hover.At, err)
	}
	clock, rest, ok := strings.Cut(got.Hover.Text, " · ")
	kt, err := time.ParseInLocation("15:04:05", clock, kolkata)
	if !ok || err != nil || !strings.HasSuffix(rest, " jobs") {
		t.Fatalf("a column's hover text %q, want a clock time, then its value", got.Hover.Text)
	}
	endK := end.In(kolkata)
	at := time.Date(endK.Year(), endK.Month(), endK.Day(), kt.Hour(), kt.Minute(), kt.Second(), 0, kolkata)
	if at.After(end) || at.Before(end.Add(-5*time.Minute)) {
		t.Errorf("a column's hover text %q, read as Kolkata's time, is %v: not in the chart's five minutes before %v", got.Hover.Text, at.UTC(), end)
	}
	if got.Zone == "" || got.Zone == "UTC" {
		t.Errorf("the zone label reads %q, want Kolkata's", got.Zone)
	}
}
