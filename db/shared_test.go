package db

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/beacon-live/beacon/cluster"
)

// sharedLog starts a one-node NATS with JetStream in a temporary directory
// and opens the log on it. stop shuts NATS down (for tests of an outage);
// cleanup does it too.
func sharedLog(t *testing.T) (log *cluster.Log, stop func()) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := cluster.StartServer(cluster.ServerConfig{Name: "n1", StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := cluster.Dial(ctx, cluster.ClientConfig{URLs: []string{srv.ClientURL()}, Name: t.Name(), Logger: quiet})
	if err != nil {
		srv.Shutdown()
		t.Fatal(err)
	}
	log, err = client.OpenLog(ctx, cluster.LogConfig{})
	if err != nil {
		client.Close()
		srv.Shutdown()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.Close()
		srv.Shutdown()
	})
	return log, srv.Shutdown
}

// openShared opens a database file that follows log, recording what its
// OnCommit sees.
func openShared(t *testing.T, path string, log *cluster.Log, rec *recorder) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{Shared: JetStream{Log: log}, OnCommit: rec.onCommit})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Start()
	return s
}

// waitApplied waits until rec has seen an event at pos.
func waitApplied(t *testing.T, rec *recorder, pos int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !rec.has(pos) {
		if time.Now().After(deadline) {
			t.Fatalf("position %d was never applied", pos)
		}
		time.Sleep(5 * time.Millisecond) // polling only
	}
}

// Two instances share one log: a write on one returns once that one has
// applied it, and reaches the other at the same position; a name signed up
// on both at once is taken by exactly one, and both agree which.
func TestSharedLogTwoInstances(t *testing.T) {
	log, _ := sharedLog(t)
	dir := t.TempDir()
	var recA, recB recorder
	a := openShared(t, filepath.Join(dir, "a.db"), log, &recA)
	b := openShared(t, filepath.Join(dir, "b.db"), log, &recB)
	if a.Epoch() != log.Epoch() || b.Epoch() != log.Epoch() {
		t.Fatalf("epochs %s and %s, want the log's %s", a.Epoch(), b.Epoch(), log.Epoch())
	}

	ctx := context.Background()
	act, err := a.AddActivity(ctx, "deployed", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !recA.has(act.Position) {
		t.Errorf("AddActivity returned before its own instance applied %d", act.Position)
	}
	waitApplied(t, &recB, act.Position)
	items, _, err := b.RecentActivities(ctx, 10)
	if err != nil || len(items) != 1 || items[0] != act {
		t.Fatalf("B's feed %+v (%v), want %+v", items, err, act)
	}

	var wg sync.WaitGroup
	users := make([]User, 2)
	errs := make([]error, 2)
	for i, s := range []*Store{a, b} {
		wg.Go(func() { users[i], errs[i] = s.CreateUser(ctx, "ann", "$argon2id$"+string(rune('a'+i))) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("both sign-ups succeeded: %+v", users)
			}
			won = i
		case !errors.Is(err, ErrExists):
			t.Fatalf("sign-up %d: %v, want ErrExists or success", i, err)
		}
	}
	if won < 0 {
		t.Fatalf("no sign-up succeeded: %v", errs)
	}
	// B may still be applying A's sign-up: a later write of its own is
	// applied after it.
	if _, err := b.AddActivity(ctx, "sync", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddActivity(ctx, "sync", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Store{a, b} {
		u, err := s.UserByName(ctx, "ann")
		if err != nil || u != users[won] {
			t.Errorf("an instance has %+v (%v), want the winner %+v", u, err, users[won])
		}
	}
}

// An instance that restarts goes on from where it stopped: nothing applied
// twice, nothing missed, what was written meanwhile included.
func TestSharedLogRestartContinues(t *testing.T) {
	log, _ := sharedLog(t)
	dir := t.TempDir()
	var recA, recB recorder
	a := openShared(t, filepath.Join(dir, "a.db"), log, &recA)
	b, err := Open(context.Background(), filepath.Join(dir, "b.db"), Options{Shared: JetStream{Log: log}, OnCommit: recB.onCommit})
	if err != nil {
		t.Fatal(err)
	}
	b.Start()
	ctx := context.Background()
	first, err := a.AddActivity(ctx, "one", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, &recB, first.Position)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	second, err := a.AddActivity(ctx, "two", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var again recorder
	b = openShared(t, filepath.Join(dir, "b.db"), log, &again)
	waitApplied(t, &again, second.Position)
	if again.has(first.Position) {
		t.Errorf("the restarted instance applied %d again", first.Position)
	}
	items, _, err := b.RecentActivities(ctx, 10)
	if err != nil || len(items) != 2 {
		t.Errorf("after the restart B holds %d items (%v), want 2", len(items), err)
	}
}

// With NATS gone, a write fails with ErrUnavailable and changes nothing.
func TestSharedLogUnavailable(t *testing.T) {
	log, stop := sharedLog(t)
	var rec recorder
	s := openShared(t, filepath.Join(t.TempDir(), "a.db"), log, &rec)
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.AddActivity(ctx, "lost", "", time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("AddActivity with NATS down: %v, want ErrUnavailable", err)
	}
	if items, _, err := s.RecentActivities(context.Background(), 10); err != nil || len(items) != 0 {
		t.Errorf("a failed write left %d items (%v)", len(items), err)
	}
}

// A database that followed a cluster's log, opened without it, can be
// read but refuses writes: its rows are the log's.
func TestSharedLogFollowerRefusesLocalWrites(t *testing.T) {
	log, _ := sharedLog(t)
	path := filepath.Join(t.TempDir(), "a.db")
	var rec recorder
	a := openShared(t, path, log, &rec)
	if _, err := a.AddActivity(context.Background(), "from the log", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	alone := openAt(t, path, Options{})
	if items, _, err := alone.RecentActivities(context.Background(), 10); err != nil || len(items) != 1 {
		t.Errorf("reading a follower alone: %d items, %v", len(items), err)
	}
	if _, err := alone.AddActivity(context.Background(), "local", "", time.Time{}); !errors.Is(err, ErrFollower) {
		t.Errorf("writing a follower alone: %v, want ErrFollower", err)
	}
}
