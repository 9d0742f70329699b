package views

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

var now = time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC)

// render renders c and parses the result as a person's browser would.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// text is the text of s with its white space collapsed.
func text(s *goquery.Selection) string {
	return strings.Join(strings.Fields(s.Text()), " ")
}

// figure is the figure shown under the card labelled label.
func figure(t *testing.T, doc *goquery.Document, label string) string {
	t.Helper()
	dt := doc.Find("dt").FilterFunction(func(_ int, s *goquery.Selection) bool { return text(s) == label })
	if dt.Length() != 1 {
		t.Fatalf("want one card labelled %q, found %d", label, dt.Length())
	}
	return text(dt.NextAllFiltered("dd").First())
}

func sampleMetrics() Metrics {
	return Metrics{
		Server:          true,
		At:              now,
		LiveConnections: 1234,
		ActiveUsers:     17,
		RequestsPerMin:  98765,
		P50:             3200 * time.Microsecond,
		P95:             41400 * time.Microsecond,
		EventsPerSec:    12.34,
		Goroutines:      52,
		HeapBytes:       12*1<<20 + 1<<19,
	}
}

func TestMetricsPanelShowsFiguresUnderTheirLabels(t *testing.T) {
	doc := render(t, MetricsPanel(sampleMetrics(), false))
	for label, want := range map[string]string{
		"Live connections":  "1,234",
		"Active users":      "17",
		"Requests/min":      "98,765",
		"Response time p50": "3.2 ms",
		"Response time p95": "41 ms",
		"Log events/s":      "12.3",
		"Goroutines":        "52",
		"Memory":            "12.5 MiB",
	} {
		if got := figure(t, doc, label); got != want {
			t.Errorf("%s: got %q, want %q", label, got, want)
		}
	}
	panel := doc.Find("section#" + IDMetrics)
	if panel.Length() != 1 {
		t.Fatalf("no section #%s", IDMetrics)
	}
	labelledBy, _ := panel.Attr("aria-labelledby")
	if h := doc.Find("#" + labelledBy); text(h) != "Server" {
		t.Errorf("panel is labelled by %q, want the heading Server", text(h))
	}
	if got := doc.Find(".hint").Text(); !strings.Contains(got, "POST /api/metrics") {
		t.Errorf("no hint about posting a metric when there is none: %q", got)
	}
	if got, _ := doc.Find("p.meta time").Attr("datetime"); got != "2026-11-29T10:30:00Z" {
		t.Errorf("measured-at datetime = %q", got)
	}
}

// The events card says what it counts (issue 11, item 1): the events
// written to the log, which are chat messages, activity items,
// notifications and the like, not metric samples, requests or live
// deliveries. A visible line under the figure says so, and the card's
// tooltip says it whole.
func TestMetricsPanelSaysWhatEventsCount(t *testing.T) {
	doc := render(t, MetricsPanel(sampleMetrics(), false))
	dt := doc.Find("dt").FilterFunction(func(_ int, s *goquery.Selection) bool { return text(s) == "Log events/s" })
	if dt.Length() != 1 {
		t.Fatalf("no card labelled %q; labels: %q", "Log events/s", doc.Find("dt").Map(func(_ int, s *goquery.Selection) string { return text(s) }))
	}
	card := dt.Parent()
	if got := text(card.Find("dd.meta")); got != "messages, activity, notifications…" {
		t.Errorf("the line under the figure says %q", got)
	}
	tip, _ := card.Attr("title")
	for _, want := range []string{"written to the log", "chat messages", "activity items", "notifications", "Not metric samples"} {
		if !strings.Contains(tip, want) {
			t.Errorf("the card's tooltip %q does not say %q", tip, want)
		}
	}
}

// TestMetricsPanelWithoutServerFigures: the panel everyone but an admin
// sees (and widgets show) holds the posted metrics only.
func TestMetricsPanelWithoutServerFigures(t *testing.T) {
	m := sampleMetrics()
	m.Server = false
	m.Custom = []CustomMetric{{Name: "queue depth", Unit: "jobs", Value: 42}}
	doc := render(t, MetricsPanel(m, false))
	if n := doc.Find("dt").Length(); n != 1 || figure(t, doc, "queue depth") != "42 jobs" {
		t.Errorf("%d cards, want only the posted one", n)
	}
	for _, label := range []string{"Live connections", "Goroutines", "Memory", "Requests/min"} {
		if strings.Contains(doc.Text(), label) {
			t.Errorf("the panel without server figures shows %q", label)
		}
	}
	labelledBy, _ := doc.Find("section#" + IDMetrics).Attr("aria-labelledby")
	if h := doc.Find("#" + labelledBy); text(h) != "Metrics" {
		t.Errorf("panel is labelled by %q, want the heading Metrics", text(h))
	}
}

func TestMetricsPanelShowsCustomMetrics(t *testing.T) {
	m := sampleMetrics()
	m.Custom = []CustomMetric{
		{Name: "queue depth", Unit: "jobs", Value: 42, At: now.Add(-3 * time.Second)},
		{Name: "<b>bold</b>", Value: 0.5},
	}
	doc := render(t, MetricsPanel(m, false))
	if got := figure(t, doc, "queue depth"); got != "42 jobs" {
		t.Errorf("custom metric figure = %q, want %q", got, "42 jobs")
	}
	card := doc.Find("dt").FilterFunction(func(_ int, s *goquery.Selection) bool { return text(s) == "queue depth" }).Parent()
	tm := card.Find("time")
	if dt, _ := tm.Attr("datetime"); dt != "2026-11-29T10:29:57Z" || text(tm) != "10:29:57 UTC" {
		t.Errorf("custom metric time = %q (%q)", dt, text(tm))
	}
	if got := figure(t, doc, "<b>bold</b>"); got != "0.5" {
		t.Errorf("escaped name's figure = %q", got)
	}
	if doc.Find("b").Length() != 0 {
		t.Error("a metric's name was rendered as HTML")
	}
	if doc.Find(".hint").Length() != 0 {
		t.Error("hint shown although there are custom metrics")
	}
}

func TestOOBVariantsCarrySwapOOB(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    templ.Component
		root string
		oob  bool
	}{
		{"metrics", MetricsPanel(sampleMetrics(), false), "section#" + IDMetrics, false},
		{"metrics oob", MetricsPanel(sampleMetrics(), true), "section#" + IDMetrics, true},
		{"chart", ChartPanel(Chart{}, false), "section#" + IDChart, false},
		{"chart oob", ChartPanel(Chart{}, true), "section#" + IDChart, true},
		{"feed", ActivityPanel(nil), "ol#" + IDActivity, false},
		{"feed oob", ActivityFeedFragment([]Activity{{Position: 2, Text: "b"}, {Position: 1, Text: "a"}}), "ol#" + IDActivity, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := render(t, tc.c)
			root := doc.Find(tc.root)
			if root.Length() != 1 {
				t.Fatalf("want one %s", tc.root)
			}
			v, has := root.Attr("hx-swap-oob")
			if tc.oob && v != "true" {
				t.Errorf("hx-swap-oob = %q, %v; want \"true\"", v, has)
			}
			if !tc.oob && has {
				t.Errorf("hx-swap-oob on a page render")
			}
		})
	}
	doc := render(t, ActivityFeedFragment([]Activity{{Position: 2, Text: "b"}, {Position: 1, Text: "a"}}))
	var ids []string
	doc.Find("ol#" + IDActivity + " > li").Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("id", "")) })
	if strings.Join(ids, " ") != "act-2 act-1" {
		t.Errorf("feed items = %v", ids)
	}
}

func TestActivityItemEscapesTextAndDropsUnsafeLinks(t *testing.T) {
	for _, link := range []string{
		"javascript:alert(1)",
		"JaVaScRiPt:alert(1)",
		" javascript:alert(1)",
		"data:text/html,<script>alert(1)</script>",
		"vbscript:msgbox(1)",
		"//evil.example/x",
		"/relative",
		"https://",
		"not a url",
	} {
		t.Run(link, func(t *testing.T) {
			doc := render(t, ActivityItem(Activity{Position: 9, Text: "<script>alert(1)</script>", Link: link, At: now}))
			if n := doc.Find("script").Length(); n != 0 {
				t.Fatalf("found %d script elements", n)
			}
			if n := doc.Find("a").Length(); n != 0 {
				t.Fatalf("unsafe link %q kept", link)
			}
			li := doc.Find("li#" + ItemID(9))
			if got := text(li.Find(".item-text")); got != "<script>alert(1)</script>" {
				t.Errorf("text = %q", got)
			}
			if got := li.Find("time").AttrOr("datetime", ""); got != "2026-11-29T10:30:00Z" {
				t.Errorf("datetime = %q", got)
			}
		})
	}
}

func TestActivityItemKeepsWebLinks(t *testing.T) {
	for _, link := range []string{"https://example.com/a?b=c&d=e", "http://example.com", "HTTPS://example.com/x"} {
		doc := render(t, ActivityItem(Activity{Position: 3, Text: "deployed", Link: link}))
		a := doc.Find("li#act-3 a")
		if a.Length() != 1 {
			t.Fatalf("%q: link dropped", link)
		}
		if href := a.AttrOr("href", ""); !strings.EqualFold(href, link) {
			t.Errorf("href = %q, want %q", href, link)
		}
		if rel := a.AttrOr("rel", ""); rel != "noopener nofollow ugc" {
			t.Errorf("rel = %q", rel)
		}
		if text(a) != "deployed" {
			t.Errorf("link text = %q", text(a))
		}
	}
}

func TestActivityItemFragmentIsAPartialForTheFeed(t *testing.T) {
	doc := render(t, ActivityItemFragment(Activity{Position: 8, Text: "new", At: now}))
	partial := doc.Find("hx-partial")
	if partial.Length() != 1 {
		t.Fatal("no hx-partial")
	}
	if got := partial.AttrOr("hx-target", ""); got != "#"+IDActivity {
		t.Errorf("hx-target = %q", got)
	}
	if got := partial.AttrOr("hx-swap", ""); got != "afterbegin" {
		t.Errorf("hx-swap = %q", got)
	}
	if partial.Find("li#act-8").Length() != 1 {
		t.Error("the partial does not hold the item")
	}
	if doc.Find("[hx-swap-oob]").Length() != 0 {
		t.Error("the partial also carries an oob element")
	}
}

func TestActivityPanel(t *testing.T) {
	empty := render(t, ActivityPanel(nil))
	list := empty.Find("ol#" + IDActivity)
	if list.AttrOr("aria-label", "") != "Activity feed" || list.AttrOr("aria-live", "") != "polite" {
		t.Errorf("list is not a named polite live region")
	}
	if e := empty.Find(".empty"); e.Length() != 1 || e.AttrOr("hidden", "none") != "none" {
		t.Error("no visible empty state for an empty feed")
	}
	section := empty.Find("section")
	if h := empty.Find("#" + section.AttrOr("aria-labelledby", "?")); text(h) != "Activity" {
		t.Errorf("section labelled by %q", text(h))
	}

	items := []Activity{{Position: 5, Text: "five"}, {Position: 4, Text: "four"}}
	full := render(t, ActivityPanel(items))
	var got []string
	full.Find("ol#" + IDActivity + " > li").Each(func(_ int, s *goquery.Selection) { got = append(got, text(s)) })
	if strings.Join(got, ",") != "five,four" {
		t.Errorf("items = %v, want newest first", got)
	}
	if _, hidden := full.Find(".empty").Attr("hidden"); !hidden {
		t.Error("empty state visible although there are items")
	}
}

func TestLiveConnector(t *testing.T) {
	url := "/live?topics=metrics,activity&after=ab12-42"
	doc := render(t, LiveConnector(url))
	el := doc.Find("div#" + IDLive)
	if el.AttrOr("hx-sse:connect", "") != url {
		t.Errorf("hx-sse:connect = %q", el.AttrOr("hx-sse:connect", ""))
	}
	if el.AttrOr("hx-swap", "") != "none" {
		t.Error("the connector would be swapped")
	}
	if _, ok := el.Attr("hidden"); !ok {
		t.Error("connector not hidden")
	}
}

// flushRecorder is a ResponseWriter-like writer that records what had been
// written each time it was flushed.
type flushRecorder struct {
	bytes.Buffer
	flushes []string
}

func (f *flushRecorder) Flush() { f.flushes = append(f.flushes, f.String()) }

func TestDashboardPageFlushesTheShellBeforeTheFeed(t *testing.T) {
	var w flushRecorder
	var flushedBeforeFeed int
	feed := templ.ComponentFunc(func(ctx context.Context, out io.Writer) error {
		flushedBeforeFeed = len(w.flushes)
		if err := ActivityPanel([]Activity{{Position: 1, Text: "hello"}}).Render(ctx, out); err != nil {
			return err
		}
		return LiveConnector("/live?topics=metrics").Render(ctx, out)
	})
	d := Dashboard{
		Page:    Page{Title: "Dashboard", LiveURL: "/live?topics=metrics"},
		Metrics: sampleMetrics(),
		Chart: Chart{Range: DefaultChartRange(), Nav: true, Figures: []templ.Component{
			SeriesFigure(SeriesChart{Series: Series{Name: "requests/s"}, Range: DefaultChartRange(), End: now})}},
	}
	if err := DashboardPage(d, feed).Render(context.Background(), &w); err != nil {
		t.Fatal(err)
	}
	if flushedBeforeFeed == 0 {
		t.Fatal("nothing was flushed before the feed was rendered")
	}
	shell := w.flushes[0]
	if !strings.Contains(shell, `id="`+IDMetrics+`"`) || !strings.Contains(shell, `id="`+IDChart+`"`) {
		t.Error("the first flush lacks the metrics or the chart")
	}
	if strings.Contains(shell, IDActivity) {
		t.Error("the first flush already holds the feed")
	}

	doc, err := goquery.NewDocumentFromReader(strings.NewReader(w.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Find("head title").Text(); got != "Dashboard · Beacon" {
		t.Errorf("title = %q", got)
	}
	for _, sel := range []string{"#" + IDMetrics, "#" + IDChart, "#" + IDActivity, "#" + IDLive, "#" + IDIndicator, "#" + IDNotice, "main h1"} {
		if doc.Find(sel).Length() != 1 {
			t.Errorf("want one %s", sel)
		}
	}
	ind := doc.Find("#" + IDIndicator)
	if ind.AttrOr("role", "") != "status" || ind.AttrOr("data-state", "") != "connecting" || text(ind) != "Connecting…" {
		t.Errorf("indicator = %q role=%q state=%q", text(ind), ind.AttrOr("role", ""), ind.AttrOr("data-state", ""))
	}
	if _, hidden := ind.Attr("hidden"); hidden {
		t.Error("indicator hidden on a live page")
	}
	if doc.Find(`meta[name="color-scheme"]`).AttrOr("content", "") != "light dark" {
		t.Error("no color-scheme meta")
	}
	if doc.Find(`meta[name="viewport"]`).Length() != 1 {
		t.Error("no viewport meta")
	}
	// One script runs in the head, after the stylesheets (it must see
	// every element before it is painted); the others run in order at the
	// end of the body (see Layout), after everything else, and are
	// preloaded from the head.
	head := doc.Find("head script")
	if head.Length() != 1 || head.AttrOr("src", "") != paintScript || head.PrevAll().Filter(`link[rel="stylesheet"]`).Length() != 2 {
		t.Errorf("the head's scripts: %d, want %s alone, after both stylesheets", head.Length(), paintScript)
	}
	var srcs, preloads []string
	doc.Find("body script").Each(func(_ int, s *goquery.Selection) {
		src, ok := s.Attr("src")
		if !ok || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("inline script: %q", s.Text())
		}
		for _, a := range []string{"defer", "async", "type"} {
			if _, ok := s.Attr(a); ok {
				t.Errorf("script %s is %s: htmx would start before its extension", src, a)
			}
		}
		if !s.Parent().Is("body") || s.NextAll().Not("script").Length() != 0 {
			t.Errorf("script %s is not at the end of the body", src)
		}
		srcs = append(srcs, src)
	})
	doc.Find(`head link[rel="preload"][as="script"]`).Each(func(_ int, s *goquery.Selection) {
		preloads = append(preloads, s.AttrOr("href", ""))
	})
	want := "/static/vendor/htmx.min.js /static/vendor/hx-sse.min.js /static/vendor/hx-ws.min.js /static/beacon.js /static/rooms.js /static/tabs.js"
	if strings.Join(srcs, " ") != want {
		t.Errorf("scripts = %v, want %s", srcs, want)
	}
	if strings.Join(preloads, " ") != want {
		t.Errorf("preloads = %v, want %s", preloads, want)
	}
	assertCSPClean(t, doc)
}

// assertCSPClean fails on inline event handlers and style attributes, which a
// strict Content-Security-Policy blocks.
func assertCSPClean(t *testing.T, doc *goquery.Document) {
	t.Helper()
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "style" || strings.HasPrefix(a.Key, "hx-on") {
				t.Errorf("<%s %s=%q> would need unsafe-inline", goquery.NodeName(s), a.Key, a.Val)
			}
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
				t.Errorf("<%s %s=%q>", goquery.NodeName(s), a.Key, a.Val)
			}
		}
	})
	if doc.Find("style").Length() != 0 {
		t.Error("inline <style> element")
	}
}

func TestErrorPage(t *testing.T) {
	doc := render(t, ErrorPage(Page{Title: "Not found"}, 404, "There is no room called “lobby”."))
	if got := doc.Find("head title").Text(); got != "Not found · Beacon" {
		t.Errorf("title = %q", got)
	}
	if got := text(doc.Find("main h1")); got != "404 Not Found" {
		t.Errorf("h1 = %q", got)
	}
	if !strings.Contains(text(doc.Find("main")), "There is no room called “lobby”.") {
		t.Error("message not shown")
	}
	if doc.Find("#"+IDLive).Length() != 0 {
		t.Error("error page opens a live connection")
	}
	if doc.Find(`main a[href="/"]`).Length() != 1 {
		t.Error("no way back to the dashboard")
	}
	assertCSPClean(t, doc)
}

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }

func TestFormat(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ItemID(42), "act-42"},
		{formatInt(0), "0"},
		{formatInt(999), "999"},
		{formatInt(1000), "1,000"},
		{formatInt(1234567), "1,234,567"},
		{formatInt(-1234), "-1,234"},
		{formatValue(0), "0"},
		{formatValue(40), "40"},
		{formatValue(12.34), "12.3"},
		{formatValue(12.0), "12"},
		{formatValue(1.234), "1.23"},
		{formatValue(0.001), "0.001"},
		{formatValue(-0.001), "-0.001"},
		{formatValue(123.6), "124"},
		{formatValue(98765.4), "98,765"},
		{formatValue(-2.5), "-2.5"},
		{formatValue(nan()), "–"},
		{formatMillis(3200 * time.Microsecond), "3.2"},
		{formatMillis(3 * time.Millisecond), "3.0"},
		{formatMillis(0), "0.0"},
		{formatMillis(9960 * time.Microsecond), "10.0"},
		{formatMillis(41400 * time.Microsecond), "41"},
		{formatMillis(1204 * time.Millisecond), "1,204"},
		{formatMiB(12<<20 + 1<<19), "12.5"},
		{formatMiB(2 << 30), "2,048"},
		{withUnit("3", "/s"), "3/s"},
		{withUnit("40", "%"), "40%"},
		{withUnit("12", "ms"), "12 ms"},
		{titled(""), "Beacon"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestFormatValueEdges pins formatValue at the edges of its ranges: whole
// numbers are grouped up to 10^15, beyond that and below 0.001 they take an
// exponent (three significant digits, "1.23e21"), never an integer
// overflow; negatives mirror positives; NaN and infinities are "–".
func TestFormatValueEdges(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{99.96, "100"},
		{9.996, "10"},
		{0.5, "0.5"},
		{0.1234, "0.123"},
		{-0.1234, "-0.123"},
		{0.00123, "0.00123"},
		{0.0009996, "0.001"},
		{0.000999, "9.99e-4"},
		{0.0001234, "1.23e-4"},
		{-0.0001234, "-1.23e-4"},
		{1e-300, "1e-300"},
		{5e-324, "4.94e-324"}, // the smallest float64 above zero
		{999_999_999_999_999, "999,999,999,999,999"},
		{999_999_999_999_999.6, "1e15"},
		{1e15, "1e15"},
		{-1e15, "-1e15"},
		{math.Pow(2, 53), "9.01e15"},
		{math.Pow(2, 63) - 1024, "9.22e18"},
		{math.Pow(2, 63), "9.22e18"},
		{-math.Pow(2, 63), "-9.22e18"},
		{math.Pow(2, 64), "1.84e19"},
		{1.2e21, "1.2e21"},
		{9.996e20, "1e21"},
		{math.MaxFloat64, "1.8e308"},
		{-math.MaxFloat64, "-1.8e308"},
		{math.Inf(-1), "–"},
		{inf(), "–"},
		{nan(), "–"},
	} {
		if got := formatValue(tc.v); got != tc.want {
			t.Errorf("formatValue(%g) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// TestBeaconJSMirrorsIDs keeps static/beacon.js in step with ids.go: the
// script cannot import them, so it spells each value once, in one object.
func TestBeaconJSMirrorsIDs(t *testing.T) {
	js, err := os.ReadFile("../static/beacon.js")
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"live":          "'" + IDLive + "'",
		"indicator":     "'" + IDIndicator + "'",
		"activity":      "'" + IDActivity + "'",
		"notice":        "'" + IDNotice + "'",
		"eventResync":   "'" + EventResync + "'",
		"activityItems": strconv.Itoa(ActivityItems),
	} {
		m := regexp.MustCompile(`\b` + key + `:\s*([^,\s]+)`).FindSubmatch(js)
		if m == nil {
			t.Errorf("beacon.js has no %s", key)
			continue
		}
		if string(m[1]) != want {
			t.Errorf("beacon.js %s: %s, ids.go says %s", key, m[1], want)
		}
	}
}

func BenchmarkMetricsPanelOOB(b *testing.B) {
	m := sampleMetrics()
	m.Custom = []CustomMetric{{Name: "queue", Value: 3, At: now}, {Name: "temp", Unit: "°C", Value: 21.5, At: now}}
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := MetricsPanel(m, true).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzActivityItem renders items with posted text and links: whatever comes
// in, the item holds no element but its own and no link that is not http(s).
func FuzzActivityItem(f *testing.F) {
	f.Add(int64(1), "<script>alert(1)</script>", "javascript:alert(1)")
	f.Add(int64(2), "</li><li id=x>", "https://example.com/\"><script>")
	f.Add(int64(3), "<hx-partial hx-target=\"#live\">", "http://a\tb")
	f.Fuzz(func(t *testing.T, pos int64, txt, link string) {
		doc := render(t, ActivityItem(Activity{Position: pos, Text: txt, Link: link, At: now}))
		doc.Find("body *").Each(func(_ int, s *goquery.Selection) {
			switch name := goquery.NodeName(s); name {
			case "li", "span", "a", "time", "bdi":
			default:
				t.Fatalf("text %q, link %q made a <%s>", txt, link, name)
			}
		})
		if n := doc.Find("li").Length(); n != 1 {
			t.Fatalf("%d items", n)
		}
		if href, ok := doc.Find("a").Attr("href"); ok {
			if h := strings.ToLower(href); !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
				t.Fatalf("link %q kept as %q", link, href)
			}
		}
	})
}

// TestWidgetKeepsItsOwnConnection: a widget page (in another site's frame)
// loads the scripts of hx-sse but not tabs.js, so its live connection is
// its own, never shared with Beacon's tabs.
func TestWidgetKeepsItsOwnConnection(t *testing.T) {
	doc := render(t, WidgetPage(Widget{Title: "lobby", LiveURL: "/embed/live?token=t"}, templ.NopComponent))
	var srcs []string
	doc.Find("script").Each(func(_ int, s *goquery.Selection) { srcs = append(srcs, s.AttrOr("src", "")) })
	if !slices.Contains(srcs, "/static/vendor/hx-sse.min.js") || slices.Contains(srcs, "/static/tabs.js") {
		t.Errorf("a widget's scripts are %v, want hx-sse and no tabs.js", srcs)
	}
	if doc.Find(`[hx-sse\:connect="/embed/live?token=t"]`).Length() != 1 {
		t.Errorf("the widget has no hx-sse connection of its own")
	}
}
