package db

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

func positions(events []Event) []int64 {
	var ps []int64
	for _, e := range events {
		ps = append(ps, e.Position)
	}
	return ps
}

func TestEventsAfter(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	for _, topic := range []string{"a", "b", "a", "c", "b", "a", "room:x"} { // positions 1..7
		appendRaw(t, s, topic)
	}
	tests := []struct {
		topics []string
		after  int64
		limit  int
		want   []int64
	}{
		{[]string{"a"}, 0, 10, []int64{1, 3, 6}},
		{[]string{"a", "b"}, 0, 10, []int64{1, 2, 3, 5, 6}},
		{[]string{"b", "a"}, 2, 10, []int64{3, 5, 6}},
		{[]string{"a", "b"}, 2, 2, []int64{3, 5}},
		{[]string{"a", "b", "c", "room:x"}, 6, 10, []int64{7}},
		{[]string{"c"}, 4, 10, nil},
		{[]string{"nope"}, 0, 10, nil},
		{nil, 0, 10, nil},
	}
	for _, tt := range tests {
		got, _, err := s.EventsAfter(ctx, tt.topics, tt.after, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if ps := positions(got); !slices.Equal(ps, tt.want) {
			t.Errorf("EventsAfter(%q, %d, %d) = %v, want %v", tt.topics, tt.after, tt.limit, ps, tt.want)
		}
	}
	got, _, _ := s.EventsAfter(ctx, []string{"room:x"}, 0, 1)
	if len(got) != 1 || got[0].Topic != "room:x" || got[0].Kind != "test" || string(got[0].Data) != "7" || got[0].At.IsZero() {
		t.Errorf("event 7 = %+v", got)
	}
	if _, _, err := s.EventsAfter(ctx, []string{"a"}, 0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit 0: %v, want ErrInvalid", err)
	}
}

func TestHorizonAfterPruning(t *testing.T) {
	const retention = 10
	s := openTest(t, Options{Retention: retention})
	ctx := context.Background()

	if horizon, head, err := s.Horizon(ctx); err != nil || horizon != 0 || head != 0 {
		t.Fatalf("empty: Horizon = %d, %d, %v; want 0, 0", horizon, head, err)
	}
	const n = 35
	for range n {
		if _, err := s.AddActivity(ctx, "x", "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	horizon, head, err := s.Horizon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The writer prunes every min(Retention, 1000) appends, so the log holds
	// between Retention and 2×Retention events.
	if head != n || head-horizon < retention || head-horizon >= 2*retention {
		t.Fatalf("Horizon = %d, %d; want head %d and %d..%d events", horizon, head, n, retention, 2*retention-1)
	}
	// Everything after the horizon is there, without a gap; nothing before.
	// EventsAfter says where the log starts in the snapshot it read: a
	// caller asking from 0 learns that it did not get everything after 0.
	all, h, err := s.EventsAfter(ctx, []string{topicActivity}, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if h != horizon {
		t.Errorf("EventsAfter's horizon = %d, Horizon's %d", h, horizon)
	}
	if int64(len(all)) != head-horizon || all[0].Position != horizon+1 || all[len(all)-1].Position != head {
		t.Errorf("log holds %v, want %d..%d", positions(all), horizon+1, head)
	}
	// The feed keeps its items when their events are pruned.
	if items, _, err := s.RecentActivities(ctx, 100); err != nil || len(items) != n {
		t.Errorf("%d activities (%v), want %d", len(items), err, n)
	}

	// A log emptied entirely: horizon == head, and positions are not reused.
	err = s.write(ctx, func(tx *sql.Tx, _ int64) ([]Event, error) {
		_, err := tx.Exec(`DELETE FROM events`)
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if horizon, head, err := s.Horizon(ctx); err != nil || horizon != n || head != n {
		t.Errorf("emptied: Horizon = %d, %d, %v; want %d, %d", horizon, head, err, n, n)
	}
	a, err := s.AddActivity(ctx, "after", "", time.Time{})
	if err != nil || a.Position != n+1 {
		t.Errorf("next position = %d, %v; want %d", a.Position, err, n+1)
	}
}

func TestRecentActivities(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	if items, head, err := s.RecentActivities(ctx, 5); err != nil || len(items) != 0 || head != 0 {
		t.Fatalf("empty: %v, %d, %v", items, head, err)
	}
	at := time.Date(2026, 11, 29, 8, 0, 0, 123456789, time.UTC)
	var added []Activity
	for i := range 8 {
		a, err := s.AddActivity(ctx, "item", "https://example.com/", at.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, a)
	}
	if want := at.Truncate(time.Millisecond); !added[0].At.Equal(want) || added[0].At.Location() != time.UTC {
		t.Errorf("At = %v, want %v in UTC", added[0].At, want)
	}
	items, head, err := s.RecentActivities(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 5 || head != added[7].Position {
		t.Fatalf("got %d items, head %d; want 5, %d", len(items), head, added[7].Position)
	}
	for i, a := range items {
		if a != added[7-i] {
			t.Errorf("item %d = %+v, want %+v", i, a, added[7-i])
		}
	}
	// Events of other topics move the head, not the feed.
	e := appendRaw(t, s, "room:x")
	if items, head, _ := s.RecentActivities(ctx, 5); head != e.Position || items[0] != added[7] {
		t.Errorf("after another topic's event: head %d, first %d; want %d, %d", head, items[0].Position, e.Position, added[7].Position)
	}
}

// Items and head come from one snapshot: while activities are being added,
// the head is always the newest item (they are the log's only events).
func TestRecentActivitiesSnapshot(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for range 300 {
			if _, err := s.AddActivity(ctx, "x", "", time.Time{}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				items, head, err := s.RecentActivities(ctx, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(items) > 0 && items[0].Position != head || len(items) == 0 && head != 0 {
					t.Errorf("head %d with items %v: not one snapshot", head, items)
					return
				}
			}
		})
	}
	wg.Wait()
}
