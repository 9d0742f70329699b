package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/mattn/go-sqlite3"
)

// Entry is one command as a shared log holds it: its position there and
// its encoding (EncodeCommand).
type Entry struct {
	Position int64
	Data     []byte
}

// applied is one entry's command after applying, for its waiting caller.
type applied struct {
	id  string
	out outcome
}

// applyShared applies entries of the shared log in one transaction, in
// order, each at its own position, and records the last position applied
// in the same transaction, so a restart continues exactly where it
// stopped. Entries at or before the recorded position are skipped (a
// reader that starts over delivers some again).
//
// A command's refusal, or any error the database gives for the command
// itself (a constraint, say), is its outcome, and is the same on every
// instance, since every instance applies the same commands in the same
// order. A failure of the database (full, read-only, I/O, busy) is not:
// the whole group is rolled back and returned, so the caller retries the
// same entries later instead of skipping what this instance could not
// write.
func (s *Store) applyShared(entries []Entry) ([]Event, []applied, error) {
	var events []Event
	var done []applied
	err := inTx(context.Background(), s.w, func(tx *sql.Tx) error {
		last, err := appliedPosition(tx)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Position <= last {
				continue
			}
			c, err := DecodeCommand(e.Data)
			if err != nil {
				return fmt.Errorf("db: position %d: %w", e.Position, err)
			}
			res, evs, err := applyOne(tx, e.Position, c)
			var failed *dbFailure
			if errors.As(err, &failed) || isEnvironmental(err) {
				return err
			}
			done = append(done, applied{id: c.ID, out: outcome{result: res, err: err}})
			events = append(events, evs...)
			last = e.Position
		}
		_, err = tx.Exec(`INSERT INTO meta (key, value) VALUES ('applied', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, strconv.FormatInt(last, 10))
		return err
	})
	s.groups.Add(1)
	if err != nil {
		return nil, nil, err
	}
	return events, done, nil
}

// appliedPosition returns the last position of the shared log applied to
// this database, 0 when none was.
func appliedPosition(q interface {
	QueryRow(query string, args ...any) *sql.Row
}) (int64, error) {
	var v string
	err := q.QueryRow(`SELECT value FROM meta WHERE key = 'applied'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// isEnvironmental reports whether err is SQLite saying that this database
// cannot be written now (full, read-only, I/O, locked, out of memory,
// corrupt), as opposed to refusing what a command asked.
func isEnvironmental(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrReadonly, sqlite3.ErrBusy, sqlite3.ErrLocked,
		sqlite3.ErrNomem, sqlite3.ErrCorrupt, sqlite3.ErrCantOpen, sqlite3.ErrNotADB, sqlite3.ErrPerm:
		return true
	}
	return false
}
