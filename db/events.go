package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Event is one row of the durable event log.
type Event struct {
	Position int64
	Topic    string
	Kind     string // e.g. "activity"
	Data     []byte // JSON of the domain record
	At       time.Time
}

// EventsAfter returns up to limit events of the given topics with position >
// after, in position order, and the log's horizon (see Horizon) read in the
// same snapshot. If after < horizon, events after after were pruned and the
// list does not start right after it; the caller must not take it for a
// complete replay (retention prunes between any two reads, so a horizon read
// separately says nothing about this list). No topics means no events.
func (s *Store) EventsAfter(ctx context.Context, topics []string, after int64, limit int) (events []Event, horizon int64, err error) {
	if limit <= 0 {
		return nil, 0, fmt.Errorf("%w: limit %d is not positive", ErrInvalid, limit)
	}
	if len(topics) == 0 {
		horizon, _, err := s.Horizon(ctx)
		return nil, horizon, err
	}
	args := make([]any, 0, len(topics)+2)
	args = append(args, after)
	for _, t := range topics {
		args = append(args, t)
	}
	args = append(args, limit)
	// One statement is one snapshot: the horizon row is joined to the events
	// (or to nothing, when there are none), so both are read at once.
	rows, err := s.r.QueryContext(ctx, `SELECT h.oldest, h.head, e.position, e.topic, e.kind, e.data, e.created_at
		FROM (SELECT (SELECT MIN(position) FROM events) AS oldest, `+headSQL+` AS head) AS h
		LEFT JOIN (SELECT position, topic, kind, data, created_at FROM events
			WHERE position > ? AND topic IN (?`+strings.Repeat(", ?", len(topics)-1)+`)
			ORDER BY position LIMIT ?) AS e ON 1
		ORDER BY e.position`, args...)
	if err != nil {
		return nil, 0, s.readErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			oldest, pos, ms sql.NullInt64
			head            int64
			topic, kind     sql.NullString
			data            []byte
		)
		if err := rows.Scan(&oldest, &head, &pos, &topic, &kind, &data, &ms); err != nil {
			return nil, 0, s.readErr(err)
		}
		horizon = head
		if oldest.Valid {
			horizon = oldest.Int64 - 1
		}
		if pos.Valid {
			events = append(events, Event{Position: pos.Int64, Topic: topic.String, Kind: kind.String, Data: data, At: fromMilli(ms.Int64)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, 0, s.readErr(err)
	}
	return events, horizon, nil
}

// Horizon returns the oldest position still in the log minus one, and the
// head, the newest position ever given (0 for a database that never had an
// event). A client whose last position is >= horizon can be replayed without
// a gap. A log emptied by pruning has horizon == head.
func (s *Store) Horizon(ctx context.Context) (horizon, head int64, err error) {
	var oldest sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT (SELECT MIN(position) FROM events), `+headSQL).Scan(&oldest, &head)
	if err != nil {
		return 0, 0, s.readErr(err)
	}
	if !oldest.Valid {
		return head, head, nil
	}
	return oldest.Int64 - 1, head, nil
}

// readAtHead runs read in one read-only transaction together with reading
// the log's head, so what read returns and the head are the same moment:
// a page rendered from them starts its live stream exactly after head.
func (s *Store) readAtHead(ctx context.Context, read func(*sql.Tx) error) (int64, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return 0, s.readErr(err)
	}
	defer tx.Rollback()
	// The snapshot starts with the first SELECT; both see the same database.
	var head int64
	if err := tx.QueryRowContext(ctx, `SELECT `+headSQL).Scan(&head); err != nil {
		return 0, s.readErr(err)
	}
	if err := read(tx); err != nil {
		return 0, s.readErr(err)
	}
	return head, nil
}

// headSQL selects the newest position ever given. sqlite_sequence keeps it
// even when the newest events are gone, and has no row before the first one.
const headSQL = `COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)`
