package main

// Browser test of accounts and notifications (issue #4): real headless
// Chromium tabs drive the real program through what people see: the sign-up
// form, the header's bell and its count, the Notifications page's list and
// its "Mark read" and "Mark all read" buttons.
//
// Each person has a browser context of their own (their own cookie jar, like
// a private window); one person's tabs share it, so they share the session.
// The tabs reuse browser_rooms_test.go's chatTab (do, follow, visit, the
// label and button finders, record) and browser_test.go's waitFor and
// console watch: an uncaught exception or a CSP violation in any tab fails
// the test.
//
// Waits are conditions, never sleeps.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/beacon-live/beacon/views"
)

// nbJS finds the parts of the account pages. It is evaluated inside
// browserHelpersJS's and rbJS's scope (norm, text, field, button).
var nbJS = `
// The header's bell: its data-unread, the count it shows and its name.
const bell = () => { const b = document.getElementById(` + jsValue(views.IDBell) + `);
	return b && {unread: b.dataset.unread, count: text(b.querySelector('.bell-count')), label: b.getAttribute('aria-label'),
		bells: document.querySelectorAll('#' + b.id).length}; };
const bellShows = n => { const b = bell(); return !!b && b.unread === String(n) && b.count === String(n) && b.bells === 1; };
// Who the header says is signed in: the account's link.
const signedInAs = () => text(document.querySelector('nav[aria-label="Account"] a[href="/settings"]'));
// The notifications as listed, top first.
const notes = () => { const l = document.getElementById(` + jsValue(views.IDNotifications) + `); return l ? [...l.children].map(li => {
	const t = li.querySelector('.title'); const b = li.querySelector('.state button');
	return {tag: li.tagName, id: li.id, title: t ? t.textContent : null, markup: t ? t.querySelectorAll(':not(bdi)').length : -1,
		read: text(li.querySelector('.state .read-label')), button: b ? norm(b.textContent) : ''}; }) : null; };
const noteByID = id => (notes() || []).find(n => n.id === id) || null;
`

// nb puts rbJS and nbJS in scope of expr.
func nb(expr string) string { return "(() => {" + rbJS + nbJS + "\nreturn (" + expr + ");\n})()" }

// nbNote is one notification as a page lists it.
type nbNote struct {
	Tag    string `json:"tag"`
	ID     string `json:"id"`
	Title  string `json:"title"`
	Markup int    `json:"markup"` // elements inside the title, but the <bdi> that isolates it
	Read   string `json:"read"`   // the "Read" label, or "" while unread
	Button string `json:"button"` // the "Mark read" button's text, or "" once read
}

func (n nbNote) unread() bool { return n.Read == "" && n.Button == "Mark read" }
func (n nbNote) isRead() bool { return n.Read == "Read" && n.Button == "" }

// nbBell is the header's bell as a page shows it.
type nbBell struct {
	Unread string `json:"unread"`
	Count  string `json:"count"`
	Label  string `json:"label"`
	Bells  int    `json:"bells"`
}

// newTabBeside opens another tab in beside's browser context: the same
// cookies, so the same person signed in.
func newTabBeside(t *testing.T, beside *chatTab, who string) *chatTab {
	t.Helper()
	return openTab(t, beside.ctx, who) // a tab inherits its parent's browser context
}

// signUpInBrowser makes an account through the sign-up form, as a person
// does, and waits until the dashboard it lands on is live and says who is
// signed in.
func signUpInBrowser(c *chatTab, in *instance, name, password string) {
	c.t.Helper()
	c.visit(in.URL + "/signup")
	c.waitFor(`the sign-up form`, rb(`!!field('Name') && !!field('Password') && !!button('Make my account')`), nil)
	c.do(`type the name `+name, sendKeys(rbField("Name"), name))
	c.do(`type a password`, sendKeys(rbField("Password"), password))
	if status := c.follow(`click "Make my account"`, chromedp.Click(rbButton("Make my account"))); status != http.StatusOK {
		c.t.Fatalf("%s: signing up as %s answered %d; the page: %s", c.who, name, status, c.summary())
	}
	var path string
	c.eval(`location.pathname`, &path)
	if path != "/" {
		c.t.Fatalf("%s: signing up as %s led to %s, want the dashboard /", c.who, name, path)
	}
	c.waitLive()
	c.checkSignedIn(name)
}

// openNotifications loads /notifications and waits until it is live.
func (c *chatTab) openNotifications(in *instance, name string) {
	c.t.Helper()
	c.visit(in.URL + "/notifications")
	c.waitLive()
	var page struct {
		Path, Heading string
	}
	c.eval(`({path: location.pathname, heading: text(document.querySelector('h1'))})`, &page)
	if page.Path != "/notifications" || page.Heading != "Notifications" {
		c.t.Fatalf("%s: /notifications shows %+v, want the Notifications page (is the tab signed in?)", c.who, page)
	}
	c.checkSignedIn(name)
}

// checkSignedIn fails the test unless the header names name.
func (c *chatTab) checkSignedIn(name string) {
	c.t.Helper()
	var who string
	c.eval(nb(`signedInAs()`), &who)
	if who != name {
		c.t.Fatalf("%s: the header says %q is signed in, want %s", c.who, who, name)
	}
}

// bellCount waits until the page's bell shows n unread, in data-unread and in
// its count, and checks its name.
func (c *chatTab) bellCount(n int) {
	c.t.Helper()
	var b nbBell
	c.waitFor(fmt.Sprintf("%s's bell to show %d", c.who, n), nb(`bellShows(`+jsValue(n)+`) && bell()`), &b)
	want := fmt.Sprintf("Notifications, %d unread", n)
	if n == 0 {
		want = "Notifications, none unread"
	}
	if b.Label != want {
		c.t.Errorf("%s: the bell is named %q, want %q", c.who, b.Label, want)
	}
}

// notes returns the page's notifications, top first.
func (c *chatTab) notes() []nbNote {
	c.t.Helper()
	var out []nbNote
	c.eval(nb(`notes()`), &out)
	return out
}

// waitTopNote waits until the page lists title at the top and returns the
// list.
func (c *chatTab) waitTopNote(title string) []nbNote {
	c.t.Helper()
	var out []nbNote
	c.waitFor(fmt.Sprintf("%q at the top of %s's notifications", title, c.who),
		nb(`notes() && notes().length > 0 && notes()[0].title === `+jsValue(title)+` && notes()`), &out)
	return out
}

// checkNotes fails the test unless the page lists exactly want (titles, top
// first, with these ids), each as text and with the read state want says.
func (c *chatTab) checkNotes(when string, want []nbNote) {
	c.t.Helper()
	got := c.notes()
	if len(got) != len(want) {
		c.t.Errorf("%s: %s lists %d notifications, want %d: %+v", when, c.who, len(got), len(want), got)
		return
	}
	for i, g := range got {
		w := want[i]
		ok := g.Tag == "LI" && g.ID == w.ID && g.Title == w.Title && g.Markup == 0
		if w.Read == "Read" {
			ok = ok && g.isRead()
		} else {
			ok = ok && g.unread()
		}
		if !ok {
			c.t.Errorf("%s: %s's notification %d is %+v, want a list item %s reading %q as plain text, read: %q (a \"Mark read\" button while unread)",
				when, c.who, i, g, w.ID, w.Title, w.Read)
		}
	}
}

// clickNoteButton clicks the button label of the notification id.
func (c *chatTab) clickNoteButton(id, label string) {
	c.t.Helper()
	c.do(fmt.Sprintf("click %q on %s", label, id),
		chromedp.Click(chromedp.Search(fmt.Sprintf(`//li[@id=%q]//button[normalize-space()=%q]`, id, label))))
}

// checkNotShown fails the test if the page holds any of words, as text or
// in its markup.
func (c *chatTab) checkNotShown(words ...string) {
	c.t.Helper()
	var page struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	}
	c.eval(`({text: document.body.innerText, html: document.documentElement.innerHTML})`, &page)
	for _, w := range words {
		if strings.Contains(page.Text, w) || strings.Contains(page.HTML, w) {
			c.t.Errorf("%s: the page holds %q, which was meant for someone else; its text:\n%s", c.who, w, page.Text)
		}
	}
}

// TestBrowserNotifications is issue #4's first "Done when": ann signs up and
// opens the dashboard; a notification POSTed for her appears live and the
// bell count rises; bob, signed in in another browser context, never sees
// it; marking it read in one of ann's tabs updates her other tabs.
func TestBrowserNotifications(t *testing.T) {
	in := startForBrowser(t)
	browser := newBrowserPage(t)

	// ann: the dashboard she lands on after signing up, and her
	// notifications in a second tab of the same browser context.
	annDash := newChatTab(t, browser, "ann's dashboard")
	signUpInBrowser(annDash, in, "ann", "correct horse ann")
	annDash.bellCount(0)
	annDash.setMarker()
	annDash.record("bell", nb(`(b => b && b.unread + '/' + b.count)(bell())`))
	annList := newTabBeside(t, annDash, "ann's notifications")
	annList.openNotifications(in, "ann")
	annList.bellCount(0)
	annList.checkNotes("before any notification", nil)
	annList.setMarker()
	// A room page of ann's goes live over its WebSocket, not SSE: her
	// topic rides on that one connection, and its bell is live too.
	annRoom := newTabBeside(t, annDash, "ann's room")
	annRoom.visit(in.URL + "/rooms/lobby")
	annRoom.waitFor(`ann's "Message" field and a live socket`,
		rb(`!!field('Message') && !!button('Send') && !field('Your name') && indicator().dataset.state === 'live'`), nil)
	annRoom.checkSignedIn("ann")
	annRoom.bellCount(0)

	// bob: the same in a browser context of his own.
	bobDash := newChatTab(t, browser, "bob's dashboard")
	signUpInBrowser(bobDash, in, "bob", "battery staple bob")
	bobDash.bellCount(0)
	bobDash.record("bell", nb(`(b => b && b.unread + '/' + b.count)(bell())`))
	bobList := newTabBeside(t, bobDash, "bob's notifications")
	bobList.openNotifications(in, "bob")
	bobList.record("list", nb(`JSON.stringify((notes() || []).map(n => n.title))`))

	// A notification for ann: live in both of her tabs, its markup as text.
	const deploy = `<b>deploy</b> done`
	browserPostNotification(t, in, "ann", deploy)
	annDash.bellCount(1)
	annList.bellCount(1)
	first := annList.waitTopNote(deploy)
	if len(first) != 1 || !strings.HasPrefix(first[0].ID, "notification-") {
		t.Fatalf("ann's notifications after the first: %+v, want one item with a notification-N id", first)
	}
	deployNote := nbNote{ID: first[0].ID, Title: deploy}
	annList.checkNotes("after the first notification", []nbNote{deployNote})
	var escaped bool
	annList.eval(`document.getElementById(`+jsValue(views.IDNotifications)+`).innerHTML.includes('&lt;b&gt;deploy&lt;/b&gt; done')
		&& document.querySelectorAll('#`+views.IDNotifications+` b').length === 0`, &escaped)
	if !escaped {
		t.Errorf("the title %q is not in ann's list as escaped text", deploy)
	}

	const payroll = "Payroll for March is ready"
	browserPostNotification(t, in, "ann", payroll)
	annDash.bellCount(2)
	annList.bellCount(2)
	annRoom.bellCount(2)
	second := annList.waitTopNote(payroll)
	payrollNote := nbNote{ID: second[0].ID, Title: payroll}
	if payrollNote.ID == deployNote.ID {
		t.Fatalf("both notifications have the id %s", deployNote.ID)
	}
	annList.checkNotes("after the second notification", []nbNote{payrollNote, deployNote})

	// bob: a notification of his own shows, so his stream is live and has
	// delivered everything before it; ann's never did.
	const invoice = "Invoice 42 was paid"
	browserPostNotification(t, in, "bob", invoice)
	bobDash.bellCount(1)
	bobList.bellCount(1)
	bobNotes := bobList.waitTopNote(invoice)
	bobList.checkNotes("after his own notification", []nbNote{{ID: bobNotes[0].ID, Title: invoice}})
	for _, p := range []*chatTab{bobDash, bobList} {
		p.checkNotShown("deploy", "Payroll")
	}

	// A third tab of ann's, opened now: still ann's (bob signed up in a
	// context of his own), and the server renders both, unread.
	annOther := newTabBeside(t, annDash, "ann's other notifications tab")
	annOther.openNotifications(in, "ann")
	annOther.bellCount(2)
	annOther.checkNotes("as rendered", []nbNote{payrollNote, deployNote})
	annOther.setMarker()

	// ann marks the top one read in her first notifications tab. The item
	// arrived live, so its form carries no CSRF token of its own: it sends
	// the page's (hx-include). Every tab of hers follows.
	annList.clickNoteButton(payrollNote.ID, "Mark read")
	annOther.waitFor(`"Read" on `+payrollNote.ID+` in ann's other tab`,
		nb(`(n => n && n.read === 'Read')(noteByID(`+jsValue(payrollNote.ID)+`))`), nil)
	annOther.bellCount(1)
	annDash.bellCount(1)
	annList.bellCount(1)
	annList.waitFor(`"Read" on `+payrollNote.ID+` in the tab it was clicked in`,
		nb(`(n => n && n.read === 'Read')(noteByID(`+jsValue(payrollNote.ID)+`))`), nil)
	readPayroll := payrollNote
	readPayroll.Read = "Read"
	for _, p := range []*chatTab{annList, annOther} {
		p.checkNotes("after marking the top one read", []nbNote{readPayroll, deployNote})
	}

	// "Mark all read" in the other tab (a form the server rendered).
	annOther.do(`click "Mark all read"`, chromedp.Click(rbButton("Mark all read")))
	annList.bellCount(0)
	annDash.bellCount(0)
	annOther.bellCount(0)
	annRoom.bellCount(0)
	readDeploy := deployNote
	readDeploy.Read = "Read"
	for _, p := range []*chatTab{annList, annOther} {
		p.waitFor(`every notification read in `+p.who, nb(`notes() && notes().every(n => n.read === 'Read')`), nil)
		p.checkNotes("after marking all read", []nbNote{readPayroll, readDeploy})
	}

	// bob's stream is still his: his next notification arrives after all of
	// ann's events, and his bell only ever counted his own.
	const shipped = "Order 7 shipped"
	browserPostNotification(t, in, "bob", shipped)
	bobDash.bellCount(2)
	bobList.bellCount(2)
	bobList.waitTopNote(shipped)
	for _, p := range []*chatTab{bobDash, bobList} {
		p.checkNotShown("deploy", "Payroll")
	}
	var bobBell, bobTitles, annBell []string
	bobDash.recorded("bell", &bobBell)
	if want := []string{"0/0", "1/1", "2/2"}; !slices.Equal(bobBell, want) {
		t.Errorf("bob's bell went through %q, want %q", bobBell, want)
	}
	bobList.recorded("list", &bobTitles)
	if want := []string{`[]`, jsValue([]string{invoice}), jsValue([]string{shipped, invoice})}; !slices.Equal(bobTitles, want) {
		t.Errorf("bob's notifications went through %q, want %q", bobTitles, want)
	}
	annDash.recorded("bell", &annBell)
	if want := []string{"0/0", "1/1", "2/2", "1/1", "0/0"}; !slices.Equal(annBell, want) {
		t.Errorf("ann's dashboard bell went through %q, want %q", annBell, want)
	}

	// Everything happened live: no tab of ann's was reloaded (a click that
	// htmx did not handle would have submitted the form and loaded a page).
	for _, p := range []*chatTab{annDash, annList, annOther} {
		p.checkMarker()
	}
}

// browserPostNotification sends a notification for user from Go, as a
// program would, with the server token.
func browserPostNotification(t *testing.T, in *instance, user, title string) {
	t.Helper()
	browserPost(t, in, "/api/notifications", "application/json", jsValue(map[string]string{"user": user, "title": title}))
}
