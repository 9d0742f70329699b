package views

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lo, hi   float64
		max      int
		want     []float64
		wantStep float64
	}{
		{"from zero", 0, 42, 4, []float64{0, 20, 40, 60}, 20},
		{"more ticks", 0, 42, 6, []float64{0, 10, 20, 30, 40, 50}, 10},
		{"one value starts at zero", 42, 42, 4, []float64{0, 20, 40, 60}, 20},
		{"zero alone", 0, 0, 4, []float64{0, 0.5, 1}, 0.5},
		{"a negative value ends at zero", -3, -3, 4, []float64{-3, -2, -1, 0}, 1},
		{"near zero reaches zero", 3, 40, 4, []float64{0, 20, 40}, 20},
		{"far from zero does not", 40, 42, 4, []float64{40, 41, 42}, 1},
		{"fifths", 10.1, 10.6, 4, []float64{10, 10.2, 10.4, 10.6}, 0.2},
		{"quarters", 10.1, 10.8, 4, []float64{10, 10.25, 10.5, 10.75, 11}, 0.25},
		{"two and a half", 101, 108, 4, []float64{100, 102.5, 105, 107.5, 110}, 2.5},
		{"both signs", -7, 12, 4, []float64{-10, 0, 10, 20}, 10},
		{"both signs, more ticks", -7, 12, 6, []float64{-10, -5, 0, 5, 10, 15}, 5},
		{"small values", 0.0012, 0.0047, 4, []float64{0, 0.002, 0.004, 0.006}, 0.002},
		{"small values far from zero", 0.0042, 0.0047, 4, []float64{0.0042, 0.0044, 0.0046, 0.0048}, 0.0002},
		{"large values", 0, 3.2e9, 4, []float64{0, 2e9, 4e9}, 2e9},
		{"reversed", 42, 0, 4, []float64{0, 20, 40, 60}, 20},
		{"equal but for rounding", 0.1 + 0.2, 0.3, 4, []float64{0, 0.1, 0.2, 0.3}, 0.1},
		{"extremes give just the ends", -math.MaxFloat64, math.MaxFloat64, 4, []float64{-math.MaxFloat64, math.MaxFloat64}, 0},
		{"NaN gives a unit axis", math.NaN(), 1, 4, []float64{0, 1}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, step := NiceTicks(tc.lo, tc.hi, tc.max)
			if !slices.EqualFunc(got, tc.want, func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }) || step != tc.wantStep {
				t.Errorf("NiceTicks(%v, %v, %d) = %v step %v, want %v step %v", tc.lo, tc.hi, tc.max, got, step, tc.want, tc.wantStep)
			}
		})
	}
}

func FuzzNiceTicks(f *testing.F) {
	f.Add(0.0, 42.0, 4)
	f.Add(-1e308, 1e308, 6)
	f.Add(1.0, 1.0000000001, 3)
	f.Add(5e-324, 1e-323, 4)
	f.Fuzz(func(t *testing.T, lo, hi float64, n int) {
		n = n%20 + 2
		if n < 2 {
			n += 20
		}
		ticks, step := NiceTicks(lo, hi, n)
		if len(ticks) < 2 || len(ticks) > n+1 && step != 0 {
			t.Fatalf("NiceTicks(%v, %v, %d) = %v: %d ticks", lo, hi, n, ticks, len(ticks))
		}
		for i, v := range ticks {
			if math.IsNaN(v) || math.IsInf(v, 0) || i > 0 && v <= ticks[i-1] {
				t.Fatalf("NiceTicks(%v, %v, %d) = %v: not finite and increasing", lo, hi, n, ticks)
			}
		}
		slack := 1e-8 * max(math.Abs(lo), math.Abs(hi)) // a rounding error past a tick is on it
		if !math.IsNaN(lo) && !math.IsNaN(hi) && !math.IsInf(lo, 0) && !math.IsInf(hi, 0) &&
			(ticks[0] > min(lo, hi)+slack || ticks[len(ticks)-1] < max(lo, hi)-slack) {
			t.Fatalf("NiceTicks(%v, %v, %d) = %v: does not cover the values", lo, hi, n, ticks)
		}
	})
}

func TestFormatTick(t *testing.T) {
	for _, tc := range []struct {
		v, step float64
		want    string
	}{
		{0, 20, "0"},
		{40, 20, "40"},
		{10.25, 0.25, "10.25"},
		{10.5, 0.25, "10.5"},
		{102.5, 2.5, "102.5"},
		{105, 2.5, "105"},
		{1200, 200, "1,200"},
		{1234.5, 0.5, "1,234.5"},
		{-1200, 200, "-1,200"},
		{0.002, 0.001, "0.002"},
		{-0.0, 1, "0"},
		{2e9, 2e9, "2,000,000,000"},
		{4e21, 2e21, "4e21"},
		{0.00002, 0.00001, "2e-5"},
		{3.333, 0, "3.33"},
	} {
		if got := formatTick(tc.v, tc.step); got != tc.want {
			t.Errorf("formatTick(%v, %v) = %q, want %q", tc.v, tc.step, got, tc.want)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	labels := func(ticks []time.Time, step time.Duration) string {
		var out []string
		for _, tk := range ticks {
			out = append(out, timeTickLabel(tk, step))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name     string
		from, to string
		max      int
		step     time.Duration
		want     string
	}{
		{"five minutes a minute apart", "2026-12-07T12:00:05Z", "2026-12-07T12:05:05Z", 5, time.Minute, "12:01 12:02 12:03 12:04 12:05"},
		{"five minutes, more ticks", "2026-12-07T12:00:05Z", "2026-12-07T12:05:05Z", 12, 30 * time.Second,
			"12:00:30 12:01:00 12:01:30 12:02:00 12:02:30 12:03:00 12:03:30 12:04:00 12:04:30 12:05:00"},
		{"an hour", "2026-12-07T11:07:00Z", "2026-12-07T12:07:00Z", 5, 15 * time.Minute, "11:15 11:30 11:45 12:00"},
		{"a day shows the date at midnight", "2026-12-07T12:05:00Z", "2026-12-08T12:05:00Z", 5, 6 * time.Hour, "18:00 8 Dec 06:00 12:00"},
		{"ends included", "2026-12-07T12:00:00Z", "2026-12-07T12:05:00Z", 6, time.Minute, "12:00 12:01 12:02 12:03 12:04 12:05"},
		{"a zone is shown in UTC", "2026-12-07T13:00:05+01:00", "2026-12-07T13:05:05+01:00", 5, time.Minute, "12:01 12:02 12:03 12:04 12:05"},
		{"nothing", "2026-12-07T12:00:00Z", "2026-12-07T12:00:00Z", 5, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ticks, step := TimeTicks(at(tc.from), at(tc.to), tc.max)
			if got := labels(ticks, step); step != tc.step || got != tc.want {
				t.Errorf("got %q step %v, want %q step %v", got, step, tc.want, tc.step)
			}
		})
	}
}

func TestChartEnd(t *testing.T) {
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now  time.Time
		col  time.Duration
		want time.Time
	}{
		{base, 5 * time.Second, base.Add(5 * time.Second)},
		{base.Add(4999 * time.Millisecond), 5 * time.Second, base.Add(5 * time.Second)},
		{base.Add(5 * time.Second), 5 * time.Second, base.Add(10 * time.Second)},
		{base.Add(7 * time.Minute), 5 * time.Minute, base.Add(10 * time.Minute)},
		{time.Unix(-1, 0), time.Second, time.Unix(0, 0)},
	} {
		if got := ChartEnd(tc.now, tc.col); !got.Equal(tc.want) {
			t.Errorf("ChartEnd(%v, %v) = %v, want %v", tc.now, tc.col, got, tc.want)
		}
	}
}

func TestDownsample(t *testing.T) {
	base := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	sec := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
	b := func(s int, vals ...float64) Bucket {
		out := Bucket{Start: sec(s), N: len(vals), Min: vals[0], Max: vals[0], Last: vals[len(vals)-1]}
		for _, v := range vals {
			out.Min, out.Max, out.Sum = min(out.Min, v), max(out.Max, v), out.Sum+v
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []Bucket
		col  time.Duration
		want []Bucket
	}{
		{"nothing", nil, 5 * time.Second, nil},
		{"one", []Bucket{b(3, 7)}, 5 * time.Second, []Bucket{b(0, 7)}},
		{"merged into a column", []Bucket{b(0, 1), b(1, 5, 2), b(4, 3)}, 5 * time.Second, []Bucket{{Start: sec(0), N: 4, Min: 1, Max: 5, Sum: 11, Last: 3}}},
		{"two columns, a gap kept", []Bucket{b(4, 1), b(5, 2), b(16, 3)}, 5 * time.Second, []Bucket{b(0, 1), b(5, 2), b(15, 3)}},
		{"same width: unchanged", []Bucket{b(1, 1), b(2, 2)}, time.Second, []Bucket{b(1, 1), b(2, 2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Downsample(tc.in, tc.col)
			if !slices.EqualFunc(got, tc.want, func(a, b Bucket) bool {
				return a.Start.Equal(b.Start) && a.N == b.N && a.Min == b.Min && a.Max == b.Max && a.Sum == b.Sum && a.Last == b.Last
			}) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if avg := (Bucket{N: 2, Min: math.MaxFloat64, Max: math.MaxFloat64, Sum: math.Inf(1)}).Avg(); avg != math.MaxFloat64 {
		t.Errorf("the mean of an overflowing sum = %v, want the midpoint", avg)
	}
}

func TestParseChartTopic(t *testing.T) {
	five, _ := ChartRangeNamed("5m")
	day, _ := ChartRangeNamed("24h")
	for _, tc := range []struct {
		topic string
		want  ChartTopic
		ok    bool
	}{
		{TopicChartRange(five), ChartTopic{Range: five}, true},
		{TopicServerChartRange(day), ChartTopic{Range: day, Server: true}, true},
		{TopicSeries(five, "queue depth"), ChartTopic{Range: five, Series: "queue depth"}, true},
		{TopicSeries(day, "a:b/c"), ChartTopic{Range: day, Series: "a:b/c"}, true},
		{"chart:7d", ChartTopic{}, false},
		{"chart", ChartTopic{}, false},
		{"chart:", ChartTopic{}, false},
		{"chart:5m:", ChartTopic{}, false},
		{"server-chart:5m:x", ChartTopic{}, false},
		{"server-chart", ChartTopic{}, false},
		{"metrics", ChartTopic{}, false},
	} {
		got, ok := ParseChartTopic(tc.topic)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseChartTopic(%q) = %+v %v, want %+v %v", tc.topic, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseChartTopic(f *testing.F) {
	for _, s := range []string{"chart:5m", "server-chart:1h", "chart:24h:queue depth", "chart:5m:", "chart::x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		ct, ok := ParseChartTopic(topic)
		if !ok {
			return
		}
		// Whatever parses is made again by the topic functions.
		again := TopicChartRange(ct.Range)
		switch {
		case ct.Server:
			again = TopicServerChartRange(ct.Range)
		case ct.Series != "":
			again = TopicSeries(ct.Range, ct.Series)
		}
		if again != topic {
			t.Fatalf("%q parsed as %+v, which is %q", topic, ct, again)
		}
	})
}

// chartAt is a chart of s over the default range, ending at the column
// after base's.
func chartAt(s Series, size ChartSize) SeriesChart {
	r := DefaultChartRange()
	return SeriesChart{Series: s, Range: r, Size: size, End: ChartEnd(base(), r.Column(size))}
}

func base() time.Time { return time.Date(2026, 12, 7, 12, 4, 58, 0, time.UTC) }

// col returns the bucket of the default range's overview column that
// starts colsAgo columns before the newest.
func col(colsAgo int, vals ...float64) Bucket {
	w := DefaultChartRange().Column(ChartOverview)
	start := ChartEnd(base(), w).Add(-w * time.Duration(colsAgo+1))
	b := Bucket{Start: start, N: len(vals), Min: vals[0], Max: vals[0], Last: vals[len(vals)-1]}
	for _, v := range vals {
		b.Min, b.Max, b.Sum = min(b.Min, v), max(b.Max, v), b.Sum+v
	}
	return b
}

var numbers = regexp.MustCompile(`-?[0-9]+(?:\.[0-9]+)?`)

// pathNumbers returns the numbers of an SVG path's data.
func pathNumbers(t *testing.T, d string) []int {
	t.Helper()
	var out []int
	for _, s := range numbers.FindAllString(d, -1) {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("path %q has a coordinate %q that is not a whole number", d, s)
		}
		out = append(out, n)
	}
	return out
}

func TestSeriesFigure(t *testing.T) {
	s := Series{Name: "queue depth", Unit: "jobs", Link: SeriesPath("queue depth"), Buckets: []Bucket{
		col(59, 10), col(40, 30, 50), col(39, 12), col(1, 3), col(0, 42, 40),
	}}
	doc := render(t, SeriesFigure(chartAt(s, ChartOverview)))
	fig := doc.Find("figure[data-series='queue depth']")
	if fig.Length() != 1 {
		t.Fatal("no figure for the series")
	}
	if a := fig.Find("figcaption a.series-name"); text(a) != "queue depth" || a.AttrOr("href", "") != "/charts/queue%20depth" {
		t.Errorf("the name links to %q, reads %q", a.AttrOr("href", ""), text(a))
	}
	stats := map[string]string{}
	fig.Find(".series-stats div").Each(func(_ int, d *goquery.Selection) { stats[text(d.Find("dt"))] = text(d.Find("dd")) })
	if stats["last"] != "40 jobs" || stats["min"] != "3 jobs" || stats["max"] != "50 jobs" {
		t.Errorf("stats = %v, want last 40, min 3, max 50 jobs", stats)
	}

	svg := fig.Children().Filter("svg")
	if role, _ := svg.Attr("role"); role != "img" {
		t.Errorf("svg role %q, want img", role)
	}
	if got := text(svg.ChildrenFiltered("title")); got != "queue depth, last 5 minutes" {
		t.Errorf("title %q", got)
	}
	if got := text(svg.ChildrenFiltered("desc")); !strings.HasPrefix(got, "Last 40 jobs, min 3 jobs, max 50 jobs; 7 samples from 12:00:00 UTC") {
		t.Errorf("desc %q", got)
	}

	var valueLabels, timeLabels []string
	svg.ChildrenFiltered("text.tick").Each(func(_ int, e *goquery.Selection) {
		if e.AttrOr("x", "") == "4" {
			valueLabels = append(valueLabels, text(e))
		} else {
			timeLabels = append(timeLabels, text(e))
		}
	})
	if got := strings.Join(valueLabels, " "); got != "0 20 40 60 jobs" {
		t.Errorf("value ticks %q, want 0 20 40 60 jobs", got)
	}
	if got := strings.Join(timeLabels, " "); got != "12:00 12:01 12:02 12:03 12:04 UTC" {
		t.Errorf("time ticks %q", got)
	}
	if n := svg.ChildrenFiltered("line.grid").Length(); n != 4+6 {
		t.Errorf("%d gridlines, want 4 for values and 6 for times", n)
	}

	data := svg.ChildrenFiltered("svg.data")
	if vb := data.AttrOr("viewBox", ""); vb != "0 0 120 1000" {
		t.Errorf("data viewBox %q, want 60 columns two units wide", vb)
	}
	// The line: columns 19 and 20 are a run, 58 and 59 another, 0 alone (a
	// gap of more than a tenth of the range breaks it). Means at x = 2·col+1.
	if d := data.Find("path.line").AttrOr("d", ""); d != "M1 833M39 333L41 800M117 950L119 317" {
		t.Errorf("line %q", d)
	}
	if d := data.Find("path.band").AttrOr("d", ""); d != "M39 167 41 800 41 800 39 500ZM117 950 119 300 119 333 117 950Z" {
		t.Errorf("band %q", d)
	}
	// Column 0, alone, has no spread to draw; a lone column with one would
	// be a bar (TestSeriesFigureYoungSeries).
	if data.Find("path.spread").Length() != 0 {
		t.Error("a lone column without spread has a bar")
	}
	// Sparse (5 of 60 columns): every column is a point too.
	if d := data.Find("path.dots").AttrOr("d", ""); strings.Count(d, "h0") != 5 {
		t.Errorf("dots %q, want 5", d)
	}
	hits := data.Find("rect")
	if hits.Length() != 5 {
		t.Fatalf("%d hover columns, want one per column with samples", hits.Length())
	}
	if x, title := hits.Eq(1).AttrOr("x", ""), text(hits.Eq(1).Find("title")); x != "38" || title != "12:01:35 · avg 40 jobs (30–50)" {
		t.Errorf("hover column x=%q says %q", x, title)
	}
	if title := text(hits.Eq(3).Find("title")); title != "12:04:50 · 3 jobs" {
		t.Errorf("a one-sample column says %q", title)
	}
}

// A young series is drawn where its samples are, on the whole time axis,
// as points: not stretched across the chart.
func TestSeriesFigureYoungSeries(t *testing.T) {
	s := Series{Name: "new", Buckets: []Bucket{col(30, 1, 2), col(1, 7), col(0, 9)}}
	doc := render(t, SeriesFigure(chartAt(s, ChartOverview)))
	data := doc.Find("svg.data")
	if d := data.Find("path.spread").AttrOr("d", ""); d != "M59 800V900" {
		t.Errorf("the lone column's spread %q, want a bar from 2 to 1", d)
	}
	xs := pathNumbers(t, data.Find("path.line").AttrOr("d", ""))
	if len(xs) != 6 || xs[0] != 59 || xs[2] != 117 || xs[4] != 119 {
		t.Errorf("line %v: want the columns where the samples are, the newest at the right edge", xs)
	}
	if d := data.Find("path.dots").AttrOr("d", ""); strings.Count(d, "h0") != 3 {
		t.Errorf("dots %q: a young series is drawn as points", d)
	}
	if ticks := doc.Find("svg.plot > text.tick"); !strings.Contains(text(ticks), "12:01") {
		t.Errorf("the time axis %q does not span the range", text(ticks))
	}
}

func TestSeriesFigureEmpty(t *testing.T) {
	doc := render(t, SeriesFigure(chartAt(Series{Name: "quiet", Unit: "ms"}, ChartOverview)))
	if doc.Find("svg.data path").Length() != 0 || doc.Find("svg.data rect").Length() != 0 {
		t.Error("an empty series draws something")
	}
	if got := text(doc.Find("svg.plot > desc")); got != "No samples in the last 5 minutes." {
		t.Errorf("desc %q", got)
	}
	if !strings.Contains(text(doc.Find("svg.plot > text")), "No samples in this range") {
		t.Error("the empty chart does not say so")
	}
	if got := text(doc.Find(".series-stats dd").First()); got != "–" {
		t.Errorf("last = %q, want –", got)
	}
}

// Values beyond every column are left out, and extreme ones stay inside.
func TestSeriesFigureBounds(t *testing.T) {
	s := Series{Name: "x", Buckets: []Bucket{
		{Start: base().Add(-time.Hour), N: 1, Min: 1e9, Max: 1e9, Sum: 1e9, Last: 1e9}, // before the range
		col(30, -math.MaxFloat64), col(20, math.MaxFloat64),
		{Start: base().Add(time.Hour), N: 1, Min: 5, Max: 5, Sum: 5, Last: 5}, // after it
	}}
	for _, size := range []ChartSize{ChartOverview, ChartDetail, ChartCompact} {
		c := chartAt(s, size)
		doc := render(t, SeriesFigure(c))
		vb := strings.Fields(doc.Find("svg.data").AttrOr("viewBox", ""))
		w, _ := strconv.Atoi(vb[2])
		h, _ := strconv.Atoi(vb[3])
		nums := pathNumbers(t, doc.Find("svg.data path.line").AttrOr("d", ""))
		if len(nums) != 4 {
			t.Fatalf("size %d: line through %v, want the two columns inside the range", size, nums)
		}
		for i, n := range nums {
			if limit := []int{w, h}[i%2]; n < 0 || n > limit {
				t.Errorf("size %d: coordinate %d outside 0..%d", size, n, limit)
			}
		}
	}
}

// The stream's compact chart: whole-number coordinates, its own columns,
// and nothing per column (no hover titles, no band).
func TestSeriesFigureCompact(t *testing.T) {
	s := Series{Name: "queue", Buckets: []Bucket{col(5, 1, 9), col(4, 2), col(3, 3), col(2, 4), col(1, 5), col(0, 6)}}
	doc := render(t, SeriesFigure(chartAt(s, ChartCompact)))
	if doc.Find("svg.data rect, svg.data title, path.band").Length() != 0 {
		t.Error("the compact chart has per-column elements")
	}
	if vb := doc.Find("svg.data").AttrOr("viewBox", ""); vb != "0 0 120 100" {
		t.Errorf("viewBox %q", vb)
	}
	pathNumbers(t, doc.Find("path.line").AttrOr("d", ""))
	if !strings.Contains(doc.Find("svg.plot").AttrOr("class", ""), "plot-compact") {
		t.Error("not drawn compact")
	}
}

// The detail chart has a column per step.
func TestSeriesFigureDetail(t *testing.T) {
	r := DefaultChartRange()
	end := ChartEnd(base(), r.Step)
	s := Series{Name: "x", Buckets: []Bucket{{Start: end.Add(-time.Second), N: 1, Min: 1, Max: 1, Sum: 1, Last: 1}}}
	doc := render(t, SeriesFigure(SeriesChart{Series: s, Range: r, Size: ChartDetail, End: end}))
	if vb := doc.Find("svg.data").AttrOr("viewBox", ""); vb != "0 0 600 1000" {
		t.Errorf("viewBox %q, want 300 columns", vb)
	}
	if x := doc.Find("svg.data rect").AttrOr("x", ""); x != "598" {
		t.Errorf("the newest second's column at x=%q", x)
	}
	if title := text(doc.Find("svg.data rect title")); title != "12:04:58 · 1" {
		t.Errorf("a one-second column says %q", title)
	}
}

func TestChartPanelRanges(t *testing.T) {
	r, _ := ChartRangeNamed("1h")
	doc := render(t, ChartPanel(Chart{Range: r, Nav: true}, false))
	if h := text(doc.Find("#" + IDChart + " h2")); h != "Last hour" {
		t.Errorf("heading %q", h)
	}
	var links []string
	doc.Find("nav[aria-label='Chart range'] a").Each(func(_ int, a *goquery.Selection) {
		links = append(links, text(a)+"="+a.AttrOr("href", "")+":"+a.AttrOr("aria-current", "-"))
	})
	if got := strings.Join(links, " "); got != "5 m=?range=5m:- 1 h=?range=1h:true 24 h=?range=24h:-" {
		t.Errorf("range links %q", got)
	}
	if doc.Find(".hint").Length() != 1 {
		t.Error("no hint for a chart without series")
	}
	widget := render(t, ChartPanel(Chart{Range: r}, false))
	if widget.Find("nav").Length() != 0 {
		t.Error("a widget's panel links to ranges")
	}
	static := render(t, ChartPanelStatic(Chart{Range: r, Figures: []templ.Component{SeriesFigure(chartAt(Series{Name: "a"}, ChartCompact))}}))
	if static.Find("[id]").Length() != 0 {
		t.Error("the stream's panel has ids")
	}
}

func TestSeriesChartPage(t *testing.T) {
	page := Page{Title: "queue depth", CSRF: "tok", Viewer: Viewer{ID: 1, Name: "ann", Admin: true}}
	fig := SeriesFigure(chartAt(Series{Name: "queue depth"}, ChartDetail))
	page.LiveURL = "/live?topics=chart%3A5m%3Aqueue+depth"
	doc := render(t, SeriesChartPage(SeriesPage{Page: page, Name: "queue depth", DeleteAction: "/charts/queue%20depth/delete",
		Panel: SeriesPanel{Range: DefaultChartRange(), Figure: fig}}))
	if h := text(doc.Find("h1")); h != "queue depth" {
		t.Errorf("h1 %q", h)
	}
	if got := doc.Find("#"+IDLive).AttrOr("hx-sse:connect", ""); got != page.LiveURL {
		t.Errorf("the page's live connection %q, want %q", got, page.LiveURL)
	}
	if doc.Find("section#"+IDSeriesChart+" figure[data-series='queue depth']").Length() != 1 {
		t.Error("no chart in the series panel")
	}
	form := doc.Find("form[method=post]").FilterFunction(func(_ int, f *goquery.Selection) bool {
		return f.AttrOr("action", "") == "/charts/queue%20depth/delete"
	})
	if form.Length() != 1 || form.Find("input[name="+FieldCSRF+"]").AttrOr("value", "") != "tok" || text(form.Find("button")) != "Delete queue depth" {
		t.Errorf("the delete form: %d, %q", form.Length(), text(form))
	}
	member := render(t, SeriesChartPage(SeriesPage{Page: page, Name: "queue depth", Panel: SeriesPanel{Range: DefaultChartRange(), Figure: fig}}))
	if member.Find("form[action$='/delete']").Length() != 0 {
		t.Error("a page without DeleteAction has the delete form")
	}
	gone := render(t, SeriesChartPanel(SeriesPanel{Range: DefaultChartRange()}, true))
	if text(gone.Find(".hint")) != "This series was deleted." || gone.Find("[hx-swap-oob]").Length() != 1 {
		t.Error("a deleted series' panel does not say so out of band")
	}
}
