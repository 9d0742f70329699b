package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestFirstUserIsAdminRaceFree: many first sign-ups at once, through two
// stores on one file (a server and the command line), make exactly one
// admin; CreateFirstUser lets exactly one of them in.
func TestFirstUserIsAdminRaceFree(t *testing.T) {
	for _, first := range []bool{false, true} {
		t.Run(fmt.Sprintf("onlyFirst=%v", first), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "beacon.db")
			stores := []*Store{openAt(t, path, Options{}), openAt(t, path, Options{})}
			const n = 16
			users := make([]User, n)
			errs := make([]error, n)
			gate := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-gate
					create := stores[i%2].CreateUser
					if first {
						create = stores[i%2].CreateFirstUser
					}
					users[i], errs[i] = create(context.Background(), fmt.Sprintf("u%d", i), "$hash")
				})
			}
			close(gate)
			wg.Wait()
			admins, made := 0, 0
			for i := range n {
				switch {
				case errs[i] == nil:
					made++
					if users[i].Admin() {
						admins++
					}
				case first && errors.Is(errs[i], ErrNotFirst):
				default:
					t.Errorf("user %d: %v", i, errs[i])
				}
			}
			if admins != 1 || (first && made != 1) || (!first && made != n) {
				t.Fatalf("%d accounts made, %d admins; want %d and exactly 1", made, admins, map[bool]int{true: 1, false: n}[first])
			}
			all, err := stores[0].Users(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			stored := 0
			for _, u := range all {
				if u.Admin() {
					stored++
				}
			}
			if stored != 1 || len(all) != made {
				t.Errorf("stored: %d users, %d admins", len(all), stored)
			}
		})
	}
}

func TestSetRole(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	ann, _ := s.CreateUser(ctx, "ann", "$hash")
	bob, _ := s.CreateUser(ctx, "bob", "$hash")
	if !ann.Admin() || bob.Admin() || bob.Role != RoleMember {
		t.Fatalf("ann %q, bob %q: want the first admin, the second member", ann.Role, bob.Role)
	}
	if _, err := s.SetRole(ctx, "ann", RoleMember); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demoting the only admin: %v, want ErrLastAdmin", err)
	}
	if u, err := s.SetRole(ctx, "BOB", RoleAdmin); err != nil || !u.Admin() || u.ID != bob.ID {
		t.Fatalf("promoting bob: %+v %v", u, err)
	}
	if u, err := s.SetRole(ctx, "ann", RoleMember); err != nil || u.Admin() {
		t.Fatalf("demoting ann beside bob: %+v %v", u, err)
	}
	if _, err := s.SetRole(ctx, "nobody", RoleAdmin); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown name: %v", err)
	}
	if _, err := s.SetRole(ctx, "ann", "owner"); !errors.Is(err, ErrInvalid) {
		t.Errorf("an unknown role: %v", err)
	}
	// A session and a token see the role as it is now.
	if _, err := s.CreateSession(ctx, ann.ID, "secret", "agent", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, ann.ID, "t", "bcn_ann", []string{"notify"}); err != nil {
		t.Fatal(err)
	}
	sess, _ := s.SessionBySecret(ctx, "secret", time.Now())
	tok, _ := s.TokenByValue(ctx, "bcn_ann")
	if sess.User.Admin() || tok.OwnerRole != RoleMember {
		t.Errorf("after demotion: session role %q, token owner %q; want member", sess.User.Role, tok.OwnerRole)
	}
	if _, err := s.SetRole(ctx, "ann", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	sess, _ = s.SessionBySecret(ctx, "secret", time.Now())
	tok, _ = s.TokenByValue(ctx, "bcn_ann")
	if !sess.User.Admin() || tok.OwnerRole != RoleAdmin {
		t.Errorf("after promotion: session role %q, token owner %q; want admin", sess.User.Role, tok.OwnerRole)
	}
	if has, err := s.HasUsers(ctx); err != nil || !has {
		t.Errorf("HasUsers = %v %v", has, err)
	}
}

// TestRolesMigration: a database made before roles makes its oldest
// account the admin when it is opened.
func TestRolesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	scripts, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", dsn(path, "_foreign_keys=on"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range append(scripts[:3:3],
		`INSERT INTO meta (key, value) VALUES ('epoch', 'e')`,
		`INSERT INTO users (name, password, created_at) VALUES ('zoe', 'h', 1), ('adam', 'h', 2)`,
		`PRAGMA user_version = 3`) {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()
	s := openAt(t, path, Options{})
	all, err := s.Users(context.Background())
	if err != nil || len(all) != 2 || !all[0].Admin() || all[0].Name != "zoe" || all[1].Admin() {
		t.Fatalf("after the migration: %+v %v; want zoe (the oldest) admin, adam member", all, err)
	}
}

func TestWidgetTokens(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	ann, _ := s.CreateUser(ctx, "ann", "$hash")
	bob, _ := s.CreateUser(ctx, "bob", "$hash")
	exp := time.Now().Add(time.Hour)
	a, err := s.CreateWidgetToken(ctx, WidgetToken{Widget: "room", Room: "lobby", Post: true, Origins: []string{"https://a.example", "http://b:1"}, Expires: exp, UserID: ann.ID})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.CreateWidgetToken(ctx, WidgetToken{Widget: "chart", Expires: exp, UserID: bob.ID})
	cli, _ := s.CreateWidgetToken(ctx, WidgetToken{Widget: "metrics", Expires: exp})
	if a.ID == 0 || b.ID <= a.ID || cli.ID <= b.ID {
		t.Fatalf("ids %d %d %d", a.ID, b.ID, cli.ID)
	}
	got, err := s.WidgetTokenByID(ctx, a.ID)
	if err != nil || got.Widget != "room" || got.Room != "lobby" || !got.Post || len(got.Origins) != 2 || got.UserName != "ann" ||
		!got.Expires.Equal(toMilli(exp)) || !got.Revoked.IsZero() {
		t.Fatalf("WidgetTokenByID = %+v %v", got, err)
	}
	if _, err := s.WidgetTokenByID(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown id: %v", err)
	}
	if _, err := s.CreateWidgetToken(ctx, WidgetToken{Widget: "chart"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no expiry: %v", err)
	}
	mine, _ := s.WidgetTokens(ctx, bob.ID, 100)
	all, _ := s.WidgetTokens(ctx, 0, 100)
	if len(mine) != 1 || mine[0].ID != b.ID || len(all) != 3 || all[0].ID != cli.ID || all[0].UserName != "" {
		t.Fatalf("bob's list %+v; everyone's %+v", mine, all)
	}
	since := time.Now().Add(-time.Second)
	if err := s.RevokeWidgetToken(ctx, bob.ID, a.ID, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob revoking ann's widget: %v, want ErrNotFound", err)
	}
	if err := s.RevokeWidgetToken(ctx, ann.ID, a.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeWidgetToken(ctx, 0, a.ID, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v, want ErrNotFound", err)
	}
	if err := s.RevokeWidgetToken(ctx, 0, cli.ID, time.Now()); err != nil {
		t.Errorf("revoking any token with userID 0: %v", err)
	}
	if got, _ := s.WidgetTokenByID(ctx, a.ID); got.Revoked.IsZero() {
		t.Errorf("a revoked widget token reads as working")
	}
	ids, err := s.WidgetTokensRevokedSince(ctx, since)
	if err != nil || fmt.Sprint(ids) != fmt.Sprint([]int64{a.ID, cli.ID}) {
		t.Errorf("revoked since: %v %v", ids, err)
	}
	if ids, _ := s.WidgetTokensRevokedSince(ctx, time.Now().Add(time.Minute)); len(ids) != 0 {
		t.Errorf("revoked in the future: %v", ids)
	}
}
