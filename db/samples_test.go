package db

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestSamples(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	add := []Sample{
		{"mem", 10, "MB", t0},
		{"cpu", 0.5, "", t0.Add(time.Second)},
		{"mem", 12, "MB", t0.Add(2 * time.Second)},
		{"cpu", 0.7, "", t0.Add(3 * time.Second)},
		{"mem", 11, "MB", t0.Add(time.Second)}, // late, not the newest
	}
	for _, smp := range add {
		if err := s.AddSample(ctx, smp); err != nil {
			t.Fatal(err)
		}
	}

	since, err := s.SamplesSince(ctx, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := []Sample{add[1], add[4], add[2], add[3]} // oldest first, ties in insertion order
	if !slices.Equal(since, want) {
		t.Errorf("SamplesSince = %v, want %v", since, want)
	}

	latest, err := s.LatestSamples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Sample{add[3], add[2]}; !slices.Equal(latest, want) {
		t.Errorf("LatestSamples = %v, want %v", latest, want)
	}

	for _, bad := range []Sample{{Name: ""}, {Name: "x", Value: math.NaN()}, {Name: "x", Value: math.Inf(1)}} {
		if err := s.AddSample(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddSample(%v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestPruneSamples(t *testing.T) {
	s := openTest(t, Options{})
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, age := range []time.Duration{25 * time.Hour, 23 * time.Hour, time.Minute} {
		if err := s.AddSample(ctx, Sample{Name: "m", Value: 1, At: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	err := s.write(ctx, func(tx *sql.Tx, _ int64) ([]Event, error) { return nil, prune(tx, now, 100) })
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SamplesSince(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].At.Equal(now.Add(-23*time.Hour)) {
		t.Errorf("after pruning: %v, want the samples of the last 24h", got)
	}
}

// Deleting a series deletes its samples, not others', and announces it
// after commit; a name with no samples is deleted all the same (a running
// server may hold it past its stored samples).
func TestDeleteSeries(t *testing.T) {
	var announced []Event
	s := openTest(t, Options{OnCommit: func(evs []Event) { announced = append(announced, evs...) }})
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour) // younger than the samples kept
	for i, name := range []string{"queue", "queue", "disk"} {
		if err := s.AddSample(ctx, Sample{Name: name, Value: float64(i), At: t0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteSeries(ctx, "queue", t0.Add(time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("DeleteSeries = %d, %v; want 2 samples deleted", n, err)
	}
	left, err := s.SamplesSince(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Name != "disk" {
		t.Errorf("samples left: %v, want disk's only", left)
	}
	if len(announced) != 1 || announced[0].Topic != TopicSeries || announced[0].Kind != KindSeriesDeleted || string(announced[0].Data) != `{"name":"queue"}` {
		t.Errorf("announced %+v, want one %s event naming queue", announced, KindSeriesDeleted)
	}
	if n, err := s.DeleteSeries(ctx, "never", t0.Add(time.Minute)); err != nil || n != 0 || len(announced) != 2 {
		t.Errorf("deleting a series without samples: %d, %v, %d events; want 0, nil and an event", n, err, len(announced))
	}
	if _, err := s.DeleteSeries(ctx, "", t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeleteSeries(\"\") = %v, want ErrInvalid", err)
	}
}
