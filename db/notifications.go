package db

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TopicUser returns the log topic of a user's private notification feed.
func TopicUser(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// Notification is one item of a user's private feed.
type Notification struct {
	Position int64     `json:"position"`
	UserID   int64     `json:"user_id"`
	Title    string    `json:"title"`
	Body     string    `json:"body,omitempty"`
	Link     string    `json:"link,omitempty"`
	At       time.Time `json:"at"`
	Read     bool      `json:"read"`
}

// UserEvent is the data of an event of a user's topic: a new notification
// (kind "notification") or notifications that were read (kind "read").
// Unread is the user's unread count right after the event, so the last
// event a client applied always leaves its bell right.
type UserEvent struct {
	Notification *Notification `json:"notification,omitempty"`
	Read         []int64       `json:"read,omitempty"`
	Unread       int           `json:"unread"`
}

// maxReadListed bounds the positions one "read" event lists; marking more
// than this at once still marks them all, and a client that shows an older
// one unread is put right by its next page load.
const maxReadListed = 500

// AddNotification stores a notification for user and its event in one
// transaction and returns it with its position. Fields are stored as
// given: the caller has validated them.
func (s *Store) AddNotification(ctx context.Context, userID int64, title, body, link string) (Notification, error) {
	if userID == 0 || strings.TrimSpace(title) == "" {
		return Notification{}, fmt.Errorf("%w: a notification needs a user and a title", ErrInvalid)
	}
	return doAs[Notification](ctx, s, time.Time{}, &addNotification{UserID: userID, Title: title, Body: body, Link: link})
}

// addNotification is the command of AddNotification.
type addNotification struct {
	UserID int64  `json:"user_id"`
	Title  string `json:"title"`
	Body   string `json:"body,omitempty"`
	Link   string `json:"link,omitempty"`
}

func init() { registerOp(func() Op { return new(addNotification) }) }

func (*addNotification) kind() string { return "notification" }

func (c *addNotification) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	n := Notification{Position: pos, UserID: c.UserID, Title: c.Title, Body: c.Body, Link: c.Link, At: at}
	var unread int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL`, n.UserID).Scan(&unread); err != nil {
		return nil, nil, err
	}
	e, err := appendEvent(tx, pos, TopicUser(n.UserID), "notification", at, UserEvent{Notification: &n, Unread: unread + 1})
	if err != nil {
		return nil, nil, err
	}
	_, err = tx.Exec(`INSERT INTO notifications (position, user_id, title, body, link, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		n.Position, n.UserID, n.Title, n.Body, n.Link, at.UnixMilli())
	return n, []Event{e}, err
}

// MarkRead marks user's notifications at positions read (all of them when
// positions is nil) and announces the change on the user's topic. Positions
// that are not the user's, or already read, are left alone; when nothing
// changes nothing is announced. It returns how many it marked.
func (s *Store) MarkRead(ctx context.Context, userID int64, positions []int64) (int, error) {
	if positions != nil && len(positions) == 0 {
		return 0, nil
	}
	return doAs[int](ctx, s, time.Time{}, &markRead{UserID: userID, All: positions == nil, Positions: positions})
}

// markRead is the command of MarkRead.
type markRead struct {
	UserID    int64   `json:"user_id"`
	All       bool    `json:"all,omitempty"`
	Positions []int64 `json:"positions,omitempty"`
}

func init() { registerOp(func() Op { return new(markRead) }) }

func (*markRead) kind() string { return "read" }

func (c *markRead) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	query := `UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL`
	args := []any{at.UnixMilli(), c.UserID}
	if !c.All {
		if len(c.Positions) == 0 {
			return 0, nil, nil
		}
		query += ` AND position IN (?` + strings.Repeat(", ?", len(c.Positions)-1) + `)`
		for _, p := range c.Positions {
			args = append(args, p)
		}
	}
	rows, err := tx.Query(query+` RETURNING position`, args...)
	if err != nil {
		return nil, nil, err
	}
	var read []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, nil, err
		}
		read = append(read, p)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, err
	}
	marked := len(read)
	if marked == 0 {
		return 0, nil, nil
	}
	// RETURNING has no order; the event lists the newest, the ones pages
	// show, and in one order on every instance.
	slices.SortFunc(read, func(a, b int64) int { return cmp.Compare(b, a) })
	if len(read) > maxReadListed {
		read = read[:maxReadListed]
	}
	var unread int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL`, c.UserID).Scan(&unread); err != nil {
		return nil, nil, err
	}
	e, err := appendEvent(tx, pos, TopicUser(c.UserID), "read", at, UserEvent{Read: read, Unread: unread})
	if err != nil {
		return nil, nil, err
	}
	return marked, []Event{e}, nil
}

// Notifications returns up to limit of user's newest notifications, newest
// first, the unread count and the log's head, all read at one moment.
func (s *Store) Notifications(ctx context.Context, userID int64, limit int) ([]Notification, int, int64, error) {
	if limit < 0 {
		return nil, 0, 0, fmt.Errorf("%w: limit %d is negative", ErrInvalid, limit)
	}
	var out []Notification
	var unread int
	head, err := s.readAtHead(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL`,
			userID).Scan(&unread); err != nil {
			return err
		}
		if limit == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT position, title, body, link, created_at, read_at IS NOT NULL
			FROM notifications WHERE user_id = ? ORDER BY position DESC LIMIT ?`, userID, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n := Notification{UserID: userID}
			var ms int64
			if err := rows.Scan(&n.Position, &n.Title, &n.Body, &n.Link, &ms, &n.Read); err != nil {
				return err
			}
			n.At = fromMilli(ms)
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return out, unread, head, nil
}

// Notification returns user's notification at position, or ErrNotFound
// when it is not one of user's.
func (s *Store) Notification(ctx context.Context, userID, position int64) (Notification, error) {
	n := Notification{UserID: userID, Position: position}
	var ms int64
	err := s.r.QueryRowContext(ctx, `SELECT title, body, link, created_at, read_at IS NOT NULL
		FROM notifications WHERE user_id = ? AND position = ?`, userID, position).Scan(&n.Title, &n.Body, &n.Link, &ms, &n.Read)
	if errors.Is(err, sql.ErrNoRows) {
		return Notification{}, ErrNotFound
	}
	if err != nil {
		return Notification{}, s.readErr(err)
	}
	n.At = fromMilli(ms)
	return n, nil
}

// Unread returns user's unread count and the log's head, read at one moment.
func (s *Store) Unread(ctx context.Context, userID int64) (int, int64, error) {
	_, unread, head, err := s.Notifications(ctx, userID, 0)
	return unread, head, err
}
