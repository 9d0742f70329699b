package main

// Browser tests of hostile or unusual text as Chromium paints it: a bidi
// override left open in a chat message, and a metric card with the longest
// name and a huge value. They measure what is painted (the boxes of the
// characters and elements), not only what is in the DOM.

import (
	"strings"
	"testing"
)

// paintedOrderJS returns, for the element el, the x position of the left
// edge of each character of its text as painted, in text order: a Range
// around one character at a time and its client rectangle.
const paintedOrderJS = `
const paintedXs = el => {
	const xs = [];
	const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
	for (let n = walk.nextNode(); n; n = walk.nextNode()) {
		for (let i = 0; i < n.data.length; i++) {
			const r = document.createRange();
			r.setStart(n, i);
			r.setEnd(n, i + 1);
			const b = r.getBoundingClientRect();
			if (b.width > 0) xs.push(Math.round(b.left * 10) / 10);
		}
	}
	return xs;
};
`

// TestBrowserOverrideDoesNotReverseTheTime: a chat message with an
// unterminated RIGHT-TO-LEFT OVERRIDE (U+202E) used to reverse everything
// after it on its line, the message's time included ("12:34:56" painted as
// "65:43:21"). Each character of the time must be painted to the right of
// the one before it, and the time to the right of the message's text, in
// a page loaded with the message and in one that receives it live.
func TestBrowserOverrideDoesNotReverseTheTime(t *testing.T) {
	in := rbStart(t)
	const room = "bidi"
	mallory := rbDialJSON(t, in, room, "mallory")
	mallory.say("\u202eevil")

	check := func(p *browserPage, when string) {
		t.Helper()
		var got struct {
			Time    string    `json:"time"`
			TimeXs  []float64 `json:"timeXs"`
			Content []float64 `json:"contentXs"`
		}
		p.waitFor("the message with the override, "+when, `(() => {`+paintedOrderJS+`
			const li = [...(list('Messages') || {children: []}).children].find(li => (li.textContent || '').includes('\u202eevil'));
			const time = li && li.querySelector('time');
			return time && {time: time.textContent, timeXs: paintedXs(time), contentXs: paintedXs(li.querySelector('.content'))};
		})()`, &got)
		// A message just sent reads "now" (issue #11: times in the
		// viewer's zone, relative within the hour): three characters are
		// enough to see an order reversed.
		if len(got.TimeXs) != len([]rune(got.Time)) || len(got.TimeXs) < 3 {
			t.Fatalf("%s: time %q painted at %v: want one box per character", when, got.Time, got.TimeXs)
		}
		for i := 1; i < len(got.TimeXs); i++ {
			if got.TimeXs[i] <= got.TimeXs[i-1] {
				t.Errorf("%s: the time %q is painted in the order %v: character %d is not right of the one before; the override leaked out of the message",
					when, got.Time, got.TimeXs, i+1)
				break
			}
		}
		if len(got.Content) > 0 && got.TimeXs[0] <= max(got.Content[0], got.Content[len(got.Content)-1]) {
			t.Errorf("%s: the time (from x=%v) is painted left of the message's text (x %v)", when, got.TimeXs[0], got.Content)
		}
	}

	p := newBrowserPage(t)
	p.open(in.URL + "/rooms/" + room)
	check(p, "on a page loaded with it")

	mallory.say("\u202eevil again")
	check(p, "arriving live")
}

// TestBrowserMetricCardHoldsLongText: metrics with a 64-character name (no
// space to break at), a 16-character unit and values beyond 2^63 or at the
// longest grouped figure show their value as formatted (not
// -9,223,372,036,854,775,808), and everything of their card is painted
// inside the card, which stays inside its panel and the page; a figure that
// does not fit is cut short with its whole text in its title.
func TestBrowserMetricCardHoldsLongText(t *testing.T) {
	in := startForBrowser(t)
	unit := strings.Repeat("u", 16)
	cards := []struct{ name, value, want string }{
		{strings.Repeat("m", 64), "1e300", "1e300 " + unit},
		{strings.Repeat("n", 64), "-999999999999999", "-999,999,999,999,999 " + unit},
	}
	for _, c := range cards {
		browserPostMetric(t, in, c.name, c.value, unit)
	}

	p := newBrowserPage(t)
	p.open(in.URL + "/")
	clipped := 0
	for _, c := range cards {
		var got struct {
			Figure      string   `json:"figure"`
			FigureTitle string   `json:"figureTitle"`
			NameTitle   string   `json:"nameTitle"`
			Clipped     bool     `json:"clipped"`
			Outside     []string `json:"outside"`
			PageWider   bool     `json:"pageWider"`
		}
		p.waitFor("the card of "+c.value, `(() => {
			const c = card(`+jsValue(c.name)+`, region('Metrics'));
			if (!c) return null;
			const box = c.getBoundingClientRect(), panel = region('Metrics').getBoundingClientRect();
			const outside = [];
			const inside = (r, o) => r.left >= o.left - 0.5 && r.right <= o.right + 0.5;
			if (!inside(box, panel)) outside.push('the card ' + box.left + '…' + box.right + ' in the panel ' + panel.left + '…' + panel.right);
			// Every run of text as painted: a Range's box, less what an
			// ancestor clips (overflow), must be inside the card.
			const walk = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
			for (let n = walk.nextNode(); n; n = walk.nextNode()) {
				if (!n.data.trim()) continue;
				const range = document.createRange();
				range.selectNodeContents(n);
				for (const rect of range.getClientRects()) {
					let r = {left: rect.left, right: rect.right};
					for (let a = n.parentElement; a && a !== c; a = a.parentElement) {
						if (getComputedStyle(a).overflowX !== 'visible') {
							const ar = a.getBoundingClientRect();
							r = {left: Math.max(r.left, ar.left), right: Math.min(r.right, ar.right)};
						}
					}
					if (!inside(r, box)) outside.push(JSON.stringify(n.data.slice(0, 20)) + ' at ' + r.left + '…' + r.right + ' in the card ' + box.left + '…' + box.right);
				}
			}
			const f = c.querySelector('dd.figure');
			return {figure: text(f), figureTitle: f.getAttribute('title'), nameTitle: c.querySelector('dt').getAttribute('title'),
				clipped: f.scrollWidth > f.clientWidth, outside,
				pageWider: document.documentElement.scrollWidth > document.documentElement.clientWidth};
		})()`, &got)
		if got.Figure != c.want {
			t.Errorf("the card of %s shows %q, want %q", c.value, got.Figure, c.want)
		}
		for _, o := range got.Outside {
			t.Errorf("the card of %s: painted outside its box: %s", c.value, o)
		}
		if got.PageWider {
			t.Errorf("with the card of %s the page scrolls sideways", c.value)
		}
		if got.Clipped {
			clipped++
			if got.FigureTitle != c.want {
				t.Errorf("the figure %q is cut short but its title is %q, want the whole of it", got.Figure, got.FigureTitle)
			}
		}
		if got.NameTitle != c.name {
			t.Errorf("the name's title is %q, want the whole name", got.NameTitle)
		}
		t.Logf("%s: figure %q, cut short: %v", c.value, got.Figure, got.Clipped)
	}
	if clipped == 0 {
		t.Error("no figure was cut short: the test did not see an ellipsis")
	}
}
