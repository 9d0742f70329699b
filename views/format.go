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

// pageScripts are the scripts of Beacon's own pages (Layout): scripts, then
// tabs.js, which lets a browser's tabs share one live connection. Widgets
// (WidgetPage) keep one of their own: their frames belong to other sites.
var pageScripts = append(scripts[:len(scripts):len(scripts)], "/static/tabs.js")

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
