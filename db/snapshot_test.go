package db

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A snapshot, restored elsewhere, is the same database: its rows, its
// epoch and the position of the shared log it holds.
func TestSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if st, err := Inspect(ctx, filepath.Join(dir, "none.db")); err != nil || st.Exists || !st.Fresh() {
		t.Fatalf("a missing file: %+v, %v", st, err)
	}
	log, _ := sharedLog(t)
	var rec recorder
	s := openShared(t, filepath.Join(dir, "a.db"), log, &rec)
	for _, text := range []string{"one", "two", "three"} {
		if _, err := s.AddActivity(ctx, text, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	applied, err := s.Applied(ctx)
	if err != nil || applied == 0 {
		t.Fatalf("applied %d, %v", applied, err)
	}
	path, at, err := s.Snapshot(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(path)
	if at != applied {
		t.Errorf("the snapshot holds position %d, want %d", at, applied)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	to := filepath.Join(dir, "b.db")
	if err := os.WriteFile(to, []byte("an older file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Restore(to, f); err != nil {
		t.Fatal(err)
	}
	st, err := Inspect(ctx, to)
	if err != nil || st.Applied != applied || st.Epoch != log.Epoch() || st.Fresh() {
		t.Fatalf("the restored file: %+v, %v; want applied %d, epoch %s", st, err, applied, log.Epoch())
	}
	var rec2 recorder
	b := openShared(t, to, log, &rec2)
	items, _, err := b.RecentActivities(ctx, 10)
	if err != nil || len(items) != 3 || items[0].Text != "three" {
		t.Fatalf("the restored database holds %+v, %v", items, err)
	}
	if _, err := s.AddActivity(ctx, "four", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddActivity(ctx, "five", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := b.RecentActivities(ctx, 10); len(items) != 5 {
		t.Errorf("after the restore, the log goes on: %d items, want 5", len(items))
	}
	if rec2.has(1) {
		t.Errorf("the restored database applied position 1 again")
	}
}
