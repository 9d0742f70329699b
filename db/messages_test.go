package db

import (
	"context"
	"testing"
	"time"
)

func TestMessagesHistoryPaging(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	var want []int64
	for i := range 7 {
		room := "a"
		if i%3 == 2 {
			room = "b"
		}
		m, err := s.AddMessage(ctx, room, "ann", "hello", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if room == "a" {
			want = append(want, m.Position)
		}
	}
	page, head, err := s.Messages(ctx, "a", 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if head != 7 || len(page) != 3 || page[0].Position != want[2] || page[2].Position != want[4] {
		t.Fatalf("newest page %+v head %d, want positions %v and head 7", page, head, want[2:])
	}
	older, _, err := s.Messages(ctx, "a", page[0].Position, 3)
	if err != nil || len(older) != 2 || older[0].Position != want[0] || older[1].Position != want[1] {
		t.Fatalf("older page %+v %v, want %v", older, err, want[:2])
	}
	events, _, err := s.EventsAfter(ctx, []string{TopicRoom("a")}, 0, 100)
	if err != nil || len(events) != len(want) {
		t.Fatalf("room events %v %v", events, err)
	}
	if _, err := s.AddMessage(ctx, "a", "", "x", time.Time{}); err == nil {
		t.Fatal("a message without a user was stored")
	}
}
