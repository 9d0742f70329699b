package db

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"
)

// writeRequest is one request to the writer goroutine. fn runs inside the group's
// transaction, in its own savepoint, and returns the events it appended.
//
// fn runs on the writer goroutine: it must use only tx, never the Store, and
// it must not pass a context that can be cancelled to tx: an interrupted
// statement would roll back the whole group, not just this write.
type writeRequest struct {
	ctx   context.Context
	fn    func(tx *sql.Tx) ([]Event, error)
	reply chan error // buffered; the writer answers every request it receives
}

// write runs fn through the writer goroutine and returns once it is committed
// and OnCommit has seen its events. A domain method is a small closure
// around it; anything fn returns for the caller it stores in variables it
// captured, which the caller may read after write returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) ([]Event, error)) error {
	req := &writeRequest{ctx: ctx, fn: fn, reply: make(chan error, 1)}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	// No select on ctx here: the writer will answer, and waiting for it
	// means an error always says that nothing was written.
	return <-req.reply
}

// run is the writer goroutine. It ends when Close closes reqs, after the
// last queued request has been committed and answered.
func (s *Store) run() {
	defer close(s.done)
	group := make([]*writeRequest, 0, s.opts.MaxBatch)
	for first := range s.reqs {
		group = append(group[:0], first)
	drain:
		for len(group) < s.opts.MaxBatch {
			select {
			case req, ok := <-s.reqs:
				if !ok {
					break drain
				}
				group = append(group, req)
			default:
				break drain
			}
		}
		s.commit(group)
		clear(group) // let the requests go
		s.housekeep()
	}
}

// commit runs a group of writes in one transaction, each in its own
// savepoint, hands the group's events to OnCommit and only then answers
// the callers.
func (s *Store) commit(group []*writeRequest) {
	errs := make([]error, len(group))
	var events []Event
	if s.opts.PageLimit != nil {
		// Raising the limit can fail as the disk would: the commit says so.
		s.w.Exec("PRAGMA max_page_count = " + strconv.Itoa(s.opts.PageLimit())) //nolint:errcheck
	}
	err := inTx(context.Background(), s.w, func(tx *sql.Tx) error {
		for i, req := range group {
			if errs[i] = req.ctx.Err(); errs[i] != nil {
				continue // the caller gave up before the writer got here
			}
			if _, err := tx.Exec("SAVEPOINT write"); err != nil {
				return err
			}
			evs, err := req.fn(tx)
			if err != nil {
				errs[i] = err
				if _, rerr := tx.Exec("ROLLBACK TO write"); rerr != nil {
					// SQLite rolls the whole transaction back itself after
					// some errors (a full disk, an I/O error): the group
					// failed for the reason this write did.
					return err
				}
			} else {
				events = append(events, evs...)
			}
			if _, err := tx.Exec("RELEASE write"); err != nil {
				return err
			}
		}
		return nil
	})
	s.groups.Add(1)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	// The disk's state, for WriteError: the first refusal of this group, or none.
	var fault *unavailableError
	for i := range errs {
		errs[i] = asUnavailable(errs[i])
		if fault == nil {
			errors.As(errs[i], &fault)
		}
	}
	if fault != nil {
		s.fault.Store(fault)
	} else if slices.Contains(errs, nil) { // a write went through
		s.fault.Store(nil)
	}
	if err == nil && len(events) > 0 {
		s.sincePrune += len(events)
		slices.SortFunc(events, func(a, b Event) int { return cmp.Compare(a.Position, b.Position) })
		if s.opts.OnCommit != nil {
			s.opts.OnCommit(events)
		}
	}
	for i, req := range group {
		req.reply <- errs[i]
	}
}

// keepActivities is how many items the activity feed keeps.
const keepActivities = 1000

// keepSamples is how long samples of posted metrics are kept.
const keepSamples = 24 * time.Hour

// housekeep prunes the log every min(Retention, 1,000) appended events, and
// everything at least once a minute (so old samples go even when no event is
// written). It runs on the writer goroutine between groups.
func (s *Store) housekeep() {
	if s.sincePrune < min(s.opts.Retention, 1000) && time.Since(s.lastPrune) < time.Minute {
		return
	}
	s.sincePrune, s.lastPrune = 0, time.Now()
	// An error here has no caller to go to; a broken database will fail the
	// next write anyway, and the next prune removes what this one left.
	_ = inTx(context.Background(), s.w, func(tx *sql.Tx) error {
		return prune(tx, s.lastPrune, s.opts.Retention)
	})
}

// prune keeps the newest retention events and keepActivities activities,
// and the samples of the last keepSamples before now.
func prune(tx *sql.Tx, now time.Time, retention int) error {
	// Positions are dense (a rolled-back append gives its position back to
	// sqlite_sequence), so this keeps the newest retention events without
	// counting them; a gap would only make it keep fewer.
	_, err := tx.Exec(`DELETE FROM events WHERE position <= (SELECT MAX(position) FROM events) - ?`, retention)
	if err == nil {
		_, err = tx.Exec(`DELETE FROM activities WHERE position <=
			(SELECT position FROM activities ORDER BY position DESC LIMIT 1 OFFSET ?)`, keepActivities)
	}
	if err == nil {
		_, err = tx.Exec(`DELETE FROM samples WHERE at < ?`, now.Add(-keepSamples).UnixMilli())
	}
	return err
}

// appendEvent adds an event to the log inside tx. record gets the new
// event's position and returns the value stored as its JSON data, so that a
// domain record can carry its own position.
func appendEvent(tx *sql.Tx, topic, kind string, at time.Time, record func(pos int64) any) (Event, error) {
	at = toMilli(at)
	res, err := tx.Exec(`INSERT INTO events (topic, kind, data, created_at) VALUES (?, ?, x'', ?)`,
		topic, kind, at.UnixMilli())
	if err != nil {
		return Event{}, err
	}
	pos, err := res.LastInsertId()
	if err != nil {
		return Event{}, err
	}
	data, err := json.Marshal(record(pos))
	if err != nil {
		return Event{}, err
	}
	if _, err := tx.Exec(`UPDATE events SET data = ? WHERE position = ?`, data, pos); err != nil {
		return Event{}, err
	}
	return Event{Position: pos, Topic: topic, Kind: kind, Data: data, At: at}, nil
}

// toMilli returns t as stored: to the millisecond, in UTC; a zero t means now.
func toMilli(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// fromMilli returns a stored time.
func fromMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
