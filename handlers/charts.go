package handlers

import (
	"bytes"
	"context"
	"time"

	"github.com/a-h/templ"

	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/stats"
	"github.com/beacon-live/beacon/views"
)

// The charts are drawn once per tick for every viewer. Each series is kept
// at one resolution per range (views.ChartRanges: 5 minutes by the second,
// an hour by 10 seconds, a day by 5 minutes), in fixed memory: about 59 KB
// a series, whatever its rate (stats.BenchmarkSeriesMemory), so the 50
// posted metrics and the server's 4 cost about 3.2 MB. A series' figure
// is drawn again only when it got a sample or its columns moved on
// (chartCache), and a topic is published only when its bytes changed.
//
// Topics (views.ParseChartTopic):
//   - chart:<range>: the dashboard's panel of posted metrics, with links to
//     the other ranges; server-chart:<range> an admin's, with the server's
//     series first.
//   - chart:<range>:<name>: a metric's page (GET /charts/:name).
//   - chart: the embedded chart widget's panel, over the default range,
//     without range links (they would lose its token).
//   - chart-stream: the zero-JavaScript stream's (ChartCompact, no ids),
//     published on ticks only.
//
// A page asks the board for what it last drew, as of the last drawing: the
// dashboard's panel rendered whole (ChartPage), a metric's page its figure
// (SeriesPanel). It writes bytes; it does not draw.

// chartResolutions are what every series keeps: a resolution per range, a
// step wide, over its span and one overview column more (a chart ends at
// the end of the column that holds now, so it reaches back that far).
func chartResolutions() []stats.Resolution {
	ranges := views.ChartRanges()
	res := make([]stats.Resolution, len(ranges))
	for i, r := range ranges {
		res[i] = stats.Resolution{Width: r.Step, Count: int(r.Span/r.Step) + r.Overview}
	}
	return res
}

// figureKey names one drawing of a series: which series, over which range
// (an index into views.ChartRanges), at which size, and whether its name
// links to its page (not in a widget, whose frame would follow the link
// out of its token's reach).
type figureKey struct {
	series *stats.Series
	rng    int
	size   views.ChartSize
	linked bool
}

// figure is a series drawn, and what it was drawn from: the same version,
// end and unit draw the same bytes.
type figure struct {
	version uint64
	end     time.Time
	unit    string
	html    []byte
}

// chartCache is what the board drew last. Board.chartMu guards it.
type chartCache struct {
	figures map[figureKey]figure
	// sent is the bytes last published on each chart topic: the same
	// bytes are not published again.
	sent map[string][]byte
	// pages are the dashboard's chart panels as pages show them (not out
	// of band), by topic, rendered when their frame changes: a page writes
	// them as they are (Board.ChartPage).
	pages map[string][]byte
	// at is the time of the last drawing: pages show the charts as of it.
	at time.Time
	// forget are the topics of deleted series' pages, told so and to be
	// forgotten by the hub once that frame is published.
	forget []string
}

func newChartCache() chartCache {
	return chartCache{figures: map[figureKey]figure{}, sent: map[string][]byte{}, pages: map[string][]byte{}}
}

// seriesInfo is a series and how it is drawn: its unit (read under
// Board.mu), its page for a posted metric, and whether it is sampled every
// tick (the server's own).
type seriesInfo struct {
	s        *stats.Series
	unit     string
	link     string
	periodic bool
}

// builtinSeries are the server's own series, an admin's. They get a sample
// every tick, so they are drawn again when their columns move on (every
// 5 seconds over 5 minutes), not at every sample: drawn every second, an
// admin's dashboard cost 35 KB/s, and the cards above show every second's
// figures anyway.
func (b *Board) builtinSeries() []seriesInfo {
	out := make([]seriesInfo, 0, 4)
	for _, s := range []*stats.Series{b.reqRate, b.evRate, b.conns, b.p95} {
		out = append(out, seriesInfo{s: s, unit: s.Unit, periodic: true})
	}
	return out
}

// postedSeries are the posted metrics' series, by name.
func (b *Board) postedSeries() []seriesInfo {
	series, units := b.posted()
	out := make([]seriesInfo, len(series))
	for i, s := range series {
		out[i] = seriesInfo{s: s, unit: units[i], link: views.SeriesPath(s.Name)}
	}
	return out
}

// unlinked is series without links to their pages: a widget's.
func unlinked(series []seriesInfo) []seriesInfo {
	out := make([]seriesInfo, len(series))
	for i, si := range series {
		si.link = ""
		out[i] = si
	}
	return out
}

// figureLocked returns the figure of si over range ri at size as of now,
// drawing it only if it changed since it was last drawn. b.chartMu is held.
func (b *Board) figureLocked(ctx context.Context, si seriesInfo, ri int, size views.ChartSize, now time.Time, seen map[figureKey]bool) templ.Component {
	r := views.ChartRanges()[ri]
	col := r.Column(size)
	end := views.ChartEnd(now, col)
	key := figureKey{si.s, ri, size, si.link != ""}
	if seen != nil {
		seen[key] = true
	}
	version := si.s.Version()
	f, ok := b.charts.figures[key]
	if !ok || f.version != version && !si.periodic || !f.end.Equal(end) || f.unit != si.unit {
		raw := si.s.Buckets(ri, end.Add(-r.Span), end)
		buckets := make([]views.Bucket, len(raw))
		for i, rb := range raw {
			buckets[i] = views.Bucket{Start: rb.Start, N: rb.N, Min: rb.Min, Max: rb.Max, Sum: rb.Sum, Last: rb.Last}
		}
		if col != r.Step {
			buckets = views.Downsample(buckets, col)
		}
		c := views.SeriesChart{Series: views.Series{Name: si.s.Name, Unit: si.unit, Link: si.link, Buckets: buckets},
			Range: r, Size: size, End: end}
		f = figure{version: version, end: end, unit: si.unit, html: b.render(ctx, views.SeriesFigure(c))}
		b.charts.figures[key] = f
	}
	return views.Rendered(f.html)
}

// chartLocked is the panel over range ri of series, each at size.
func (b *Board) chartLocked(ctx context.Context, series []seriesInfo, ri int, size views.ChartSize, nav bool, now time.Time, seen map[figureKey]bool) views.Chart {
	c := views.Chart{Range: views.ChartRanges()[ri], Nav: nav, Figures: make([]templ.Component, len(series))}
	for i, si := range series {
		c.Figures[i] = b.figureLocked(ctx, si, ri, size, now, seen)
	}
	return c
}

// chartFrames draws every chart topic as of now and returns the frames
// whose bytes changed since they were last published. On a tick (not a
// poke) it draws the stream's too. A deleted series' page topics get a
// last frame that says so. Figures of series no longer drawn are dropped.
func (b *Board) chartFrames(ctx context.Context, now time.Time, tick bool) []live.Frame {
	builtin, posted := b.builtinSeries(), b.postedSeries()
	b.mu.Lock()
	deleted := b.deleted
	b.deleted = nil
	b.mu.Unlock()

	b.chartMu.Lock()
	defer b.chartMu.Unlock()
	b.charts.at = now
	seen := map[figureKey]bool{}
	var frames []live.Frame
	add := func(topic string, c templ.Component) {
		data := b.render(ctx, c)
		if data == nil || bytes.Equal(b.charts.sent[topic], data) {
			return
		}
		b.charts.sent[topic] = data
		frames = append(frames, live.Frame{Topic: topic, Data: data, At: now})
	}
	// addPanel adds a dashboard's panel, and keeps it as pages show it
	// when it changed.
	addPanel := func(topic string, c views.Chart) {
		n := len(frames)
		add(topic, views.ChartPanel(c, true))
		if len(frames) > n || b.charts.pages[topic] == nil {
			b.charts.pages[topic] = b.render(ctx, views.ChartPanel(c, false))
		}
	}
	for ri, r := range views.ChartRanges() {
		public := b.chartLocked(ctx, posted, ri, views.ChartOverview, true, now, seen)
		addPanel(views.TopicChartRange(r), public)
		server := b.chartLocked(ctx, builtin, ri, views.ChartOverview, true, now, seen)
		server.Figures = append(server.Figures, public.Figures...)
		addPanel(views.TopicServerChartRange(r), server)
		if ri == 0 {
			add(views.TopicChart, views.ChartPanel(b.chartLocked(ctx, unlinked(posted), ri, views.ChartOverview, false, now, seen), true))
			if tick {
				add(views.TopicStreamChart, views.ChartPanelStatic(b.chartLocked(ctx, unlinked(posted), ri, views.ChartCompact, false, now, seen)))
			}
		}
		for _, si := range unlinked(posted) { // on its own page
			fig := b.figureLocked(ctx, si, ri, views.ChartDetail, now, seen)
			add(views.TopicSeries(r, si.s.Name), views.SeriesChartPanel(views.SeriesPanel{Range: r, Figure: fig}, true))
		}
		for _, name := range deleted {
			if b.HasSeries(name) {
				continue // posted again since: its page goes on
			}
			topic := views.TopicSeries(r, name)
			add(topic, views.SeriesChartPanel(views.SeriesPanel{Range: r}, true))
			delete(b.charts.sent, topic)
			b.charts.forget = append(b.charts.forget, topic)
		}
	}
	if !tick {
		// The stream's figures were not drawn: keep them.
		for k := range b.charts.figures {
			if k.size == views.ChartCompact {
				seen[k] = true
			}
		}
	}
	for k := range b.charts.figures {
		if !seen[k] {
			delete(b.charts.figures, k)
		}
	}
	return frames
}

// forgetDeleted drops the hub's newest frames of deleted series' pages,
// once their last frame has been published: a page opened later gets a
// 404, not a chart.
func (b *Board) forgetDeleted() {
	b.chartMu.Lock()
	forget := b.charts.forget
	b.charts.forget = nil
	b.chartMu.Unlock()
	for _, t := range forget {
		b.hub.Forget(t)
	}
}

// drawnAt is the time of the last drawing, or now before the first.
func (b *Board) drawnAtLocked() time.Time {
	if b.charts.at.IsZero() {
		return time.Now()
	}
	return b.charts.at
}

// ChartPanel returns the dashboard's chart panel over r as last drawn: the
// posted metrics, and for an admin's (server) the server's series first.
func (b *Board) ChartPanel(ctx context.Context, r views.ChartRange, server bool) views.Chart {
	ri := rangeIndex(r)
	series := b.postedSeries()
	if server {
		series = append(b.builtinSeries(), series...)
	}
	b.chartMu.Lock()
	defer b.chartMu.Unlock()
	return b.chartLocked(ctx, series, ri, views.ChartOverview, true, b.drawnAtLocked(), nil)
}

// ChartPage returns the dashboard's chart panel over r as pages show it,
// rendered at the last drawing for every page (an admin's, server, with
// the server's series first); nil before the first drawing.
func (b *Board) ChartPage(r views.ChartRange, server bool) []byte {
	topic := views.TopicChartRange(r)
	if server {
		topic = views.TopicServerChartRange(r)
	}
	b.chartMu.Lock()
	defer b.chartMu.Unlock()
	return b.charts.pages[topic]
}

// dropChartPages forgets the rendered page panels when the set of series
// changed: until the next drawing, which a poke asks for at once, a page
// draws its panel from the series as they are (ChartPanel).
func (b *Board) dropChartPages() {
	b.chartMu.Lock()
	defer b.chartMu.Unlock()
	clear(b.charts.pages)
}

// WidgetChart returns the embedded chart widget's panel as last drawn: the
// posted metrics over the default range, without links.
func (b *Board) WidgetChart(ctx context.Context) views.Chart {
	series := unlinked(b.postedSeries())
	b.chartMu.Lock()
	defer b.chartMu.Unlock()
	return b.chartLocked(ctx, series, 0, views.ChartOverview, false, b.drawnAtLocked(), nil)
}

// StreamChart returns the zero-JavaScript stream's chart panel as last
// drawn.
func (b *Board) StreamChart(ctx context.Context) views.Chart {
	series := unlinked(b.postedSeries())
	b.chartMu.Lock()
	defer b.chartMu.Unlock()
	return b.chartLocked(ctx, series, 0, views.ChartCompact, false, b.drawnAtLocked(), nil)
}

// SeriesPanel returns the panel of a posted metric's page over r as last
// drawn, and false when there is no such metric.
func (b *Board) SeriesPanel(ctx context.Context, r views.ChartRange, name string) (views.SeriesPanel, bool) {
	b.mu.Lock()
	s, ok := b.custom[name]
	unit := ""
	if ok {
		unit = s.Unit
	}
	b.mu.Unlock()
	if !ok {
		return views.SeriesPanel{}, false
	}
	si := seriesInfo{s: s, unit: unit} // on its own page: no link to it
	b.chartMu.Lock()
	defer b.chartMu.Unlock()
	return views.SeriesPanel{Range: r, Figure: b.figureLocked(ctx, si, rangeIndex(r), views.ChartDetail, b.drawnAtLocked(), nil)}, true
}

// HasSeries reports whether name is a posted metric the board shows.
func (b *Board) HasSeries(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.custom[name]
	return ok
}

// DeleteSeries drops a posted metric's series: it leaves every chart at
// the next publish, which it asks for at once, and its page says so. It
// is called when the deletion is applied (Publisher.Committed), on every
// instance of a cluster alike, and never blocks.
func (b *Board) DeleteSeries(name string) {
	b.mu.Lock()
	_, ok := b.custom[name]
	if ok {
		delete(b.custom, name)
		b.deleted = append(b.deleted, name)
	}
	b.mu.Unlock()
	if ok {
		b.dropPages() // pages render without it until the next publish
	}
	select {
	case b.poke <- struct{}{}:
	default:
	}
}

// rangeIndex is the index of r among views.ChartRanges (the default's for
// a range that is not one).
func rangeIndex(r views.ChartRange) int {
	for i, o := range views.ChartRanges() {
		if o.Name == r.Name {
			return i
		}
	}
	return 0
}
