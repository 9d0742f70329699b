package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MaxUnread bounds an unread count: a room with more unread messages counts
// this many, so counting one costs at most this many index entries. Pages
// show it as "99+".
const MaxUnread = 100

// PreviewRunes is how many characters of a room's newest message the rooms
// index reads (one more tells the page that it was cut).
const PreviewRunes = 140

// RoomSummary is a room with messages as the rooms index lists it.
type RoomSummary struct {
	Name     string
	Messages int64 // how many it has
	// Last is its newest message, its content cut to PreviewRunes+1
	// characters.
	Last Message
}

// RoomRead is how far an account has read a room, and what it has not:
// Unread counts the messages by others after Position (at most MaxUnread),
// when the room had Messages messages. Its JSON is the data of a
// "room_read" event on the account's topic.
type RoomRead struct {
	Room     string `json:"room"`
	Position int64  `json:"position"`
	Unread   int    `json:"unread"`
	Messages int64  `json:"messages"`
}

// KindRoomRead is the kind of the event that says an account read a room
// further (its data is a RoomRead).
const KindRoomRead = "room_read"

// summaryColumns select a RoomSummary from rooms r joined with its newest
// message m.
const summaryColumns = `r.name, r.messages, m.position, m.author, COALESCE(m.user_id, 0), substr(m.content, 1, ?), m.created_at`

// Rooms returns up to limit rooms whose newest message is older than the
// position before (0: any), those with the newest messages first, and
// whether there are more.
func (s *Store) Rooms(ctx context.Context, before int64, limit int) ([]RoomSummary, bool, error) {
	if limit <= 0 {
		return nil, false, fmt.Errorf("%w: limit %d is not positive", ErrInvalid, limit)
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+summaryColumns+`
		FROM rooms r JOIN messages m ON m.position = r.last_position
		WHERE r.last_position < ? ORDER BY r.last_position DESC LIMIT ?`, PreviewRunes+1, before, limit+1)
	if err != nil {
		return nil, false, s.readErr(err)
	}
	out, err := scanSummaries(rows)
	if err != nil {
		return nil, false, s.readErr(err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// RoomsNamed returns those of the rooms names that have messages, in no
// particular order.
func (s *Store) RoomsNamed(ctx context.Context, names []string) ([]RoomSummary, error) {
	var out []RoomSummary
	for chunk := range chunks(names, 500) {
		args := []any{PreviewRunes + 1}
		for _, n := range chunk {
			args = append(args, n)
		}
		rows, err := s.r.QueryContext(ctx, `SELECT `+summaryColumns+`
			FROM rooms r JOIN messages m ON m.position = r.last_position
			WHERE r.name IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, s.readErr(err)
		}
		some, err := scanSummaries(rows)
		if err != nil {
			return nil, s.readErr(err)
		}
		out = append(out, some...)
	}
	return out, nil
}

// chunks yields s in pieces of at most n: IN lists stay far below SQLite's
// limit on parameters.
func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

func scanSummaries(rows *sql.Rows) ([]RoomSummary, error) {
	defer rows.Close()
	var out []RoomSummary
	for rows.Next() {
		var r RoomSummary
		var ms int64
		if err := rows.Scan(&r.Name, &r.Messages, &r.Last.Position, &r.Last.User, &r.Last.UserID, &r.Last.Content, &ms); err != nil {
			return nil, err
		}
		r.Last.Room, r.Last.At = r.Name, fromMilli(ms)
		out = append(out, r)
	}
	return out, rows.Err()
}

// unreadSQL counts, up to a limit, the messages of a room after a position
// that an account did not write (arguments: room, position, account,
// limit). With the author in the index on (room, position, user_id), it
// reads no table row.
const unreadSQL = `SELECT COUNT(*) FROM (SELECT 1 FROM messages
	WHERE room = ? AND position > ? AND user_id IS NOT ? LIMIT ?)`

// RoomReads returns how far userID has read each room it opened or posted
// in, at most limit rooms, those with the newest messages first, and the
// log's head read at the same moment: a page rendered from them starts its
// live stream after head, so it misses no later read.
func (s *Store) RoomReads(ctx context.Context, userID int64, limit int) ([]RoomRead, int64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("%w: limit %d is not positive", ErrInvalid, limit)
	}
	var out []RoomRead
	head, err := s.readAtHead(ctx, func(tx *sql.Tx) error {
		// The rooms are chosen first, so only theirs are counted.
		rows, err := tx.QueryContext(ctx, `SELECT x.room, x.position, x.messages,
				(SELECT COUNT(*) FROM (SELECT 1 FROM messages m
					WHERE m.room = x.room AND m.position > x.position AND m.user_id IS NOT x.user_id LIMIT ?))
			FROM (SELECT rr.room, rr.position, rr.user_id, r.messages, r.last_position
				FROM room_reads rr JOIN rooms r ON r.name = rr.room
				WHERE rr.user_id = ? ORDER BY r.last_position DESC LIMIT ?) x
			ORDER BY x.last_position DESC`, MaxUnread, userID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r RoomRead
			if err := rows.Scan(&r.Room, &r.Position, &r.Messages, &r.Unread); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, head, nil
}

// RoomReadPosition returns how far userID has read room: the position of
// the newest message it has seen, 0 when it never opened it.
func (s *Store) RoomReadPosition(ctx context.Context, userID int64, room string) (int64, error) {
	var pos int64
	err := s.r.QueryRowContext(ctx, `SELECT position FROM room_reads WHERE user_id = ? AND room = ?`, userID, room).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, s.readErr(err)
}

// ReadRoom records that userID has read room up to the message at position
// and announces it on the account's topic (a KindRoomRead event, a
// RoomRead), so its other pages update their unread counts. A position at
// or below the one recorded changes nothing and announces nothing (callers
// that know so should not call: every call is a command in the log). It
// returns where the account has read to now. A room without messages is
// ErrNotFound; a position past the room's newest message, ErrInvalid.
func (s *Store) ReadRoom(ctx context.Context, userID int64, room string, position int64) (RoomRead, error) {
	if userID <= 0 || room == "" || position <= 0 {
		return RoomRead{}, fmt.Errorf("%w: reading a room needs an account, a room and a position", ErrInvalid)
	}
	return doAs[RoomRead](ctx, s, time.Time{}, &readRoom{UserID: userID, Room: room, Position: position})
}

// readRoom is the command of ReadRoom.
type readRoom struct {
	UserID   int64  `json:"user_id"`
	Room     string `json:"room"`
	Position int64  `json:"position"`
}

func init() { registerOp(func() Op { return new(readRoom) }) }

func (*readRoom) kind() string { return KindRoomRead }

func (c *readRoom) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	r := RoomRead{Room: c.Room}
	var last int64
	err := tx.QueryRow(`SELECT messages, last_position FROM rooms WHERE name = ?`, c.Room).Scan(&r.Messages, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("%w: room %q has no messages", ErrNotFound, c.Room)
	}
	if err != nil {
		return nil, nil, err
	}
	if c.Position > last {
		return nil, nil, fmt.Errorf("%w: position %d is past the newest message of %q (%d)", ErrInvalid, c.Position, c.Room, last)
	}
	var exists bool
	if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM users WHERE id = ?)`, c.UserID).Scan(&exists); err != nil {
		return nil, nil, err
	}
	if !exists {
		return nil, nil, fmt.Errorf("%w: no account %d", ErrNotFound, c.UserID)
	}
	err = tx.QueryRow(`SELECT position FROM room_reads WHERE user_id = ? AND room = ?`, c.UserID, c.Room).Scan(&r.Position)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, err
	}
	moved := c.Position > r.Position
	if moved {
		r.Position = c.Position
		if _, err := tx.Exec(`INSERT INTO room_reads (user_id, room, position) VALUES (?, ?, ?)
			ON CONFLICT (user_id, room) DO UPDATE SET position = excluded.position`, c.UserID, c.Room, r.Position); err != nil {
			return nil, nil, err
		}
	}
	if err := tx.QueryRow(unreadSQL, c.Room, r.Position, c.UserID, MaxUnread).Scan(&r.Unread); err != nil {
		return nil, nil, err
	}
	if !moved {
		return r, nil, nil
	}
	e, err := appendEvent(tx, pos, TopicUser(c.UserID), KindRoomRead, at, r)
	if err != nil {
		return nil, nil, err
	}
	return r, []Event{e}, nil
}

// noteMessage keeps the rooms summary and the author's read position when
// m is added: posting in a room counts as having read it up to one's own
// message.
func noteMessage(tx *sql.Tx, m Message) error {
	if _, err := tx.Exec(`INSERT INTO rooms (name, messages, last_position) VALUES (?, 1, ?)
		ON CONFLICT (name) DO UPDATE SET messages = messages + 1, last_position = excluded.last_position`,
		m.Room, m.Position); err != nil {
		return err
	}
	if m.UserID == 0 {
		return nil
	}
	_, err := tx.Exec(`INSERT INTO room_reads (user_id, room, position)
		SELECT id, ?, ? FROM users WHERE id = ?
		ON CONFLICT (user_id, room) DO UPDATE SET position = max(position, excluded.position)`,
		m.Room, m.Position, m.UserID)
	return err
}

// UserNames returns the names of those of the accounts ids that exist.
func (s *Store) UserNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	for chunk := range chunks(ids, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.r.QueryContext(ctx, `SELECT id, name FROM users WHERE id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, s.readErr(err)
		}
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return nil, s.readErr(err)
			}
			out[id] = name
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.readErr(err)
		}
	}
	return out, nil
}
