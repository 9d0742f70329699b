package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TopicRoom returns the log topic of a chat room's messages.
func TopicRoom(room string) string { return "room:" + room }

// Message is one chat message. Its JSON is the data of its event.
type Message struct {
	Position int64     `json:"position"`
	Room     string    `json:"room"`
	User     string    `json:"user"`
	UserID   int64     `json:"user_id,omitempty"` // 0 for a guest
	Content  string    `json:"content"`
	At       time.Time `json:"timestamp"`
}

// AddMessage stores a guest's chat message: AddMessageAs with no user id.
func (s *Store) AddMessage(ctx context.Context, room, user, content string, at time.Time) (Message, error) {
	return s.AddMessageAs(ctx, room, 0, user, content, at)
}

// AddMessageAs stores a chat message by the account userID (0 for a guest)
// shown as user, and its event (topic TopicRoom(room), kind "message"), in
// one transaction and returns it with its position. Content and user are
// stored as given: the caller has validated them.
func (s *Store) AddMessageAs(ctx context.Context, room string, userID int64, user, content string, at time.Time) (Message, error) {
	if room == "" || user == "" || content == "" {
		return Message{}, fmt.Errorf("%w: a message needs a room, a user and content", ErrInvalid)
	}
	return doAs[Message](ctx, s, at, &addMessage{Room: room, UserID: userID, User: user, Content: content})
}

// addMessage is the command of AddMessageAs.
type addMessage struct {
	Room    string `json:"room"`
	UserID  int64  `json:"user_id,omitempty"`
	User    string `json:"user"`
	Content string `json:"content"`
}

func init() { registerOp(func() Op { return new(addMessage) }) }

func (*addMessage) kind() string { return "message" }

func (c *addMessage) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	m := Message{Position: pos, Room: c.Room, User: c.User, UserID: c.UserID, Content: c.Content, At: at}
	e, err := appendEvent(tx, pos, TopicRoom(m.Room), "message", at, m)
	if err != nil {
		return nil, nil, err
	}
	_, err = tx.Exec(`INSERT INTO messages (position, room, author, user_id, content, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		m.Position, m.Room, m.User, nullID(m.UserID), m.Content, m.At.UnixMilli())
	if err == nil {
		err = noteMessage(tx, m)
	}
	return m, []Event{e}, err
}

// Messages returns up to limit messages of room with a position below before
// (0 for the newest), oldest first, and the log's head position, read in one
// read transaction so a page rendered from them can start its live stream
// exactly after head.
func (s *Store) Messages(ctx context.Context, room string, before int64, limit int) ([]Message, int64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("%w: limit %d is not positive", ErrInvalid, limit)
	}
	if before <= 0 {
		before = 1<<63 - 1
	}
	var out []Message
	head, err := s.readAtHead(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT position, author, COALESCE(user_id, 0), content, created_at FROM messages
			WHERE room = ? AND position < ? ORDER BY position DESC LIMIT ?`, room, before, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m := Message{Room: room}
			var ms int64
			if err := rows.Scan(&m.Position, &m.User, &m.UserID, &m.Content, &ms); err != nil {
				return err
			}
			m.At = fromMilli(ms)
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, head, nil
}
