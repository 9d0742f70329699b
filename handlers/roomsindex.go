package handlers

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

// maxReadsShown bounds how many rooms' read positions an index page
// carries (the viewer's rooms with the newest messages): a room beyond them
// shows no unread count until the page is loaded again.
const maxReadsShown = 500

// roomReads reads and records how far accounts have read rooms.
type roomReads interface {
	RoomReads(ctx context.Context, userID int64, limit int) ([]db.RoomRead, int64, error)
	RoomReadPosition(ctx context.Context, userID int64, room string) (int64, error)
	ReadRoom(ctx context.Context, userID int64, room string, position int64) (db.RoomRead, error)
}

// roomsDirectory is what the index page reads of the Directory.
type roomsDirectory interface {
	indexRooms(ctx context.Context, before int64) ([]views.IndexRoom, int64, error)
	Online() views.OnlineNow
}

// roomsIndex serves the rooms index and records reads of rooms.
type roomsIndex struct {
	dir    roomsDirectory
	reads  roomReads
	unread unreadReader
	log    logHead
	epoch  string
}

// handleIndex serves GET /rooms: every room with messages or people in it
// (a page of them; ?before= pages back), who is online now, and for a
// signed-in viewer how many messages of each room they have not read. The
// list and the online list are shared by every viewer and go live on their
// state topics; the unread counts are the viewer's: rendered here, raised
// by the page as the shared list's counts grow (static/rooms.js) and put
// right by the account's topic whenever it reads a room further, from any
// page. GET /rooms?name= is the "open a room" form.
func (ix *roomsIndex) handleIndex(c echo.Context) error {
	if c.QueryParams().Has("name") {
		return handleOpenRoom(c)
	}
	before, err := optionalPosition(c.QueryParam("before"), "before")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	page, head, err := pageFor(c, ix.unread, "Rooms")
	if err != nil {
		return err
	}
	list, older, err := ix.dir.indexRooms(ctx, before)
	if err != nil {
		return err
	}
	v := views.RoomsIndex{Page: page, Rooms: list, UnreadCap: db.MaxUnread, Older: older, LookBack: before > 0, Online: ix.dir.Online()}
	topics := []string{views.TopicRoomsIndex, views.TopicOnline}
	if page.Viewer.SignedIn() {
		reads, at, err := ix.reads.RoomReads(ctx, page.Viewer.ID, maxReadsShown)
		if err != nil {
			return err
		}
		v.Reads = make([]views.RoomUnread, len(reads))
		for i, r := range reads {
			v.Reads[i] = views.RoomUnread{Room: r.Room, Unread: r.Unread, Messages: r.Messages}
		}
		head = min(head, at)
		topics = append(topics, views.TopicUser(page.Viewer.ID))
	}
	if head == math.MaxInt64 {
		// Signed out: no log topic; the stream starts at the head.
		if _, head, err = ix.log.Horizon(ctx); err != nil {
			return err
		}
	}
	if before == 0 {
		v.LiveURL = liveURL(topics, ix.epoch, head)
	}
	return render(c, http.StatusOK, views.RoomsIndexPage(v))
}

// handleRead serves POST /rooms/:room/read (position): the signed-in
// reader's room page says they have read the room up to the message at
// position. It answers 204; a position at or below the one recorded
// changes nothing.
func (ix *roomsIndex) handleRead(c echo.Context) error {
	room := c.Param("room")
	if err := checkRoom(room); err != nil {
		return err
	}
	pos, err := optionalPosition(c.FormValue("position"), "position")
	if err != nil {
		return err
	}
	if pos == 0 {
		return badField("position", "is required: the position of the newest message read")
	}
	err = markRead(c.Request().Context(), ix.reads, sessionOf(c).User.ID, room, pos)
	switch {
	case errors.Is(err, db.ErrInvalid):
		return badField("position", "is past the newest message of %s", room)
	case errors.Is(err, db.ErrNotFound):
		return &fieldError{Status: http.StatusNotFound, Field: "room", Message: "has no messages"}
	case err != nil:
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// markRead records that userID has read room up to pos, unless they had
// read that far: a read is a command in the log, so a page loaded again,
// or a reader who comes back to nothing new, writes nothing.
func markRead(ctx context.Context, reads roomReads, userID int64, room string, pos int64) error {
	cur, err := reads.RoomReadPosition(ctx, userID, room)
	if err != nil || cur >= pos {
		return err
	}
	_, err = reads.ReadRoom(ctx, userID, room, pos)
	return err
}

// markOpened records that a signed-in viewer opened room and saw msgs (its
// newest, oldest first). A failure is logged, not shown: the room works
// without it.
func markOpened(ctx context.Context, reads roomReads, log *slog.Logger, userID int64, room string, msgs []db.Message) {
	if len(msgs) == 0 || reads == nil {
		return
	}
	if err := markRead(ctx, reads, userID, room, msgs[len(msgs)-1].Position); err != nil && ctx.Err() == nil {
		log.Warn("record that a room was read", "room", room, "err", err)
	}
}

// liveUserKey is who the hub counts a live connection as: its account, a
// signed-out visitor under the name they chose in a room (when guests may
// post), or else the anonymous visitor cookie. Accounts and named guests
// are listed as online; anonymous visitors only counted.
func liveUserKey(c echo.Context, guests bool) string {
	if a, ok := accountOf(c); ok && a.ID != 0 { // a session's, or a token's owner
		return views.TopicUser(a.ID)
	}
	if guests {
		if name := displayName(c); name != "" {
			return guestUserKey(name)
		}
	}
	return visitorID(c)
}
