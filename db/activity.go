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
	return doAs[Activity](ctx, s, at, &addActivity{Text: text, Link: link})
}

// addActivity is the command of AddActivity.
type addActivity struct {
	Text string `json:"text"`
	Link string `json:"link,omitempty"`
}

func init() { registerOp(func() Op { return new(addActivity) }) }

func (*addActivity) kind() string { return "activity" }

func (c *addActivity) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	a := Activity{Position: pos, Text: c.Text, Link: c.Link, At: at}
	e, err := appendEvent(tx, pos, topicActivity, "activity", at, a)
	if err != nil {
		return nil, nil, err
	}
	_, err = tx.Exec(`INSERT INTO activities (position, text, link, created_at) VALUES (?, ?, ?, ?)`,
		a.Position, a.Text, a.Link, a.At.UnixMilli())
	return a, []Event{e}, err
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
