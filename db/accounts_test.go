package db

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestUsersSessionsTokens(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	ann, err := s.CreateUser(ctx, "Ann", "$hash")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ANN", "$hash"); !errors.Is(err, ErrExists) {
		t.Fatalf("a name taken in another case: %v, want ErrExists", err)
	}
	if u, err := s.UserByName(ctx, "ann"); err != nil || u.ID != ann.ID {
		t.Fatalf("UserByName in another case: %+v %v", u, err)
	}

	now := time.Now()
	old, err := s.CreateSession(ctx, ann.ID, "old-secret", "csrf", "agent", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionBySecret(ctx, "old-secret", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired session: %v, want ErrNotFound", err)
	}
	cur, err := s.CreateSession(ctx, ann.ID, "secret", "csrf2", "agent", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionBySecret(ctx, "secret", now)
	if err != nil || got.ID != cur.ID || got.User.Name != "Ann" || got.CSRF != "csrf2" {
		t.Fatalf("SessionBySecret = %+v, %v", got, err)
	}
	if err := s.DeleteSession(ctx, ann.ID, old.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the expired session was not cleared by the next sign-in: %v", err)
	}
	bob, _ := s.CreateUser(ctx, "bob", "$hash")
	if err := s.DeleteSession(ctx, bob.ID, cur.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob deleting ann's session: %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, ann.ID, cur.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionBySecret(ctx, "secret", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a deleted session: %v", err)
	}

	tok, err := s.CreateToken(ctx, ann.ID, "deploy", "bcn_x", []string{"notify"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, bob.ID, tok.ID, now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob revoking ann's token: %v", err)
	}
	if err := s.RevokeToken(ctx, ann.ID, tok.ID, now); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TokenByValue(ctx, "bcn_x"); err != nil || got.Revoked.IsZero() || got.UserID != ann.ID {
		t.Fatalf("a revoked token reads %+v %v", got, err)
	}
	if err := s.SetServerToken(ctx, "bootstrap", "bcn_one", []string{"notify"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetServerToken(ctx, "bootstrap", "bcn_two", []string{"notify"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByValue(ctx, "bcn_one"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the replaced bootstrap token still works: %v", err)
	}
	if list, err := s.Tokens(ctx, 0); err != nil || len(list) != 1 || list[0].Name != "bootstrap" {
		t.Fatalf("server tokens %+v %v", list, err)
	}
}

func TestNotificationsAndReads(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	ann, _ := s.CreateUser(ctx, "ann", "$hash")
	bob, _ := s.CreateUser(ctx, "bob", "$hash")
	var mine []int64
	for _, title := range []string{"a", "b", "c"} {
		n, err := s.AddNotification(ctx, ann.ID, title, "", "")
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, n.Position)
	}
	theirs, _ := s.AddNotification(ctx, bob.ID, "bob's", "", "")
	if n, err := s.MarkRead(ctx, ann.ID, []int64{mine[0], theirs.Position}); err != nil || n != 1 {
		t.Fatalf("marking one of mine and one of bob's: %d %v, want 1", n, err)
	}
	if n, err := s.MarkRead(ctx, ann.ID, []int64{mine[0]}); err != nil || n != 0 {
		t.Fatalf("marking a read one again: %d %v", n, err)
	}
	items, unread, head, err := s.Notifications(ctx, ann.ID, 10)
	if err != nil || unread != 2 || len(items) != 3 || items[0].Position != mine[2] || !items[2].Read || head < theirs.Position {
		t.Fatalf("Notifications = %+v unread %d head %d %v", items, unread, head, err)
	}
	if n, err := s.MarkRead(ctx, ann.ID, nil); err != nil || n != 2 {
		t.Fatalf("mark all: %d %v", n, err)
	}
	if u, _, _ := s.Unread(ctx, bob.ID); u != 1 {
		t.Fatalf("bob's unread after ann read all: %d", u)
	}
	// The log says the same, in order, with the count after each event.
	events, _, err := s.EventsAfter(ctx, []string{TopicUser(ann.ID)}, 0, 10)
	if err != nil || len(events) != 5 {
		t.Fatalf("ann's events %+v %v", events, err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if got := fmt.Sprint(kinds); got != "[notification notification notification read read]" {
		t.Fatalf("kinds %s", got)
	}
}
