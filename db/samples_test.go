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
