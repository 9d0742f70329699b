package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

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

// Shared is a log that several instances share (cluster mode), as the
// store needs it: Append stores an encoded command and returns its
// position, Read delivers the log in order from a position, and Epoch is
// the log's identity. cmd/beacon adapts package cluster's JetStream log to
// it.
type Shared interface {
	// Append stores data under id (a retried id is stored once) and
	// returns its position. An error wraps ErrUnavailable when the log
	// could not confirm it.
	Append(ctx context.Context, id string, data []byte) (int64, error)
	// Read returns a reader of every entry from position from on.
	Read(from int64) SharedReader
	// Epoch names the log: positions of one log mean nothing in another.
	Epoch() string
	// FirstPosition is the position the log was made to start at: 1, or,
	// when a database that ran alone seeded the cluster, the one after its
	// own positions.
	FirstPosition() int64
	// Last is the newest position the log holds now.
	Last(ctx context.Context) (int64, error)
}

// SharedReader delivers a shared log's entries in order, exactly once,
// with no gap, a group at a time. One goroutine owns it.
type SharedReader interface {
	// Next returns the next entries, waiting until there are some or ctx
	// ends.
	Next(ctx context.Context) ([]Entry, error)
	// Close releases the reader.
	Close()
}

// ErrFollower is returned by the writes of a database that follows a
// cluster's log but was opened without it (the command line, or a server
// started without its cluster flags): only the log may change it.
var ErrFollower = errors.New("db: this database follows a cluster's log; write through the cluster: " +
	"give the command --nats with the NATS its instances share (an instance's embedded server: nats://127.0.0.1:4222), " +
	"or start Beacon with its --nats or --nats-embed flags")

// doShared publishes c to the shared log and waits until this instance
// has applied it, so the caller reads its own write (read your writes),
// and returns its outcome as applying it here gave it: a refusal such as
// a name taken by a sign-up on another instance is the same everywhere.
func (s *Store) doShared(ctx context.Context, c Command) (any, error) {
	data, err := EncodeCommand(c)
	if err != nil {
		return nil, err
	}
	wait := make(chan outcome, 1)
	s.waitMu.Lock()
	if s.closed.Load() {
		s.waitMu.Unlock()
		return nil, ErrClosed
	}
	s.waiting[c.ID] = wait // before Append: this instance may apply it before Append returns
	s.waitMu.Unlock()
	defer func() {
		s.waitMu.Lock()
		delete(s.waiting, c.ID)
		s.waitMu.Unlock()
	}()
	if _, err := s.shared.Append(ctx, c.ID, data); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	select {
	case o := <-wait:
		return o.result, o.err
	case <-ctx.Done():
		// Stored, but not yet applied here: the caller cannot know the
		// outcome; it will be applied all the same.
		return nil, ctx.Err()
	case <-s.following.Done():
		return nil, ErrClosed
	}
}

// follow is the apply loop of a shared log: it reads entries from the one
// after the last applied, applies each group in one transaction, publishes
// its events (OnCommit) and answers this instance's waiting writers. It
// owns the writer connection in shared mode, as run does otherwise, and
// ends when Close stops it.
func (s *Store) follow(from int64) {
	defer close(s.done)
	ctx := s.following
	r := s.shared.Read(from)
	defer r.Close()
	retry := 100 * time.Millisecond
	var pending []Entry
	for {
		if pending == nil {
			entries, err := r.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.setFollowErr(err) // a gap: a snapshot must be restored (not built yet)
				}
				return
			}
			pending = entries
		}
		events, done, err := s.applyShared(pending)
		if err != nil {
			// This database cannot be written now: keep the entries and
			// try again, never skip them.
			s.setFollowErr(err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(2*retry, 5*time.Second)
			continue
		}
		s.setFollowErr(nil)
		s.advance(pending[len(pending)-1].Position)
		retry, pending = 100*time.Millisecond, nil
		if len(events) > 0 {
			s.sincePrune += len(events)
			if s.opts.OnCommit != nil {
				s.opts.OnCommit(events)
			}
		}
		s.waitMu.Lock()
		for _, d := range done {
			if w, ok := s.waiting[d.id]; ok {
				w <- d.out
			}
		}
		s.waitMu.Unlock()
		s.housekeep()
	}
}

// setFollowErr records why the apply loop is stuck (nil once it is not),
// for Health.
func (s *Store) setFollowErr(err error) {
	s.waitMu.Lock()
	s.followErr = err
	s.waitMu.Unlock()
}

// FollowErr returns why this instance cannot apply the shared log now, or
// nil: it is applying it, or there is none.
func (s *Store) FollowErr() error {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	return s.followErr
}

// joinShared makes this database follow the shared log and returns the
// position to read it from. A database that has applied nothing of a
// shared log takes the log's epoch (positions of the log are its positions
// from now on); one that applied entries of another log is refused.
//
// A database that ran alone (it holds events of its own) may seed a new
// cluster: when the log was made to start right after its own positions,
// it becomes the log's state at that position (its users, rooms, messages
// and tokens intact; its old events, of another epoch, go: a client holding
// one of their ids gets the current state and a resync). The caller then
// stores a snapshot of it (Seeded), which every other instance starts from.
func (s *Store) joinShared(ctx context.Context, path string) (int64, error) {
	sh := s.opts.Shared
	applied, err := appliedPosition(s.w)
	if err != nil {
		return 0, fmt.Errorf("db: open %s: read the applied position: %w", path, err)
	}
	epoch := sh.Epoch()
	switch {
	case s.epoch == epoch:
		return applied + 1, nil
	case applied > 0:
		return 0, fmt.Errorf("db: %s follows another cluster log (epoch %s, this cluster's is %s): "+
			"start this instance with an empty database", path, s.epoch, epoch)
	case s.head > 0 && sh.FirstPosition() != s.head+1:
		return 0, fmt.Errorf("db: %s has run as one process (%d events), and the cluster's log (epoch %s) was not made "+
			"from it: start this instance with an empty database, or make this database the cluster's first instance "+
			"(start it first, alone, on a new NATS store)", path, s.head, epoch)
	}
	err = inTx(ctx, s.w, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE meta SET value = ? WHERE key = 'epoch'`, epoch); err != nil {
			return err
		}
		if s.head == 0 {
			return nil
		}
		if _, err := tx.Exec(`DELETE FROM events`); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO meta (key, value) VALUES ('applied', ?)`, strconv.FormatInt(s.head, 10))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("db: open %s: take the cluster's epoch: %w", path, err)
	}
	s.epoch, s.seeded = epoch, s.head > 0
	return s.head + 1, nil
}

// Seeded reports whether this database seeded the cluster's log when it
// was opened (see joinShared): the caller must store a snapshot of it, the
// state every other instance starts from.
func (s *Store) Seeded() bool { return s.seeded }

// Applied returns the last position of the shared log this database has
// applied, 0 for none.
func (s *Store) Applied(ctx context.Context) (int64, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'applied'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.readErr(err)
	}
	return strconv.ParseInt(v, 10, 64)
}

// advance records that the apply loop has applied the log up to pos, and
// wakes whoever waits in catchUp.
func (s *Store) advance(pos int64) {
	s.waitMu.Lock()
	s.appliedTo = pos
	if s.progress != nil {
		close(s.progress)
		s.progress = nil
	}
	s.waitMu.Unlock()
}

// catchUpWait bounds how long a read that found nothing waits for this
// instance to apply what the log holds.
const catchUpWait = 2 * time.Second

// catchUp waits, in shared mode, until this instance has applied every
// entry the log held when it was called (at most catchUpWait), so that a
// record another instance made a moment ago (a session signed in there,
// whose browser's next request the load balancer sent here) is found here
// too. Alone it returns at once: there is nothing to wait for.
func (s *Store) catchUp(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	_ = s.CatchUp(ctx) // a read that still finds nothing says so itself
}

// CatchUp waits until this store has applied every entry the shared log
// holds now, or ctx ends, or the apply loop stops (it returns why). Alone
// it returns nil at once. The command line calls it before it reads a
// cluster's state into a database of its own.
func (s *Store) CatchUp(ctx context.Context) error {
	if s.shared == nil {
		return nil
	}
	last, err := s.shared.Last(ctx)
	if err != nil {
		return err
	}
	for {
		s.waitMu.Lock()
		if s.appliedTo >= last {
			s.waitMu.Unlock()
			return nil
		}
		if s.progress == nil {
			s.progress = make(chan struct{})
		}
		progress := s.progress
		followErr := s.followErr
		s.waitMu.Unlock()
		select {
		case <-progress:
		case <-ctx.Done():
			if followErr != nil {
				return fmt.Errorf("%w (applying the log: %v)", ctx.Err(), followErr)
			}
			return ctx.Err()
		case <-s.following.Done():
			return ErrClosed
		}
	}
}

// findFresh runs find; in shared mode, when it finds nothing, it catches up
// with the log and runs it once more. Reads of records a browser may bring
// from another instance (sessions, tokens) use it.
func findFresh[T any](ctx context.Context, s *Store, find func() (T, error)) (T, error) {
	v, err := find()
	if errors.Is(err, ErrNotFound) && s.shared != nil {
		s.catchUp(ctx)
		return find()
	}
	return v, err
}
