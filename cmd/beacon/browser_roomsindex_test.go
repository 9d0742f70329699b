package main

// Browser test of the rooms index and the online list (issue 11, item 9),
// through what a person sees: the list named "Rooms" (each room's name,
// unread count, message count, newest message and who is in it) and the
// list named "Online now". What is checked is painted: visible, with a box,
// and what the page shows at that point.

import (
	"fmt"
	"testing"
	"time"
)

// ixJS reads the index as a person does. It is evaluated inside the scope
// of browserHelpersJS and rbJS.
var ixJS = `
// painted: shown, with a box, and what the page shows at its middle.
const painted = el => { if (!el || !el.checkVisibility({opacityProperty: true, visibilityProperty: true})) return false;
	const r = el.getBoundingClientRect(); if (r.width <= 0 || r.height <= 0) return false;
	const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); return !!hit && (hit === el || el.contains(hit)); };
const shown = el => painted(el) ? text(el) : '';
const ixRooms = () => { const l = list('Rooms'); return l ? [...l.children].map(li => ({
	name: shown(li.querySelector('.room-link')), unread: shown(li.querySelector('.unread')), count: shown(li.querySelector('.count')),
	author: shown(li.querySelector('.preview .author')), preview: shown(li.querySelector('.preview .content')),
	inRoom: [...li.querySelectorAll('.in-room li')].map(shown)})) : null; };
const ixRoom = name => (ixRooms() || []).find(r => r.name === '# ' + name) || null;
const onlineNow = () => { const l = list('Online now'); return l ? [...l.children].map(shown) : []; };
`

// ix puts the helpers in scope of expr.
func ix(expr string) string { return "(() => {" + rbJS + ixJS + "\nreturn (" + expr + ");\n})()" }

// ixRoom is a room of the index as painted.
type ixPainted struct {
	Name    string   `json:"name"`
	Unread  string   `json:"unread"`
	Count   string   `json:"count"`
	Author  string   `json:"author"`
	Preview string   `json:"preview"`
	InRoom  []string `json:"inRoom"`
}

// waitRoom waits until the index shows room as want (name and the fields
// set in want; InRoom always compared).
func (c *chatTab) waitRoom(what, room string, want ixPainted) {
	c.t.Helper()
	cond := fmt.Sprintf(`(r => r && r.count === %s && r.unread === %s && r.author === %s && r.preview === %s && JSON.stringify(r.inRoom) === %s && r)(ixRoom(%s))`,
		jsValue(want.Count), jsValue(want.Unread), jsValue(want.Author), jsValue(want.Preview), jsValue(jsValue(want.InRoom)), jsValue(room))
	c.waitFor(fmt.Sprintf("%s: %s's index to show %s as %+v", what, c.who, room, want), ix(cond), nil)
}

// waitOnlineNow waits until the "Online now" list reads names, and returns
// the page's Date.now() when it did.
func (c *chatTab) waitOnlineNow(names ...string) int64 {
	c.t.Helper()
	var at int64
	c.waitFor(fmt.Sprintf("%s's Online now list to read %q", c.who, names),
		ix(`JSON.stringify(onlineNow()) === `+jsValue(jsValue(names))+` && Date.now()`), &at)
	return at
}

// TestBrowserRoomsIndex: ann finds a room with history and nobody in it on
// the index, with its count and newest message; bob's new messages, in
// another browser, update her index as they are sent, with her unread
// count; opening the room in another tab clears that count in the index,
// and what she then sees there is not counted;
// "Online now" lists bob while he is on another page, and drops him once he
// has left and the grace period has passed, not before.
func TestBrowserRoomsIndex(t *testing.T) {
	in := rbStart(t, "--presence-grace", rbGrace.String())
	browser := newBrowserPage(t)
	ann := newChatTab(t, browser, "ann")
	bob := newChatTab(t, browser, "bob")
	signUpInBrowser(ann, in, "ann", "password-of-ann")
	signUpInBrowser(bob, in, "bob", "password-of-bob")

	// bob starts ops; ann reads it; both move on: ann to the index, bob to
	// the dashboard (another live page).
	bob.visit(in.URL + "/rooms/ops")
	bob.waitLive()
	bob.say("deploying <v2>")
	bob.waitMessage("bob", "deploying <v2>")
	ann.visit(in.URL + "/rooms/ops")
	ann.waitLive()
	ann.waitMessage("bob", "deploying <v2>")
	ann.visit(in.URL + "/rooms")
	ann.waitLive()
	bob.visit(in.URL + "/")
	bob.waitLive()

	ann.waitRoom("history, nobody in the room", "ops", ixPainted{Count: "1 message", Author: "bob", Preview: "deploying <v2>", InRoom: []string{}})
	ann.waitOnlineNow("ann", "bob")

	// bob comes back to ops and says two more: ann's index follows, live,
	// and counts them unread for her.
	var marked int64
	ann.eval(`window.__ixMarker = 1`, nil)
	bob.visit(in.URL + "/rooms/ops")
	bob.waitLive()
	bob.say("rolled back")
	bob.waitMessage("bob", "rolled back") // and the form is back, cleared
	bob.say("sorry")
	bob.waitMessage("bob", "sorry")
	ann.waitRoom("bob's new messages", "ops", ixPainted{Unread: "2 unread", Count: "3 messages", Author: "bob", Preview: "sorry", InRoom: []string{"bob"}})
	ann.eval(`window.__ixMarker`, &marked)
	if marked != 1 {
		t.Errorf("ann's index was reloaded to show bob's messages; want them live")
	}

	// ann opens ops in another tab: her index tab's count goes.
	annRoom := newTabBeside(t, ann, "ann's second tab")
	annRoom.visit(in.URL + "/rooms/ops")
	annRoom.waitLive()
	annRoom.waitMessage("bob", "sorry")
	ann.waitRoom("ann opened ops", "ops", ixPainted{Count: "3 messages", Author: "bob", Preview: "sorry", InRoom: []string{"ann", "bob"}})

	// While ann's room tab shows the newest message, what bob says is read:
	// her room page tells the server, and her index never keeps it unread.
	bob.say("one more")
	annRoom.waitMessage("bob", "one more")
	ann.waitRoom("a message ann saw in her room tab", "ops", ixPainted{Count: "4 messages", Author: "bob", Preview: "one more", InRoom: []string{"ann", "bob"}})
	annRoom.close()

	// bob leaves: off the list once the grace period has passed.
	ann.waitOnlineNow("ann", "bob")
	var before int64
	ann.eval(`Date.now()`, &before)
	bob.close()
	left := ann.waitOnlineNow("ann")
	gone := time.Duration(left-before) * time.Millisecond
	t.Logf("bob left ann's Online now list %v after his tab closed (grace %v)", gone, rbGrace)
	if gone < rbGrace {
		t.Errorf("bob left the Online now list %v after his tab closed, before the grace period of %v", gone, rbGrace)
	}
	ann.waitRoom("everyone left ops", "ops", ixPainted{Count: "4 messages", Author: "bob", Preview: "one more", InRoom: []string{}})
}
