package views

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
)

// ChartRange is a span of time a chart shows, and how finely.
type ChartRange struct {
	// Name is the range in a URL (?range=5m) and in its topics (chart:5m).
	Name string
	// Title names the range for people: "Last 5 minutes".
	Title string
	// Label is its link among the ranges: "5 m".
	Label string
	// Span is how far back the chart goes.
	Span time.Duration
	// Step is the width of a metric page's columns, the finest the board
	// keeps of this range.
	Step time.Duration
	// Overview is how many steps make one column of the dashboard's
	// charts, the embedded widget's and the stream's.
	Overview int
}

// chartRanges are the ranges a chart offers, the default first. Each
// keeps Span/Step buckets per series (300, 360 and 288): a 24-hour chart
// costs no more than a 5-minute one, whatever the rate of the samples.
var chartRanges = [...]ChartRange{
	{Name: "5m", Title: "Last 5 minutes", Label: "5 m", Span: 5 * time.Minute, Step: time.Second, Overview: 5},
	{Name: "1h", Title: "Last hour", Label: "1 h", Span: time.Hour, Step: 10 * time.Second, Overview: 6},
	{Name: "24h", Title: "Last 24 hours", Label: "24 h", Span: 24 * time.Hour, Step: 5 * time.Minute, Overview: 4},
}

// ChartRanges returns the ranges a chart offers, the default first.
func ChartRanges() []ChartRange {
	r := chartRanges
	return r[:]
}

// DefaultChartRange is the range a chart shows unless asked otherwise.
func DefaultChartRange() ChartRange { return chartRanges[0] }

// ChartRangeNamed returns the range called name, and whether there is one.
func ChartRangeNamed(name string) (ChartRange, bool) {
	for _, r := range chartRanges {
		if r.Name == name {
			return r, true
		}
	}
	return ChartRange{}, false
}

// ChartRangeNames lists the ranges' names for an error message: "5m, 1h, 24h".
func ChartRangeNames() string {
	names := make([]string, len(chartRanges))
	for i, r := range chartRanges {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// ChartSize says how a series is drawn.
type ChartSize int

// The sizes of a chart.
const (
	// ChartOverview is a chart of the dashboard or the embedded widget:
	// columns of Overview steps, a value on hover in each.
	ChartOverview ChartSize = iota
	// ChartDetail is a metric's own page: a column per step, taller, a
	// value on hover in each.
	ChartDetail
	// ChartCompact is the zero-JavaScript stream's: overview columns,
	// shorter, and no per-column text (every update is sent whole).
	ChartCompact
)

// Column is the width of one column of a chart of size s over r.
func (r ChartRange) Column(s ChartSize) time.Duration {
	if s == ChartDetail {
		return r.Step
	}
	return r.Step * time.Duration(r.Overview)
}

// ChartEnd is the end of the newest column of width col that holds now:
// a chart drawn up to it stays the same, byte for byte, until a sample
// arrives or now reaches it, so an unchanged chart need not be sent again.
func ChartEnd(now time.Time, col time.Duration) time.Time {
	ms, w := now.UnixMilli(), col.Milliseconds()
	i := ms / w
	if ms%w < 0 {
		i--
	}
	return time.UnixMilli((i + 1) * w).UTC()
}

// Bucket sums up the samples of one column of a chart.
type Bucket struct {
	Start         time.Time
	N             int // samples in it; a chart's buckets all have one or more
	Min, Max, Sum float64
	Last          float64 // the newest sample's value
}

// Avg is the mean of the bucket's samples.
func (b Bucket) Avg() float64 {
	avg := b.Sum / float64(b.N)
	if math.IsInf(avg, 0) || math.IsNaN(avg) {
		// The sum of huge values overflowed; the midpoint does not.
		return b.Min/2 + b.Max/2
	}
	return avg
}

// Downsample merges buckets (oldest first) into columns of width col,
// aligned like ChartEnd: the samples of each column are summed up as if
// they had fallen into one bucket. Empty input gives nil.
func Downsample(buckets []Bucket, col time.Duration) []Bucket {
	var out []Bucket
	w := col.Milliseconds()
	for _, b := range buckets {
		ms := b.Start.UnixMilli()
		i := ms / w
		if ms%w < 0 {
			i--
		}
		start := time.UnixMilli(i * w).UTC()
		if n := len(out); n > 0 && out[n-1].Start.Equal(start) {
			o := &out[n-1]
			o.N += b.N
			o.Min, o.Max = min(o.Min, b.Min), max(o.Max, b.Max)
			o.Sum += b.Sum
			o.Last = b.Last
			continue
		}
		b.Start = start
		out = append(out, b)
	}
	return out
}

// Series is one measure as a chart draws it over one range.
type Series struct {
	Name string
	Unit string
	// Link is the series' own page; empty for the server's own series.
	Link string
	// Buckets hold the samples of the range, a column each, oldest
	// first; columns without a sample are left out.
	Buckets []Bucket
}

// SeriesChart is one series drawn over one range, up to End.
type SeriesChart struct {
	Series Series
	Range  ChartRange
	Size   ChartSize
	// End is the end of the newest column (ChartEnd); the chart shows
	// Range.Span before it.
	End time.Time
}

// Chart is the chart panel over one range: one figure per series, each
// already rendered (the board draws every series once per tick for every
// viewer; a page only puts the figures together).
type Chart struct {
	Range ChartRange
	// Nav links to the other ranges. A widget's panel has none: its links
	// would lose the widget's token.
	Nav bool
	// Figures are the series' figures (SeriesFigure), in order.
	Figures []templ.Component
}

// chartTitle is the heading of a chart panel over r.
func chartTitle(r ChartRange) string {
	if r.Title == "" {
		return DefaultChartRange().Title
	}
	return r.Title
}

// NiceTicks returns between 2 and about maxTicks+1 evenly spaced values
// at "nice" numbers (1, 2, 2.5 or 5 times a power of ten) that cover lo to
// hi, the first at or below lo and the last at or above hi, and their step.
// The axis starts at zero when the values are all on one side of it and
// zero is not much further from them than their spread; a single value
// gets an axis from zero to it. Values too large to step through evenly
// get just lo and hi, and step 0.
func NiceTicks(lo, hi float64, maxTicks int) ([]float64, float64) {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		return []float64{0, 1}, 1
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	maxTicks = max(maxTicks, 2)
	one := hi-lo <= max(math.Abs(lo), math.Abs(hi))*1e-9 // equal but for rounding
	switch {
	case one && lo == 0 && hi == 0:
		hi = 1
	case one && lo > 0:
		lo = 0
	case one && hi < 0:
		hi = 0
	case lo > 0 && lo <= hi-lo:
		lo = 0
	case hi < 0 && -hi <= hi-lo:
		hi = 0
	}
	span := hi - lo
	if math.IsInf(span, 0) || span < 1e-300 {
		return []float64{lo, hi}, 0
	}
	for step := niceStep(span / float64(maxTicks-1)); ; step = niceStep(step * 1.01) {
		// A value a rounding error past a tick is on it.
		first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
		n := int(last-first) + 1
		if math.IsInf(first*step, 0) || math.IsInf(last*step, 0) || n < 2 || n > 1000 {
			return []float64{lo, hi}, 0
		}
		if n > maxTicks+1 {
			continue
		}
		ticks := make([]float64, n)
		for i := range ticks {
			ticks[i] = (first + float64(i)) * step
			if ticks[i] == 0 {
				ticks[i] = 0 // no "-0"
			}
			if i > 0 && ticks[i] <= ticks[i-1] {
				return []float64{lo, hi}, 0 // steps below float precision
			}
		}
		return ticks, step
	}
}

// niceStep is the smallest of 1, 2, 2.5, 5 and 10 times a power of ten
// that is at least raw.
func niceStep(raw float64) float64 {
	exp := math.Floor(math.Log10(raw))
	pow := math.Pow(10, exp)
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*pow >= raw*(1-1e-12) {
			return m * pow
		}
	}
	return 10 * pow
}

// formatTick writes a value tick so that ticks step apart read apart:
// as many decimals as the step needs ("0.25", "2.5", "1,200"), with an
// exponent beyond what formatValue writes without one. Step 0 (no even
// steps) falls back to formatValue.
func formatTick(v, step float64) string {
	a := math.Abs(v)
	if step == 0 || a >= maxGrouped || step < 1e-3 {
		return formatValue(v)
	}
	exp := math.Floor(math.Log10(step) + 1e-9)
	decimals := max(0, int(-exp))
	if m := step / math.Pow(10, exp); math.Abs(m-2.5) < 1e-9 {
		decimals++ // 0.25, 2.5: one digit more than the power
	}
	s := trimZeros(strconv.FormatFloat(v, 'f', decimals, 64))
	whole, frac, hasFrac := strings.Cut(s, ".")
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return s
	}
	out := formatInt(n)
	if n == 0 && strings.HasPrefix(whole, "-") {
		out = "-0"
	}
	if hasFrac {
		out += "." + frac
	}
	if out == "-0" {
		return "0"
	}
	return out
}

// timeSteps are the steps time ticks may take.
var timeSteps = [...]time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// TimeTicks returns the times from from to to (both included) at the
// smallest step of timeSteps that makes at most maxTicks of them, aligned
// to multiples of the step in UTC (whole minutes, whole hours, midnight),
// and the step.
func TimeTicks(from, to time.Time, maxTicks int) ([]time.Time, time.Duration) {
	span := to.Sub(from)
	if span <= 0 {
		return nil, 0
	}
	maxTicks = max(maxTicks, 1)
	// The first multiple of a step at or after from.
	firstOf := func(step time.Duration) time.Time { return ChartEnd(from.Add(-time.Millisecond), step) }
	step := timeSteps[len(timeSteps)-1]
	for _, s := range timeSteps {
		if f := firstOf(s); f.After(to) || int64(to.Sub(f)/s)+1 <= int64(maxTicks) {
			step = s
			break
		}
	}
	first := firstOf(step)
	var ticks []time.Time
	for t := first; !t.After(to); t = t.Add(step) {
		ticks = append(ticks, t)
	}
	return ticks, step
}

// timeTickLabel writes a time tick: seconds when the step is below a
// minute, the date at midnight when it is hours, else hours and minutes.
func timeTickLabel(t time.Time, step time.Duration) string {
	label, _ := timeTick(t, step)
	return label
}

// timeTick is timeTickLabel with the format it used (data-format).
func timeTick(t time.Time, step time.Duration) (label, format string) {
	t = t.UTC()
	switch {
	case step < time.Minute:
		return t.Format("15:04:05"), TimeFormatSeconds
	case step >= time.Hour && t.Hour() == 0 && t.Minute() == 0:
		return t.Format("2 Jan"), TimeFormatDay
	default:
		return t.Format("15:04"), TimeFormatClock
	}
}

// chartShape is the geometry of one size of chart: the plot's top and
// bottom as percentages of the figure's height (text around it is placed
// in pixels, so a figure may be any width), the data's viewBox height, and
// how many ticks each axis gets.
type chartShape struct {
	top, bottom    float64
	height         int
	valueTicks     int
	timeTicks      int
	band, hover    bool
	class          string
	timeLabelRight float64 // time ticks right of this percentage are not labelled: the zone is
}

func (s ChartSize) shape() chartShape {
	switch s {
	case ChartDetail:
		return chartShape{top: 6, bottom: 88, height: 1000, valueTicks: 6, timeTicks: 8, band: true, hover: true, class: "plot-detail", timeLabelRight: 94}
	case ChartCompact:
		return chartShape{top: 14, bottom: 78, height: 100, valueTicks: 3, timeTicks: 4, class: "plot-compact", timeLabelRight: 86}
	default:
		return chartShape{top: 10, bottom: 82, height: 1000, valueTicks: 4, timeTicks: 6, band: true, hover: true, class: "plot-overview", timeLabelRight: 88}
	}
}

// axisTick is one labelled tick: where (a percentage of the figure's
// height or width, as SVG writes it) and what it says.
type axisTick struct {
	Pos    string
	Label  string
	Anchor string // text-anchor of a time tick: start, middle or end
	// At and Format, on a time tick, say which instant Label shows and how
	// (TimeFormatSeconds, TimeFormatClock or TimeFormatDay): Label is UTC,
	// for every viewer, and beacon-paint.js shows it in the viewer's zone.
	At, Format string
}

// hoverColumn is one column's hover target: its x in the data's viewBox
// and what it says.
type hoverColumn struct {
	X     int
	Title string
}

// chartGeom is everything a SeriesFigure writes, worked out in Go.
type chartGeom struct {
	ViewBox                 string // of the data
	Height                  string // of the data's viewBox, for hover targets
	Top, PlotHeight, Bottom string // percentages
	ValueTicks, TimeTicks   []axisTick
	Band, Line, Dots        string // path data; empty when there is nothing
	Spread                  string // the spread of columns without a neighbour, as bars
	Hover                   []hoverColumn
	// End is the chart's end (RFC 3339): the hover texts start with a UTC
	// clock time, and beacon-paint.js dates them from it, once per figure
	// rather than an instant on every column.
	End            string
	Last, Min, Max string // with the unit, or "–"
	Empty          bool
	Title, Desc    string
	Class          string
}

// pct writes a percentage for an SVG attribute with at most two decimals.
func pct(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + "%"
}

// geom works out c's figure. Columns are two viewBox units wide, so a
// column's centre and edges are whole numbers; values are rounded to whole
// units of the viewBox's height.
func (c SeriesChart) geom() chartGeom {
	sh := c.Size.shape()
	r := c.Range
	if r.Span <= 0 {
		r = DefaultChartRange()
	}
	col := r.Column(c.Size)
	cols := int(r.Span / col)
	from := c.End.Add(-r.Span)
	g := chartGeom{
		ViewBox: "0 0 " + strconv.Itoa(2*cols) + " " + strconv.Itoa(sh.height),
		Height:  strconv.Itoa(sh.height),
		Top:     pct(sh.top), PlotHeight: pct(sh.bottom - sh.top), Bottom: pct(sh.bottom),
		Class: sh.class, Last: "–", Min: "–", Max: "–",
		Title: c.Series.Name + ", " + strings.ToLower(chartTitle(r)[:1]) + chartTitle(r)[1:],
		End:   c.End.UTC().Format(time.RFC3339),
	}

	times, step := TimeTicks(from, c.End, sh.timeTicks)
	for _, t := range times {
		p := float64(t.Sub(from)) / float64(r.Span) * 100
		tick := axisTick{Pos: pct(p), Anchor: "middle"}
		switch {
		case p < 4:
			tick.Anchor = "start"
		case p > sh.timeLabelRight:
			tick.Anchor = "" // a gridline without a label: the zone's place
		}
		if tick.Anchor != "" {
			tick.Label, tick.Format = timeTick(t, step)
			tick.At = t.UTC().Format(time.RFC3339)
		}
		g.TimeTicks = append(g.TimeTicks, tick)
	}

	// Only the columns inside the chart count.
	var buckets []Bucket
	for _, b := range c.Series.Buckets {
		if b.N > 0 && !b.Start.Before(from) && b.Start.Before(c.End) && finite(b.Min) && finite(b.Max) && finite(b.Sum) {
			buckets = append(buckets, b)
		}
	}
	if len(buckets) == 0 {
		g.Empty = true
		g.Desc = "No samples in the " + strings.ToLower(chartTitle(r)) + "."
		return g
	}
	lo, hi := buckets[0].Min, buckets[0].Max
	samples := 0
	for _, b := range buckets {
		lo, hi = min(lo, b.Min), max(hi, b.Max)
		samples += b.N
	}
	last := buckets[len(buckets)-1].Last
	unit := c.Series.Unit
	g.Last, g.Min, g.Max = withUnit(formatValue(last), unit), withUnit(formatValue(lo), unit), withUnit(formatValue(hi), unit)
	g.Desc = "Last " + g.Last + ", min " + g.Min + ", max " + g.Max + "; " + plural(samples, "sample") +
		" from " + buckets[0].Start.UTC().Format("15:04:05") + " UTC."

	ticks, tstep := NiceTicks(lo, hi, sh.valueTicks)
	axisLo, axisHi := ticks[0], ticks[len(ticks)-1]
	h := float64(sh.height)
	y := func(v float64) int {
		// Halved so that values near ±MaxFloat64 do not overflow.
		f := (v/2 - axisLo/2) / (axisHi/2 - axisLo/2)
		return int(math.Round(h - math.Min(1, math.Max(0, f))*h))
	}
	for i, v := range ticks {
		label := formatTick(v, tstep)
		if i == len(ticks)-1 {
			label = withUnit(label, unit)
		}
		f := (v/2 - axisLo/2) / (axisHi/2 - axisLo/2)
		g.ValueTicks = append(g.ValueTicks, axisTick{Pos: pct(sh.bottom - f*(sh.bottom-sh.top)), Label: label})
	}

	// Columns further apart than a tenth of the range are not joined: a
	// line across a long silence would invent values.
	maxGap := max(1, cols/10)
	xOf := func(b Bucket) int { return int(b.Start.Sub(from) / col) }
	var line, band, spread, dots strings.Builder
	sparse := len(buckets)*4 <= cols
	runStart := 0
	flush := func(end int) { // the run buckets[runStart:end]
		run := buckets[runStart:end]
		for i, b := range run {
			x := 2*xOf(b) + 1
			if i == 0 {
				line.WriteString("M")
			} else if i == 1 {
				line.WriteString("L")
			} else {
				line.WriteByte(' ')
			}
			writePoint(&line, x, y(b.Avg()))
			if sparse || len(run) == 1 || runStart+i == len(buckets)-1 {
				dots.WriteString("M")
				writePoint(&dots, x, y(b.Avg()))
				dots.WriteString("h0")
			}
		}
		if !sh.band {
			return
		}
		if len(run) == 1 {
			// A column alone: its spread is a bar, not an area.
			if b := run[0]; y(b.Min) != y(b.Max) {
				spread.WriteString("M")
				writePoint(&spread, 2*xOf(b)+1, y(b.Max))
				spread.WriteString("V" + strconv.Itoa(y(b.Min)))
			}
			return
		}
		wide := false
		for _, b := range run {
			wide = wide || y(b.Min) != y(b.Max)
		}
		if !wide {
			return
		}
		band.WriteString("M")
		for i, b := range run {
			if i > 0 {
				band.WriteByte(' ')
			}
			writePoint(&band, 2*xOf(b)+1, y(b.Max))
		}
		for i := len(run) - 1; i >= 0; i-- {
			band.WriteByte(' ')
			writePoint(&band, 2*xOf(run[i])+1, y(run[i].Min))
		}
		band.WriteString("Z")
	}
	for i := 1; i <= len(buckets); i++ {
		if i == len(buckets) || xOf(buckets[i])-xOf(buckets[i-1]) > maxGap {
			flush(i)
			runStart = i
		}
	}
	g.Line, g.Band, g.Spread, g.Dots = line.String(), band.String(), spread.String(), dots.String()

	if sh.hover {
		g.Hover = make([]hoverColumn, len(buckets))
		for i, b := range buckets {
			g.Hover[i] = hoverColumn{X: 2 * xOf(b), Title: bucketTitle(b, col, unit)}
		}
	}
	return g
}

// writePoint appends "x y" to b.
func writePoint(b *strings.Builder, x, y int) {
	b.WriteString(strconv.Itoa(x))
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(y))
}

// bucketTitle is what hovering a column says: when it starts, and the
// value, or the mean and the spread of several: "12:03:05 · 42 jobs",
// "12:03:05 · avg 41.5 jobs (40–44)".
func bucketTitle(b Bucket, col time.Duration, unit string) string {
	format := "15:04:05"
	if col >= time.Minute {
		format = "15:04"
	}
	s := b.Start.UTC().Format(format) + " · "
	if b.N == 1 {
		return s + withUnit(formatValue(b.Avg()), unit)
	}
	return s + "avg " + withUnit(formatValue(b.Avg()), unit) + " (" + formatValue(b.Min) + "–" + formatValue(b.Max) + ")"
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// plural writes n and a noun: "1 sample", "12 samples".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return formatInt(int64(n)) + " " + noun + "s"
}

// SeriesPath is the path of a posted metric's page: /charts/queue%20depth
// (a name may hold "/" and spaces).
func SeriesPath(name string) string { return "/charts/" + url.PathEscape(name) }
