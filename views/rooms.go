package views

import "strconv"

// RoomsIndex is the view model of GET /rooms.
type RoomsIndex struct {
	Page
	// Rooms are the rooms of this page: on the first, every room with
	// people in it, then those with the newest messages.
	Rooms []IndexRoom
	// Reads are how far the viewer has read the rooms they opened or
	// posted in; nil when nobody is signed in.
	Reads []RoomUnread
	// UnreadCap is the largest unread count the server counts; a count
	// that reaches it reads "99+" (for 100).
	UnreadCap int
	// Older is the position to page back from (?before=); 0 when no older
	// room is left.
	Older int64
	// LookBack is an older page: it does not go live.
	LookBack bool
	Online   OnlineNow
	// LiveURL is the page's SSE URL; empty for an older page.
	LiveURL string
}

// IndexRoom is a room as the index lists it.
type IndexRoom struct {
	Name     string
	Messages int64
	// Last is the newest message (a preview of its content), with a zero
	// Position when the room has none; LastUserID its author's account (0:
	// a guest), so that a page can tell its viewer's own.
	Last       Message
	LastUserID int64
	// Online is who is in the room now, sorted.
	Online []string
}

// RoomUnread is how far the viewer has read a room: Unread messages by
// others (at most RoomsIndex.UnreadCap) when it had Messages messages.
type RoomUnread struct {
	Room     string
	Unread   int
	Messages int64
}

// OnlineNow is who is connected to the site, on any live page.
type OnlineNow struct {
	People []Person // sorted by name, at most OnlineShown
	More   int      // how many more are online
}

// Person is someone online: an account, or a guest under a chosen name.
type Person struct {
	Name  string
	Guest bool
}

// unreadText is what an unread count reads: "" for none, "3 unread",
// "99+ unread" when it reached limit (100).
func unreadText(n, limit int) string {
	switch {
	case n <= 0:
		return ""
	case limit > 0 && n >= limit:
		return strconv.Itoa(limit-1) + "+ unread"
	}
	return strconv.Itoa(n) + " unread"
}

// unreadOf is the viewer's unread count of room: what they had not read
// when it was counted, and every message since, unless the newest is their
// own (posting reads the room up to one's message). static/rooms.js keeps
// the count the same way as the list changes.
func unreadOf(reads []RoomUnread, viewer int64, room IndexRoom) int {
	for _, r := range reads {
		if r.Room != room.Name {
			continue
		}
		if room.Messages > r.Messages && room.LastUserID == viewer && viewer != 0 {
			return 0
		}
		return r.Unread + int(max(0, room.Messages-r.Messages))
	}
	return 0
}

// messagesText counts messages for people: "1 message", "1,204 messages".
func messagesText(n int64) string {
	if n == 1 {
		return "1 message"
	}
	return formatInt(n) + " messages"
}
