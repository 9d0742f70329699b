package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
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
	old, err := s.CreateSession(ctx, ann.ID, "old-secret", "agent", now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionBySecret(ctx, "old-secret", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an expired session: %v, want ErrNotFound", err)
	}
	cur, err := s.CreateSession(ctx, ann.ID, "secret", "agent", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionBySecret(ctx, "secret", now)
	if err != nil || got.ID != cur.ID || got.User.Name != "Ann" {
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

// TestSessionLastUse: a session starts used at its creation; TouchSession
// records later uses and never moves the time back; the list shows it.
func TestSessionLastUse(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	ann, err := s.CreateUser(ctx, "ann", "$hash")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sess, err := s.CreateSession(ctx, ann.ID, "secret", "agent", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !sess.LastUsed.Equal(sess.At) {
		t.Fatalf("a new session was last used at %v, want its creation %v", sess.LastUsed, sess.At)
	}
	later := now.Add(10 * time.Minute)
	if err := s.TouchSession(ctx, sess.ID, later); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, sess.ID, now.Add(time.Minute)); err != nil { // a late, older touch
		t.Fatal(err)
	}
	got, err := s.SessionBySecret(ctx, "secret", now)
	if err != nil || got.LastUsed.UnixMilli() != later.UnixMilli() {
		t.Fatalf("after touches, last used %v (%v), want %v", got.LastUsed, err, later)
	}
	list, err := s.Sessions(ctx, ann.ID, now)
	if err != nil || len(list) != 1 || list[0].LastUsed.UnixMilli() != later.UnixMilli() {
		t.Fatalf("Sessions = %+v, %v; want one last used at %v", list, err, later)
	}
}

// TestNameKeys: names that PRECIS prepares alike are one name; a lookup
// prefers the exact name, then the key.
func TestNameKeys(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	emile, err := s.CreateUser(ctx, "Émile", "$hash")
	if err != nil {
		t.Fatal(err)
	}
	for _, taken := range []string{"émile", "ÉMILE", "E\u0301mile"} {
		if _, err := s.CreateUser(ctx, taken, "$hash"); !errors.Is(err, ErrExists) {
			t.Errorf("CreateUser(%q) beside Émile: %v, want ErrExists", taken, err)
		}
	}
	if _, err := s.CreateUser(ctx, "a b", "$hash"); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateUser with a name of two words: %v, want ErrInvalid", err)
	}
	for _, name := range []string{"Émile", "émile", "ÉMILE", "E\u0301mile"} {
		if u, err := s.UserByName(ctx, name); err != nil || u.ID != emile.ID || u.Name != "Émile" {
			t.Errorf("UserByName(%q) = %+v, %v; want Émile", name, u, err)
		}
	}
	for _, name := range []string{"emile", "Émile2", "a b", ""} {
		if u, err := s.UserByName(ctx, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("UserByName(%q) = %+v, %v; want ErrNotFound", name, u, err)
		}
	}
}

// TestMigrationKeysOldNames: opening a database made before name keys
// gives each account its name's key, oldest first; an account whose name
// collides with an older one's, or has no key, is kept and found by its
// exact name only. Its sessions count as used at the upgrade.
func TestMigrationKeysOldNames(t *testing.T) {
	scripts, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", dsn(path, "_foreign_keys=on"))
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range scripts[:3] {
		if _, err := raw.Exec(script); err != nil {
			t.Fatal(err)
		}
	}
	longAgo := time.Now().Add(-60 * 24 * time.Hour).UnixMilli()
	if _, err := raw.Exec(`INSERT INTO meta (key, value) VALUES ('epoch', 'e');
		INSERT INTO users (id, name, password, created_at) VALUES (1, 'Émile', '$h', 0), (2, 'émile', '$h', 0), (3, 'ﬁsh', '$h', 0), (4, 'Bob', '$h', 0);
		INSERT INTO sessions (hash, user_id, csrf, agent, created_at, expires_at) VALUES (x'00', 4, 'c', 'a', ?, ?);
		PRAGMA user_version = 3`, longAgo, time.Now().Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	before := time.Now().Add(-time.Second)

	s := openAt(t, path, Options{})
	ctx := context.Background()
	for name, id := range map[string]int64{"Émile": 1, "ÉMILE": 1, "E\u0301mile": 1, "émile": 2, "ﬁsh": 3, "bob": 4, "BOB": 4} {
		if u, err := s.UserByName(ctx, name); err != nil || u.ID != id {
			t.Errorf("UserByName(%q) = %+v, %v; want account %d", name, u, err, id)
		}
	}
	unkeyed, err := s.UnkeyedUsers(ctx)
	if err != nil || len(unkeyed) != 2 || unkeyed[0].ID != 2 || unkeyed[1].ID != 3 {
		t.Errorf("UnkeyedUsers = %+v, %v; want émile (2) and ﬁsh (3)", unkeyed, err)
	}
	list, err := s.Sessions(ctx, 4, time.Now())
	if err != nil || len(list) != 1 || list[0].LastUsed.Before(before) {
		t.Errorf("Bob's sessions after the upgrade: %+v, %v; want one last used at the upgrade", list, err)
	}
}

// TestNotificationByPosition: a notification is found by its position for
// its owner only (GET /notifications/:pos/open reads it to redirect).
func TestNotificationByPosition(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	ann, _ := s.CreateUser(ctx, "ann", "$hash")
	bob, _ := s.CreateUser(ctx, "bob", "$hash")
	n, err := s.AddNotification(ctx, ann.ID, "Build failed", "3 tests", "/rooms/ops")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Notification(ctx, ann.ID, n.Position)
	if err != nil || got.Title != "Build failed" || got.Link != "/rooms/ops" || got.Read || !got.At.Equal(n.At) {
		t.Fatalf("Notification(ann) = %+v, %v; want %+v", got, err, n)
	}
	if _, err := s.Notification(ctx, bob.ID, n.Position); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob reads ann's notification: %v, want ErrNotFound", err)
	}
	if _, err := s.MarkRead(ctx, ann.ID, []int64{n.Position}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Notification(ctx, ann.ID, n.Position); err != nil || !got.Read {
		t.Errorf("after MarkRead: %+v, %v; want it read", got, err)
	}
}
