package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openTest opens a store on a new file in t.TempDir and closes it at the end
// of the test.
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "beacon.db"), opts)
}

func openAt(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// recorder is an OnCommit that remembers every call.
type recorder struct {
	mu    sync.Mutex
	calls [][]Event
	seen  map[int64]int // position → times seen
}

func (r *recorder) onCommit(evs []Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = make(map[int64]int)
	}
	r.calls = append(r.calls, evs)
	for _, e := range evs {
		r.seen[e.Position]++
	}
}

func (r *recorder) has(pos int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[pos] > 0
}

// events returns every event OnCommit saw, in the order it saw them.
func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []Event
	for _, c := range r.calls {
		all = append(all, c...)
	}
	return all
}

// blockWriter makes the writer goroutine wait inside a write until release
// is called, so that the test can queue requests behind it.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.write(context.Background(), func(*sql.Tx, int64) ([]Event, error) {
			close(started)
			<-unblock
			return nil, nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// waitQueued waits until n requests wait in the writer's queue.
func waitQueued(s *Store, n int) {
	for len(s.reqs) < n {
		runtime.Gosched()
	}
}

// appendRaw appends one event of topic through the writer, as a future
// domain method would.
func appendRaw(t testing.TB, s *Store, topic string) Event {
	t.Helper()
	var e Event
	err := s.write(context.Background(), func(tx *sql.Tx, pos int64) ([]Event, error) {
		var err error
		e, err = appendEvent(tx, pos, topic, "test", toMilli(time.Time{}), pos)
		return []Event{e}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// rawOp is a test's own command: fn runs inside the writer's transaction
// with the position an event of it would take.
type rawOp struct {
	fn func(tx *sql.Tx, pos int64) ([]Event, error)
}

func (*rawOp) kind() string { return "test" }

func (o *rawOp) apply(tx *sql.Tx, pos int64, _ time.Time) (any, []Event, error) {
	evs, err := o.fn(tx, pos)
	return nil, evs, err
}

// write runs fn as a command through the writer, as a write method would.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx, pos int64) ([]Event, error)) error {
	_, err := s.do(ctx, time.Time{}, &rawOp{fn: fn})
	return err
}
