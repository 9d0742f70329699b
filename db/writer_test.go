package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// 50 goroutines × 100 writes: every write returns after OnCommit saw its
// event, OnCommit sees each event once, in strictly increasing position order.
func TestConcurrentAddActivity(t *testing.T) {
	const writers, each = 50, 100
	var rec recorder
	s := openTest(t, Options{OnCommit: rec.onCommit})

	var (
		mu       sync.Mutex
		returned = map[int64]bool{}
		wg       sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				a, err := s.AddActivity(context.Background(), fmt.Sprintf("w%d-%d", w, i), "", time.Time{})
				if err != nil {
					t.Error(err)
					return
				}
				if !rec.has(a.Position) {
					t.Errorf("AddActivity returned %d before OnCommit saw it", a.Position)
				}
				mu.Lock()
				if returned[a.Position] {
					t.Errorf("position %d returned twice", a.Position)
				}
				returned[a.Position] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	seen := rec.events()
	if len(seen) != writers*each {
		t.Fatalf("OnCommit saw %d events, want %d", len(seen), writers*each)
	}
	for i, e := range seen {
		if i > 0 && e.Position <= seen[i-1].Position {
			t.Fatalf("OnCommit saw %d after %d", e.Position, seen[i-1].Position)
		}
		if !returned[e.Position] {
			t.Errorf("OnCommit saw %d, which no caller got", e.Position)
		}
		var a Activity
		if err := json.Unmarshal(e.Data, &a); err != nil || a.Position != e.Position || e.Topic != "activity" || e.Kind != "activity" {
			t.Errorf("event %d: topic %q kind %q data %s (%v)", e.Position, e.Topic, e.Kind, e.Data, err)
		}
	}
	// Group commit under load: far fewer transactions than writes. (Exact
	// grouping is checked by TestGroupCommit.)
	if g := s.groups.Load(); g >= writers*each {
		t.Errorf("%d transactions for %d writes: no grouping", g, writers*each)
	} else {
		t.Logf("%d writes in %d transactions", writers*each, g)
	}
	// The feed was pruned to about keepActivities items along the way.
	items, _, err := s.RecentActivities(context.Background(), writers*each)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) < keepActivities || len(items) >= 2*keepActivities {
		t.Errorf("%d activities kept, want [%d, %d)", len(items), keepActivities, 2*keepActivities)
	}
}

// Writes queued while the writer is busy are committed together.
func TestGroupCommit(t *testing.T) {
	var rec recorder
	s := openTest(t, Options{OnCommit: rec.onCommit})
	release := blockWriter(t, s)

	const n = 100
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.AddActivity(context.Background(), "grouped", "", time.Time{})
			errs <- err
		}()
	}
	waitQueued(s, n)
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if g := s.groups.Load(); g != 2 {
		t.Errorf("%d transactions, want 2 (the blocker's, then all %d queued writes)", g, n)
	}
	if len(rec.calls) != 1 || len(rec.calls[0]) != n {
		t.Errorf("OnCommit calls: %d, want one with %d events", len(rec.calls), n)
	}
}

func TestMaxBatch(t *testing.T) {
	var rec recorder
	s := openTest(t, Options{OnCommit: rec.onCommit, MaxBatch: 4})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 20 {
				if _, err := s.AddActivity(context.Background(), "x", "", time.Time{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for _, c := range rec.calls {
		if len(c) > 4 {
			t.Fatalf("one commit had %d writes, MaxBatch is 4", len(c))
		}
	}
}

// One failing write in a group rolls back only itself, even after it wrote.
func TestFailingWriteFailsAlone(t *testing.T) {
	var rec recorder
	s := openTest(t, Options{OnCommit: rec.onCommit})
	first, err := s.AddActivity(context.Background(), "first", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)
	groupsBefore := s.groups.Load()

	const good = 5
	errs := make(chan error, good)
	for range good {
		go func() {
			_, err := s.AddActivity(context.Background(), "good", "", time.Time{})
			errs <- err
		}()
	}
	badErr := make(chan error, 1)
	go func() {
		badErr <- s.write(context.Background(), func(tx *sql.Tx, pos int64) ([]Event, error) {
			// Append an event, then break a constraint: both must go.
			e, err := appendEvent(tx, pos, "activity", "activity", toMilli(time.Time{}), pos)
			if err != nil {
				return nil, err
			}
			_, err = tx.Exec(`INSERT INTO activities (position, text, link, created_at) VALUES (?, 'dup', '', 0)`, first.Position)
			return []Event{e}, err
		})
	}()
	waitQueued(s, good+1)
	release()

	if err := <-badErr; err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Errorf("bad write = %v, want a UNIQUE constraint error", err)
	}
	for range good {
		if err := <-errs; err != nil {
			t.Errorf("good write = %v", err)
		}
	}
	if g := s.groups.Load() - groupsBefore; g != 2 {
		t.Errorf("%d transactions after the blocker, want 2 (blocker, then the group)", g)
	}
	events, _, err := s.EventsAfter(context.Background(), []string{"activity"}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The failed write's event is gone and its position was given back.
	if ps := positions(events); !slices.Equal(ps, []int64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("log holds %v, want 1..%d", ps, 1+good)
	}
	if seen := rec.events(); len(seen) != 1+good {
		t.Errorf("OnCommit saw %d events, want %d", len(seen), 1+good)
	}
	items, _, err := s.RecentActivities(context.Background(), 100)
	if err != nil || len(items) != 1+good {
		t.Errorf("%d activities (%v), want %d", len(items), err, 1+good)
	}
}

// A write whose context ends while it waits in the queue is skipped.
func TestCancelledWhileQueued(t *testing.T) {
	var rec recorder
	s := openTest(t, Options{OnCommit: rec.onCommit})
	release := blockWriter(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.AddActivity(ctx, "never", "", time.Time{})
		errc <- err
	}()
	waitQueued(s, 1)
	cancel()
	release()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("AddActivity = %v, want context.Canceled", err)
	}
	if _, head, err := s.Horizon(context.Background()); err != nil || head != 0 {
		t.Errorf("head = %d, %v; want 0: nothing written", head, err)
	}
	if len(rec.calls) != 0 {
		t.Errorf("OnCommit called %d times for nothing", len(rec.calls))
	}
}

func TestAddActivityInvalid(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := s.AddActivity(context.Background(), "  ", "", time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty text: %v, want ErrInvalid", err)
	}
}
