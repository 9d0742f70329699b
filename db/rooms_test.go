package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The rooms index reads every room with messages, newest first, with its
// count and newest message, in pages; rooms by name too.
func TestRoomsIndex(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	ann, err := s.CreateUser(ctx, "ann", "$argon2id$x")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	say := func(room string, userID int64, user, content string) Message {
		t.Helper()
		at = at.Add(time.Minute)
		m, err := s.AddMessageAs(ctx, room, userID, user, content, at)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	say("ops", ann.ID, "ann", "deploying")
	say("lobby", 0, "sam", "hi")
	say("ops", 0, "sam", "done?")
	long := strings.Repeat("é", PreviewRunes+20)
	newest := say("lobby", ann.ID, "ann", long)
	say("quiet", 0, "sam", "anyone")
	quiet := say("quiet", 0, "sam", "no?")
	lobby := newest

	page, more, err := s.Rooms(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !more || len(page) != 2 || page[0].Name != "quiet" || page[1].Name != "lobby" {
		t.Fatalf("first page %+v more %v; want quiet, lobby and more", page, more)
	}
	if q := page[0]; q.Messages != 2 || q.Last.Position != quiet.Position || q.Last.Content != "no?" ||
		q.Last.User != "sam" || q.Last.UserID != 0 || !q.Last.At.Equal(quiet.At) || q.Last.Room != "quiet" {
		t.Errorf("quiet reads %+v; want 2 messages, the newest %+v", q, quiet)
	}
	if l := page[1]; l.Messages != 2 || l.Last.UserID != ann.ID || l.Last.Content != strings.Repeat("é", PreviewRunes+1) {
		t.Errorf("lobby reads %d messages by %d, preview of %d characters; want 2 by ann, %d characters",
			l.Messages, l.Last.UserID, len([]rune(l.Last.Content)), PreviewRunes+1)
	}
	older, more, err := s.Rooms(ctx, lobby.Position, 2)
	if err != nil || more || len(older) != 1 || older[0].Name != "ops" || older[0].Messages != 2 || older[0].Last.Content != "done?" {
		t.Errorf("rooms before lobby: %+v more %v %v; want ops alone", older, more, err)
	}
	named, err := s.RoomsNamed(ctx, []string{"ops", "nowhere", "quiet"})
	if err != nil || len(named) != 2 {
		t.Errorf("RoomsNamed = %+v, %v; want ops and quiet", named, err)
	}
	if _, _, err := s.Rooms(ctx, 0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("a limit of 0: %v, want ErrInvalid", err)
	}
}

// An account's unread count is the messages by others after how far it has
// read; reading further is announced on its topic, posting counts as
// reading, and a read never goes back.
func TestRoomReads(t *testing.T) {
	rec := &recorder{}
	s := openTest(t, Options{OnCommit: rec.onCommit})
	ctx := context.Background()
	ann, _ := s.CreateUser(ctx, "ann", "$argon2id$x")
	bob, _ := s.CreateUser(ctx, "bob", "$argon2id$y")
	say := func(room string, userID int64, user string) Message {
		t.Helper()
		m, err := s.AddMessageAs(ctx, room, userID, user, "text", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	reads := func(userID int64) map[string]RoomRead {
		t.Helper()
		list, head, err := s.RoomReads(ctx, userID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if _, h, _ := s.Horizon(ctx); head != h {
			t.Errorf("RoomReads read at head %d, the head is %d", head, h)
		}
		out := map[string]RoomRead{}
		for _, r := range list {
			out[r.Room] = r
		}
		return out
	}

	b1 := say("ops", bob.ID, "bob")
	say("ops", bob.ID, "bob")
	b3 := say("ops", bob.ID, "bob")
	if r := reads(ann.ID); len(r) != 0 {
		t.Errorf("ann never opened a room, yet reads %+v", r)
	}
	if r := reads(bob.ID)["ops"]; r.Position != b3.Position || r.Unread != 0 || r.Messages != 3 {
		t.Errorf("bob posted in ops: %+v; want read up to his last message, nothing unread", r)
	}

	got, err := s.ReadRoom(ctx, ann.ID, "ops", b1.Position)
	if err != nil || got != (RoomRead{Room: "ops", Position: b1.Position, Unread: 2, Messages: 3}) {
		t.Fatalf("ann reads ops up to bob's first: %+v, %v; want 2 unread of 3", got, err)
	}
	ev := rec.events()[len(rec.events())-1]
	var announced RoomRead
	if ev.Topic != TopicUser(ann.ID) || ev.Kind != KindRoomRead || json.Unmarshal(ev.Data, &announced) != nil || announced != got {
		t.Errorf("the read was announced as %s %s %s; want %s on ann's topic", ev.Topic, ev.Kind, ev.Data, KindRoomRead)
	}
	if r, _ := s.RoomReadPosition(ctx, ann.ID, "ops"); r != b1.Position {
		t.Errorf("RoomReadPosition = %d, want %d", r, b1.Position)
	}

	// Going back changes nothing and announces nothing.
	n := len(rec.events())
	if got, err := s.ReadRoom(ctx, ann.ID, "ops", b1.Position); err != nil || got.Position != b1.Position || got.Unread != 2 {
		t.Errorf("reading ops again up to the same message: %+v, %v", got, err)
	}
	if len(rec.events()) != n {
		t.Errorf("a read that moves nothing was announced: %+v", rec.events()[n:])
	}

	// ann posts: she has read up to her message; bob's next is unread, her own never is.
	say("ops", ann.ID, "ann")
	say("ops", bob.ID, "bob")
	say("ops", ann.ID, "ann")
	say("ops", 0, "sam") // a guest
	if r := reads(ann.ID)["ops"]; r.Unread != 1 || r.Messages != 7 {
		t.Errorf("after ann posted, then bob, ann, a guest: %+v; want the guest's 1 unread of 7", r)
	}
	if r := reads(bob.ID)["ops"]; r.Unread != 2 {
		t.Errorf("bob's unread after his message and two by others: %+v; want 2", r)
	}

	// Refusals.
	if _, err := s.ReadRoom(ctx, ann.ID, "nowhere", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("reading a room without messages: %v, want ErrNotFound", err)
	}
	if _, err := s.ReadRoom(ctx, ann.ID, "ops", 1_000_000); !errors.Is(err, ErrInvalid) {
		t.Errorf("reading past the newest message: %v, want ErrInvalid", err)
	}
	if _, err := s.ReadRoom(ctx, 999, "ops", b1.Position); !errors.Is(err, ErrNotFound) {
		t.Errorf("reading as no account: %v, want ErrNotFound", err)
	}

	// Counts stop at MaxUnread.
	for range MaxUnread + 5 {
		say("busy", bob.ID, "bob")
	}
	first, _, _ := s.Messages(ctx, "busy", 0, 1)
	if _, err := s.ReadRoom(ctx, ann.ID, "busy", first[0].Position-MaxUnread-4); err != nil {
		t.Fatal(err)
	}
	if r := reads(ann.ID)["busy"]; r.Unread != MaxUnread || r.Messages != MaxUnread+5 {
		t.Errorf("busy: %+v; want the count to stop at %d", r, MaxUnread)
	}

	names, err := s.UserNames(ctx, []int64{ann.ID, bob.ID, 999})
	if err != nil || len(names) != 2 || names[ann.ID] != "ann" || names[bob.ID] != "bob" {
		t.Errorf("UserNames = %v, %v", names, err)
	}
}

// Opening a database made before the rooms index sums up its rooms, and
// its authors have read each room up to their last message there.
func TestMigrationSumsUpRooms(t *testing.T) {
	scripts, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", dsn(path, "_foreign_keys=on"))
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range scripts[:5] {
		if _, err := raw.Exec(script); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Exec(`INSERT INTO meta (key, value) VALUES ('epoch', 'e');
		INSERT INTO users (id, name, name_key, password, created_at) VALUES (1, 'ann', 'ann', '$h', 0);
		INSERT INTO messages (position, room, author, user_id, content, created_at) VALUES
			(1, 'ops', 'ann', 1, 'a', 0), (2, 'ops', 'sam', NULL, 'b', 0), (3, 'lobby', 'sam', NULL, 'c', 0),
			(4, 'ops', 'gone', 7, 'd', 0), (5, 'ops', 'sam', NULL, 'e', 0);
		PRAGMA user_version = 5`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	s := openAt(t, path, Options{})
	ctx := context.Background()
	rooms, _, err := s.Rooms(ctx, 0, 10)
	if err != nil || len(rooms) != 2 || rooms[0].Name != "ops" || rooms[0].Messages != 4 || rooms[0].Last.Position != 5 ||
		rooms[1].Name != "lobby" || rooms[1].Messages != 1 {
		t.Fatalf("rooms after the upgrade: %+v, %v; want ops (4, newest 5) then lobby (1)", rooms, err)
	}
	reads, _, err := s.RoomReads(ctx, 1, 10)
	if err != nil || len(reads) != 1 || reads[0] != (RoomRead{Room: "ops", Position: 1, Unread: 3, Messages: 4}) {
		t.Errorf("ann's reads after the upgrade: %+v, %v; want ops read up to her message, 3 unread", reads, err)
	}
}

// BenchmarkRoomsIndex reads what an index page reads: the newest rooms of
// 1,000 (20,000 messages), and a reader's reads of 500 rooms, each with
// unread messages.
func BenchmarkRoomsIndex(b *testing.B) {
	s := openTest(b, Options{})
	ctx := context.Background()
	ann, _ := s.CreateUser(ctx, "ann", "$argon2id$x")
	const rooms, per = 1000, 20
	for i := range rooms * per {
		room := "room-" + strconv.Itoa(i%rooms)
		if _, err := s.AddMessageAs(ctx, room, 0, "sam", "a message of some length, as people write them", time.Time{}); err != nil {
			b.Fatal(err)
		}
		if i/rooms == per/2 && i%2 == 0 {
			if _, err := s.AddMessageAs(ctx, room, ann.ID, "ann", "me", time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("Rooms", func(b *testing.B) {
		for b.Loop() {
			if list, _, err := s.Rooms(ctx, 0, 50); err != nil || len(list) != 50 {
				b.Fatal(len(list), err)
			}
		}
	})
	b.Run("RoomReads", func(b *testing.B) {
		for b.Loop() {
			if reads, _, err := s.RoomReads(ctx, ann.ID, 500); err != nil || len(reads) != 500 || reads[0].Unread == 0 {
				b.Fatal(len(reads), err)
			}
		}
	})
}
