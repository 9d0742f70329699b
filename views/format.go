package views

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ItemID is the DOM id of the activity item at position in the event log.
// Replays and resyncs use it to find an item, so it depends on nothing else.
func ItemID(position int64) string {
	return "act-" + strconv.FormatInt(position, 10)
}

// DefaultChartWindow is the span a chart shows when its Window is not set.
const DefaultChartWindow = 5 * time.Minute

// Sparkline geometry: every series is drawn into the same viewBox and CSS
// stretches it (the path uses a non-scaling stroke).
const (
	sparkWidth  = 120.0
	sparkHeight = 32.0
	sparkPad    = 2.0 // keeps the stroke of extreme values inside the box
)

// sparkViewBox is the viewBox attribute that matches SparklinePath.
var sparkViewBox = "0 0 " + coord(sparkWidth) + " " + coord(sparkHeight)

// SparklinePath returns the "d" attribute of an SVG path that draws points into
// a width×height box. x is time: the window that ends at now spans the width,
// and points older than the window are left out. y is the value scaled to the
// visible points' own min..max (larger values higher); when they are all
// equal the line runs through the middle. A single point becomes a dot (a
// zero-length segment, drawn by a round line cap). It returns "" when there
// is nothing to draw. NaN and infinite values are skipped.
func SparklinePath(points []Point, now time.Time, window time.Duration, width, height float64) string {
	if window <= 0 || width <= 0 || height <= 0 {
		return ""
	}
	start := now.Add(-window)
	visible := points[:0:0]
	for _, p := range points {
		if p.At.Before(start) || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			continue
		}
		visible = append(visible, p)
	}
	if len(visible) == 0 {
		return ""
	}
	lo, hi := visible[0].Value, visible[0].Value
	for _, p := range visible[1:] {
		lo, hi = min(lo, p.Value), max(hi, p.Value)
	}
	pad := min(sparkPad, height/4)
	x := func(at time.Time) float64 {
		f := float64(at.Sub(start)) / float64(window)
		return math.Min(1, math.Max(0, f)) * width
	}
	y := func(v float64) float64 {
		if hi == lo {
			return height / 2
		}
		// Halved so that values near ±MaxFloat64 do not overflow to Inf/Inf.
		return pad + (hi/2-v/2)/(hi/2-lo/2)*(height-2*pad)
	}
	var b strings.Builder
	for i, p := range visible {
		if i == 0 {
			b.WriteByte('M')
		} else {
			b.WriteString(" L")
		}
		b.WriteString(coord(x(p.At)))
		b.WriteByte(',')
		b.WriteString(coord(y(p.Value)))
	}
	if len(visible) == 1 {
		b.WriteString(" h0")
	}
	return b.String()
}

// coord formats an SVG coordinate with at most one decimal.
func coord(v float64) string {
	v = math.Round(v*10) / 10
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// seriesStats returns the latest and the largest value of the points of s
// inside the window that ends at now; ok is false when there is none.
func seriesStats(s Series, now time.Time, window time.Duration) (latest, peak float64, ok bool) {
	start := now.Add(-window)
	for _, p := range s.Points {
		if p.At.Before(start) || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			continue
		}
		if !ok || p.Value > peak {
			peak = p.Value
		}
		latest, ok = p.Value, true
	}
	return latest, peak, ok
}

// chartWindow is c.Window, or DefaultChartWindow when it is not set.
func chartWindow(c Chart) time.Duration {
	if c.Window <= 0 {
		return DefaultChartWindow
	}
	return c.Window
}

// seriesLabel is the accessible name of a series' chart, such as
// "requests/s over the last 5 minutes, now 12.3, max 40".
func seriesLabel(s Series, now time.Time, window time.Duration) string {
	latest, peak, ok := seriesStats(s, now, window)
	label := s.Name + " over the last " + durationText(window)
	if !ok {
		return label + ", no data yet"
	}
	return label + ", now " + withUnit(formatValue(latest), s.Unit) + ", max " + withUnit(formatValue(peak), s.Unit)
}

// seriesLatest is the latest value of a series with its unit, or "–".
func seriesLatest(s Series, now time.Time, window time.Duration) string {
	latest, _, ok := seriesStats(s, now, window)
	if !ok {
		return "–"
	}
	return withUnit(formatValue(latest), s.Unit)
}

// durationText spells a window for people: "5 minutes", "1 hour", "30 seconds".
func durationText(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s"
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	default:
		return plural(int64(d.Round(time.Second)/time.Second), "second")
	}
}

// withUnit joins a formatted value and its unit: "12 ms", "40%", "3/s".
func withUnit(value, unit string) string {
	switch {
	case unit == "":
		return value
	case strings.HasPrefix(unit, "%"), strings.HasPrefix(unit, "/"):
		return value + unit
	default:
		return value + " " + unit
	}
}

// formatInt formats n with thousands separators: 1234567 → "1,234,567".
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// formatValue formats a measured value for people, with about three
// significant digits: "1.23", "12.3", "0.00123", and whole numbers grouped,
// "1,234,567". Beyond what grouping keeps readable (10^15) and below 0.001
// it writes an exponent instead, "1.23e21", "4.5e-7": units are whatever a
// program posts ("jobs", "B", "%"), so an SI prefix would make "1.2 Zjobs".
// Large values are never converted to an integer type, which overflowed at
// 2^63. It writes "–" for NaN and infinities.
func formatValue(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		if r := math.Round(v); math.Abs(r) < maxGrouped {
			return formatInt(int64(r))
		}
		return scientific(v)
	case a >= 10:
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64))
	case a >= 1:
		return trimZeros(strconv.FormatFloat(v, 'f', 2, 64))
	}
	// Below 1: three significant digits, counted after rounding, so that
	// 0.0009996 is "0.001", not "1e-3".
	exp := exponent(strconv.FormatFloat(v, 'e', 2, 64))
	if exp < minDecimalExp {
		return scientific(v)
	}
	return trimZeros(strconv.FormatFloat(v, 'f', 2-exp, 64))
}

// The range formatValue writes without an exponent.
const (
	maxGrouped    = 1e15 // "999,999,999,999,999" is the longest grouped figure
	minDecimalExp = -3   // 0.001 is the smallest decimal figure
)

// scientific formats v with three significant digits and an exponent:
// "1.23e21", "-1e15", "4.94e-324".
func scientific(v float64) string {
	s := strconv.FormatFloat(v, 'e', 2, 64)
	mantissa, _, _ := strings.Cut(s, "e")
	return trimZeros(mantissa) + "e" + strconv.Itoa(exponent(s))
}

// exponent is the power of ten of a number formatted with 'e'.
func exponent(s string) int {
	_, e, _ := strings.Cut(s, "e")
	n, _ := strconv.Atoi(e) // "+21", "-07": Atoi takes the sign
	return n
}

// trimZeros drops trailing zeros after a decimal point, and the point itself.
func trimZeros(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// formatMillis formats a duration in milliseconds, without the unit: one
// decimal below 10 ms ("3.2"), whole milliseconds above ("41", "1,204").
func formatMillis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64)
	}
	return formatInt(int64(math.Round(ms)))
}

// formatMiB formats a byte count in MiB, without the unit: "12.3", "1,024".
func formatMiB(b uint64) string {
	mib := float64(b) / (1 << 20)
	if mib < 100 {
		return strconv.FormatFloat(mib, 'f', 1, 64)
	}
	return formatInt(int64(math.Round(mib)))
}

// Times. Every <time> element carries its instant in datetime (RFC 3339)
// and, for a page that runs no script, a text in UTC that says so
// ("14:03:05 UTC", "2 Jan 2026, 14:03 UTC"): a zero-JavaScript /stream/
// widget cannot know its viewer's zone. Every page that runs script rewrites
// each one in the viewer's zone and language before it is painted
// (static/beacon-paint.js, by the rules of its data-format: TimeFormat*).

// utcClock is the no-script text of a time that is always recent (a reading
// of the figures): the clock time, with seconds.
func utcClock(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }

// utcStamp is the no-script text of any other time: its date and clock time.
func utcStamp(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") }

// utcStampFrom is utcClock for a time on ref's day (in UTC), else utcStamp:
// a card of a panel measured at ref says only the time of a value from the
// same day.
func utcStampFrom(t, ref time.Time) string {
	ty, tm, td := t.UTC().Date()
	ry, rm, rd := ref.UTC().Date()
	if ty == ry && tm == rm && td == rd {
		return utcClock(t)
	}
	return utcStamp(t)
}

// utcTitle is the no-script tooltip of a time: the whole date and time.
func utcTitle(t time.Time) string { return t.UTC().Format("Monday 2 January 2006, 15:04:05 UTC") }

// machineTime is the datetime attribute of a <time> element.
func machineTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// safeLink returns link when it is an absolute http or https URL with a
// host, so that a posted activity can never carry a javascript: or data: URL.
func safeLink(link string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil || u.Host == "" {
		return "", false
	}
	if s := strings.ToLower(u.Scheme); s != "http" && s != "https" {
		return "", false
	}
	return u.String(), true
}

// paintScript is the script every page with script runs in its head, before
// anything is painted (not /stream/ widgets, which run none).
const paintScript = "/static/beacon-paint.js"

// scripts are the scripts of every page, in the order they must run: htmx,
// its SSE extension, then Beacon's own.
var scripts = []string{"/static/vendor/htmx.min.js", "/static/vendor/hx-sse.min.js", "/static/vendor/hx-ws.min.js", "/static/beacon.js", "/static/rooms.js"}

// titled is the document title of a page: "Dashboard · Beacon".
func titled(title string) string {
	if title == "" {
		return "Beacon"
	}
	return title + " · Beacon"
}

// bellLabel is the bell's accessible name.
func bellLabel(unread int) string {
	switch {
	case unread < 0:
		return "Notifications"
	case unread == 0:
		return "Notifications, none unread"
	case unread == 1:
		return "Notifications, 1 unread"
	}
	return "Notifications, " + strconv.Itoa(unread) + " unread"
}

// markReadPath is where the form that marks one notification read posts.
func markReadPath(pos int64) string {
	return "/notifications/" + strconv.FormatInt(pos, 10) + "/read"
}

// openPath is where a notification's title links: the server marks it read
// and redirects to the notification's own link.
func openPath(pos int64) string {
	return "/notifications/" + strconv.FormatInt(pos, 10) + "/open"
}

// nextQuery is "?next=…" for a local path to come back to, or "".
func nextQuery(next string) string {
	if next == "" {
		return ""
	}
	return "?next=" + url.QueryEscape(next)
}
