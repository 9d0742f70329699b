package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"
)

func userVersion(t *testing.T, s *Store) int {
	t.Helper()
	var v int
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenMigratesOnceAndKeepsEpoch(t *testing.T) {
	scripts, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "beacon.db")

	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	epoch := s.Epoch()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(epoch) {
		t.Errorf("epoch %q is not 16 hex characters", epoch)
	}
	if v := userVersion(t, s); v != len(scripts) {
		t.Errorf("user_version = %d, want %d", v, len(scripts))
	}
	var mode string
	if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if _, err := s.r.Exec(`INSERT INTO meta (key, value) VALUES ('x', 'y')`); err == nil {
		t.Error("the reader pool could write")
	}
	if _, err := s.AddActivity(context.Background(), "kept", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Migration 1 uses CREATE TABLE without IF NOT EXISTS: running it again
	// would fail the reopen.
	again := openAt(t, path, Options{})
	if again.Epoch() != epoch {
		t.Errorf("reopened epoch = %q, want %q", again.Epoch(), epoch)
	}
	if v := userVersion(t, again); v != len(scripts) {
		t.Errorf("reopened user_version = %d, want %d", v, len(scripts))
	}
	items, _, err := again.RecentActivities(context.Background(), 10)
	if err != nil || len(items) != 1 || items[0].Text != "kept" {
		t.Errorf("reopened activities = %v, %v; want the one added before", items, err)
	}

	other := openTest(t, Options{})
	if other.Epoch() == epoch {
		t.Errorf("a new database has the same epoch %q", epoch)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beacon.db")
	s := openAt(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", dsn(path, ""))
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec("PRAGMA user_version = 999")
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a schema newer than its migrations")
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "beacon.db")
	if s, err := Open(context.Background(), path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open succeeded in a directory that does not exist")
	}
}

func TestOpenOddFileName(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a b?c#d%20.db")
	s := openAt(t, path, Options{})
	if _, err := s.AddActivity(context.Background(), "x", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if items, _, err := s.RecentActivities(context.Background(), 1); err != nil || len(items) != 1 {
		t.Fatalf("RecentActivities = %v, %v", items, err)
	}
}

func TestCloseFinishesQueuedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beacon.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)

	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.AddActivity(context.Background(), "queued", "", time.Time{})
			errs <- err
		}()
	}
	waitQueued(s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	for !s.closed.Load() {
		runtime.Gosched()
	}
	if _, err := s.AddActivity(context.Background(), "late", "", time.Time{}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddActivity after Close = %v, want ErrClosed", err)
	}
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("queued write: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.AddSample(context.Background(), Sample{Name: "x"}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddSample after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.Horizon(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Horizon after Close = %v, want ErrClosed", err)
	}

	again := openAt(t, path, Options{})
	items, _, err := again.RecentActivities(context.Background(), 100)
	if err != nil || len(items) != n {
		t.Errorf("after reopen: %d activities, %v; want %d", len(items), err, n)
	}
}

// Writers race Close: each write either commits (and OnCommit saw it) or
// returns ErrClosed (and nothing was written).
func TestCloseConcurrentWithWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beacon.db")
	var rec recorder
	started := make(chan struct{})
	var once sync.Once
	s, err := Open(context.Background(), path, Options{OnCommit: func(evs []Event) {
		rec.onCommit(evs)
		if evs[len(evs)-1].Position >= 100 {
			once.Do(func() { close(started) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu sync.Mutex
		ok = map[int64]bool{}
		wg sync.WaitGroup
	)
	for range 20 {
		wg.Go(func() {
			for {
				a, err := s.AddActivity(context.Background(), "racing", "", time.Time{})
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ok[a.Position] = true
				mu.Unlock()
			}
		})
	}
	<-started
	var closers sync.WaitGroup
	for range 3 {
		closers.Go(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	closers.Wait()
	wg.Wait()

	again := openAt(t, path, Options{})
	logged, _, err := again.EventsAfter(context.Background(), []string{topicActivity}, 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != len(ok) {
		t.Errorf("%d events in the log, %d writes succeeded", len(logged), len(ok))
	}
	for _, e := range logged {
		if !ok[e.Position] {
			t.Errorf("event %d is in the log but its write failed", e.Position)
		}
		if !rec.has(e.Position) {
			t.Errorf("OnCommit did not see event %d", e.Position)
		}
	}
}
