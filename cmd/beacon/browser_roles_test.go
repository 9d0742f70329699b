package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Browser tests of roles: what an admin and a member see, and a widget
// token made with the "Embed" button, listed and revoked on /settings.

// widgetRowsJS reads the settings page's widget tokens as shown: the cells
// of each row of the table under the heading "Widget tokens".
const widgetRowsJS = `(() => { const r = region('Widget tokens'); const t = r && r.querySelector('table');
	return t ? [...t.tBodies[0].rows].map(tr => [...tr.cells].map(td => text(td))) : []; })()`

func TestBrowserSettingsWidgetTokens(t *testing.T) {
	in := startForBrowser(t)
	browser := newBrowserPage(t)
	admin := newChatTab(t, browser, "the admin")
	signUpInBrowser(admin, in, "ann", "password-of-ann")

	// The chart panel's "Embed" button makes a widget (htmx, a fragment back).
	admin.do(`open the chart's "Embed"`, chromedp.Click(chromedp.Search(`//form[input[@name="widget" and @value="chart"]]/parent::details/summary`)))
	admin.do(`type the site`, sendKeys(chromedp.Search(
		`//form[input[@name="widget" and @value="chart"]]//label[normalize-space()="Sites that may embed it"]/following-sibling::input[1]`), "https://blog.example"))
	admin.do(`click "Make snippet"`, chromedp.Click(chromedp.Search(`//form[input[@name="widget" and @value="chart"]]//button[normalize-space()="Make snippet"]`)))
	var snippet string
	admin.waitFor("the chart's snippet", `(s => s && s.value.includes('/embed/chart?token=') && s.value)(document.getElementById('snippet-chart'))`, &snippet)

	admin.visit(in.URL + "/settings")
	admin.waitLive()
	var rows [][]string
	admin.waitFor("the widget token listed", widgetRowsJS+`.length > 0 && `+widgetRowsJS, &rows)
	if len(rows) != 1 || rows[0][0] != "chart" || rows[0][1] != "no" || rows[0][2] != "https://blog.example" || rows[0][4] != "ann" || rows[0][5] != "Revoke" {
		t.Fatalf("the widget tokens on the admin's settings: %q; want the chart widget for https://blog.example by ann, with Revoke", rows)
	}
	var scopes []string
	admin.eval(`[...document.querySelectorAll('input[name="scope"]')].map(i => i.value)`, &scopes)
	if strings.Join(scopes, " ") != "ingest:metrics ingest:activity notify chat read" {
		t.Errorf("the admin's token form offers scopes %q", scopes)
	}

	if status := admin.follow(`click "Revoke" on the widget`, chromedp.Click(chromedp.Search(`//section[.//h2[normalize-space()="Widget tokens"]]//button[normalize-space()="Revoke"]`))); status != http.StatusOK {
		t.Fatalf("revoking: %d; the page: %s", status, admin.summary())
	}
	admin.waitFor("the widget token shown as revoked", widgetRowsJS+`.length === 1 && `+widgetRowsJS+`[0][5] === 'revoked'`, nil)
	tok := snippet[strings.Index(snippet, "token=")+len("token="):]
	tok = tok[:strings.IndexAny(tok, `&"`)]
	if resp, body := peek(t, streamClient(t), in.URL+"/embed/chart?token="+tok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked widget: %d %.200s", resp.StatusCode, body)
	}

	// A member: no server panel, only the scopes that act as itself, no
	// posting widgets.
	member := newChatTab(t, browser, "a member")
	signUpInBrowser(member, in, "bob", "password-of-bob")
	var shown struct {
		Server  bool   `json:"server"`
		Metrics bool   `json:"metrics"`
		Heading string `json:"heading"`
	}
	member.eval(`({server: !!region('Server'), metrics: !!region('Metrics'), heading: text(document.querySelector('h1'))})`, &shown)
	if shown.Server || !shown.Metrics {
		t.Errorf("a member's dashboard: %+v; want the Metrics panel and no Server panel", shown)
	}
	member.visit(in.URL + "/rooms/lobby")
	member.do(`open the room's "Embed"`, chromedp.Click(chromedp.Search(`//details[contains(@class, "embed-control")]/summary`)))
	var offer struct {
		Post bool   `json:"post"`
		Hint string `json:"hint"`
	}
	member.eval(`({post: !!document.querySelector('.embed-control input[name="post"]'), hint: text(document.querySelector('.embed-control .hint'))})`, &offer)
	if offer.Post || !strings.Contains(offer.Hint, "admin") {
		t.Errorf("a member's room Embed form: %+v; want no \"Visitors may post\", and a word that admins make those", offer)
	}
	member.visit(in.URL + "/settings")
	member.waitLive()
	var memberPage struct {
		Scopes string `json:"scopes"`
		Hint   string `json:"hint"`
		Rows   int    `json:"rows"`
	}
	member.eval(`({scopes: [...document.querySelectorAll('input[name="scope"]')].map(i => i.value).join(' '),
		hint: text(region('API tokens') && region('API tokens').querySelector('.hint')), rows: `+widgetRowsJS+`.length})`, &memberPage)
	if memberPage.Scopes != "chat read" || !strings.Contains(memberPage.Hint, "only an admin makes them") || memberPage.Rows != 0 {
		t.Errorf("a member's settings: %+v; want the scopes chat and read, the reason there are no others, and none of the admin's widgets", memberPage)
	}
	t.Logf("the admin's widget row: %q", rows[0])
}
