package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// writeRequest is one command for the writer goroutine to apply.
type writeRequest struct {
	ctx   context.Context
	cmd   Command
	reply chan outcome // buffered; the writer answers every request it receives
}

// outcome is what applying a command gave its caller.
type outcome struct {
	result any
	err    error
}

// do makes op a command of this moment (or of at, when not zero) and
// applies it, and returns its result once it is committed and OnCommit has
// seen its event. Every write method of the Store is a small wrapper
// around it.
func (s *Store) do(ctx context.Context, at time.Time, op Op) (any, error) {
	c := Command{ID: s.ids.next(), At: toMilli(at), Op: op}
	if s.shared != nil {
		return s.doShared(ctx, c)
	}
	if s.follower {
		return nil, fmt.Errorf("%w (epoch %s)", ErrFollower, s.epoch)
	}
	req := &writeRequest{ctx: ctx, cmd: c, reply: make(chan outcome, 1)}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, ctx.Err()
	}
	s.mu.RUnlock()
	// No select on ctx here: the writer will answer, and waiting for it
	// means an error always says that nothing was written.
	o := <-req.reply
	return o.result, o.err
}

// doAs is do for an op whose result is a T.
func doAs[T any](ctx context.Context, s *Store, at time.Time, op Op) (T, error) {
	r, err := s.do(ctx, at, op)
	if err != nil {
		var zero T
		return zero, err
	}
	return r.(T), nil
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

// commit applies a group of commands in one transaction, each in its own
// savepoint, hands the group's events to OnCommit and only then answers
// the callers. Here the events table is the log: a command that appends
// an event takes the next position; one that appends none, or is refused,
// takes none.
func (s *Store) commit(group []*writeRequest) {
	outs := make([]outcome, len(group))
	var events []Event
	var head int64
	if s.opts.PageLimit != nil {
		// Raising the limit can fail as the disk would: the commit says so.
		s.w.Exec("PRAGMA max_page_count = " + strconv.Itoa(s.opts.PageLimit())) //nolint:errcheck
	}
	err := inTx(context.Background(), s.w, func(tx *sql.Tx) error {
		// The head is read under the write lock, not kept in memory:
		// another process (the command line) may have appended since.
		if err := tx.QueryRow(`SELECT ` + headSQL).Scan(&head); err != nil {
			return err
		}
		for i, req := range group {
			if outs[i].err = req.ctx.Err(); outs[i].err != nil {
				continue // the caller gave up before the writer got here
			}
			res, evs, err := applyOne(tx, head+1, req.cmd)
			var failed *dbFailure
			if errors.As(err, &failed) {
				return failed.err
			}
			outs[i] = outcome{result: res, err: err}
			if err == nil && len(evs) > 0 {
				head = evs[len(evs)-1].Position
				events = append(events, evs...)
			}
		}
		return nil
	})
	s.groups.Add(1)
	if err != nil {
		for i := range outs {
			outs[i] = outcome{err: err}
		}
	}
	// The disk's state, for WriteError: the first refusal of this group, or none.
	var fault *unavailableError
	wrote := false
	for i := range outs {
		outs[i].err = asUnavailable(outs[i].err)
		if fault == nil {
			errors.As(outs[i].err, &fault)
		}
		wrote = wrote || outs[i].err == nil
	}
	if fault != nil {
		s.fault.Store(fault)
	} else if wrote {
		s.fault.Store(nil)
	}
	if err == nil {
		if len(events) > 0 {
			s.sincePrune += len(events)
			if s.opts.OnCommit != nil {
				s.opts.OnCommit(events)
			}
		}
	}
	for i, req := range group {
		req.reply <- outs[i]
	}
}

// dbFailure is a failure of the database itself while applying (a
// savepoint that could not be made or undone): the transaction is lost.
type dbFailure struct{ err error }

func (f *dbFailure) Error() string { return f.err.Error() }

// applyOne applies one command in a savepoint of its own, so that a refused
// or failing command rolls back alone. It appends its events at pos. An
// error is the op's (its refusal, or what the database said while applying
// it), or a *dbFailure when the savepoint itself failed.
func applyOne(tx *sql.Tx, pos int64, c Command) (any, []Event, error) {
	if _, err := tx.Exec("SAVEPOINT write"); err != nil {
		return nil, nil, &dbFailure{err}
	}
	res, evs, err := c.Op.apply(tx, pos, c.At)
	if err != nil {
		if _, rerr := tx.Exec("ROLLBACK TO write"); rerr != nil {
			// SQLite rolls the whole transaction back itself after some
			// errors (a full disk, an I/O error): the group failed for the
			// reason this command did.
			return nil, nil, &dbFailure{err}
		}
		res, evs = nil, nil
	}
	if _, rerr := tx.Exec("RELEASE write"); rerr != nil {
		return nil, nil, &dbFailure{rerr}
	}
	return res, evs, err
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

// appendEvent adds the event at pos to the log inside tx: data, as JSON,
// is the domain record, which carries its own position.
func appendEvent(tx *sql.Tx, pos int64, topic, kind string, at time.Time, data any) (Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, err
	}
	if _, err := tx.Exec(`INSERT INTO events (position, topic, kind, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		pos, topic, kind, b, at.UnixMilli()); err != nil {
		return Event{}, err
	}
	return Event{Position: pos, Topic: topic, Kind: kind, Data: b, At: at}, nil
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
