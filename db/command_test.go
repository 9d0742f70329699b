package db

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// everyOp is one command of every kind, in an order that applies: each
// refers only to rows made before it. The second sign-up for "ann" is
// refused wherever it is applied.
func everyOp() []Op {
	return []Op{
		&createUser{Name: "ann", Key: "ann", Password: "$argon2id$x"},
		&createUser{Name: "ANN", Key: "ann", Password: "$argon2id$y"},
		&createUser{Name: "bob", Key: "bob", Password: "$argon2id$z", OnlyFirst: true},
		&createUser{Name: "cy", Key: "cy", Password: "$argon2id$w"},
		&setRole{Name: "cy", Role: "admin"},
		&setRole{Name: "ann", Role: "member"},
		&createSession{UserID: 1, Hash: hashOf("cookie"), Agent: "a", Expires: 4_102_444_800_000},
		&touchSession{ID: 1},
		&addActivity{Text: "deployed", Link: "https://example.com"},
		&addMessage{Room: "lobby", UserID: 1, User: "ann", Content: "hello"},
		&addMessage{Room: "lobby", User: "guest", Content: "hi"},
		&readRoom{UserID: 1, Room: "lobby", Position: 11},
		&addNotification{UserID: 1, Title: "build failed", Body: "3 tests", Link: "/rooms/ops"},
		&addNotification{UserID: 1, Title: "build fixed"},
		&markRead{UserID: 1, Positions: []int64{7}},
		&markRead{UserID: 1, All: true},
		&addSample{Name: "queue", Value: 42, Unit: "jobs"},
		&addSample{Name: "gone", Value: 1},
		&deleteSeries{Name: "gone"},
		&createToken{UserID: 1, Name: "script", Hash: hashOf("bcn_1"), Scopes: []string{"notify"}},
		&createToken{Name: "bootstrap", Hash: hashOf("bcn_2"), Scopes: []string{"notify"}, Replace: true},
		&touchToken{ID: 1},
		&revokeToken{UserID: 1, ID: 1},
		&revokeToken{ID: 2, Any: true},
		&deleteSession{UserID: 1, ID: 1},
		&createWidgetToken{Widget: "room", Room: "lobby", Post: true, Origins: []string{"https://example.com"}, Expires: 4_102_444_800_000, UserID: 1},
		&revokeWidgetToken{UserID: 1, ID: 1},
		&offerSecret{Secret: "aa"},
		&offerSecret{Secret: "bb"},
	}
}

// Applying the same log to two databases, in groups of any size, writes
// the same rows in both, and every command survives its encoding.
func TestSharedLogAppliesAlikeEverywhere(t *testing.T) {
	var entries []Entry
	kinds := map[string]bool{}
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for i, op := range everyOp() {
		kinds[op.kind()] = true
		c := Command{ID: fmt.Sprintf("test-%d", i), At: at.Add(time.Duration(i) * time.Second), Op: op}
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if back.ID != c.ID || !back.At.Equal(c.At) || back.Op.kind() != op.kind() {
			t.Fatalf("round trip of %s gave %+v", b, back)
		}
		entries = append(entries, Entry{Position: int64(i + 1), Data: b})
	}
	for k := range ops {
		if !kinds[k] && k != "test" {
			t.Errorf("no command of kind %q in everyOp: add one", k)
		}
	}

	whole := openTest(t, Options{})
	events, done, err := whole.applyShared(entries)
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	for _, d := range done {
		if d.out.err != nil {
			refused = append(refused, d.id)
			if !errors.Is(d.out.err, ErrExists) && !errors.Is(d.out.err, ErrNotFirst) {
				t.Errorf("%s: %v, want ErrExists or ErrNotFirst", d.id, d.out.err)
			}
		}
	}
	if !slices.Equal(refused, []string{"test-1", "test-2"}) {
		t.Errorf("refused %v, want the second sign-up and the first-only one", refused)
	}
	for i, e := range events {
		if e.Position < 1 || e.Position > int64(len(entries)) || i > 0 && e.Position <= events[i-1].Position {
			t.Errorf("event %+v is not at its command's position, in order", e)
		}
	}

	// One entry per transaction, and every entry delivered twice (a reader
	// that starts over): the same rows.
	piecewise := openTest(t, Options{})
	for i := range entries {
		for range 2 {
			if _, _, err := piecewise.applyShared(entries[max(0, i-1) : i+1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, b := dump(t, whole), dump(t, piecewise)
	if a != b {
		t.Errorf("the same log wrote different rows:\n%s\n---\n%s", a, b)
	}
	if !strings.Contains(a, "applied|29") {
		t.Errorf("the applied position is not recorded:\n%s", a)
	}
}

// dump returns every row of every table but meta's epoch, in a stable
// order: two databases with equal dumps hold the same data.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	var out strings.Builder
	tables, err := s.r.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		tables.Scan(&n)
		names = append(names, n)
	}
	tables.Close()
	for _, n := range names {
		rows, err := s.r.Query(`SELECT * FROM "` + n + `" ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			if n == "meta" && vals[0] == "epoch" {
				continue
			}
			fmt.Fprintf(&out, "%s", n)
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = fmt.Sprintf("%x", b)
				}
				fmt.Fprintf(&out, "|%v", v)
			}
			out.WriteByte('\n')
		}
		rows.Close()
	}
	return out.String()
}

// A command from a newer Beacon is refused by name, not guessed at.
func TestDecodeCommandRefusesNewer(t *testing.T) {
	for _, b := range []string{
		`{"v":2,"id":"x","at":0,"op":"activity","data":{}}`,
		`{"v":1,"id":"x","at":0,"op":"teleport","data":{}}`,
	} {
		if _, err := DecodeCommand([]byte(b)); !errors.Is(err, ErrNewerCommand) {
			t.Errorf("%s: %v, want ErrNewerCommand", b, err)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for i, op := range everyOp() {
		b, err := EncodeCommand(Command{ID: fmt.Sprint(i), At: time.UnixMilli(int64(i)).UTC(), Op: op})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"op":"read","data":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		// Whatever decodes encodes again to the same command.
		again, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", b, err)
		}
		c2, err := DecodeCommand(again)
		if err != nil || c2.ID != c.ID || !c2.At.Equal(c.At) || c2.Op.kind() != c.Op.kind() {
			t.Fatalf("%q → %+v → %s → %+v, %v", b, c, again, c2, err)
		}
	})
}
