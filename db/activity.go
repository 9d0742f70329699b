package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// topicActivity is the log topic of the activity feed (views.TopicActivity).
const topicActivity = "activity"

// Activity is one item of the activity feed. Its JSON is the data of its event.
type Activity struct {
	Position int64     `json:"position"`
	Text     string    `json:"text"`
	Link     string    `json:"link,omitempty"`
	At       time.Time `json:"at"`
}

// AddActivity stores an activity item and its event (topic "activity", kind
// "activity", data = JSON of the Activity with its Position) in one
// transaction and returns it with its position. A zero at means now; an empty
// text is ErrInvalid.
func (s *Store) AddActivity(ctx context.Context, text, link string, at time.Time) (Activity, error) {
	if strings.TrimSpace(text) == "" {
		return Activity{}, fmt.Errorf("%w: activity text is empty", ErrInvalid)
	}
	a := Activity{Text: text, Link: link, At: toMilli(at)}
	err := s.write(ctx, func(tx *sql.Tx) ([]Event, error) {
		e, err := appendEvent(tx, topicActivity, "activity", a.At, func(pos int64) any {
			a.Position = pos
			return a
		})
		if err != nil {
			return nil, err
		}
		_, err = tx.Exec(`INSERT INTO activities (position, text, link, created_at) VALUES (?, ?, ?, ?)`,
			a.Position, a.Text, a.Link, a.At.UnixMilli())
		return []Event{e}, err
	})
	if err != nil {
		return Activity{}, err
	}
	return a, nil
}

// RecentActivities returns up to limit newest activities, newest first, and
// the log's head position, both read in one read transaction, so a page
// rendered from them can start its live stream exactly after head.
func (s *Store) RecentActivities(ctx context.Context, limit int) ([]Activity, int64, error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("%w: limit %d is not positive", ErrInvalid, limit)
	}
	var items []Activity
	head, err := s.readAtHead(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT position, text, link, created_at FROM activities
			ORDER BY position DESC LIMIT ?`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a Activity
			var ms int64
			if err := rows.Scan(&a.Position, &a.Text, &a.Link, &ms); err != nil {
				return err
			}
			a.At = fromMilli(ms)
			items = append(items, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return items, head, nil
}
