package db

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// Sample is one value of a posted metric.
type Sample struct {
	Name  string
	Value float64
	Unit  string
	At    time.Time
}

// AddSample stores one sample of a posted metric. A zero At means now; an
// empty name or a value that is not a finite number is ErrInvalid.
func (s *Store) AddSample(ctx context.Context, smp Sample) error {
	if smp.Name == "" {
		return fmt.Errorf("%w: sample has no name", ErrInvalid)
	}
	if math.IsNaN(smp.Value) || math.IsInf(smp.Value, 0) {
		return fmt.Errorf("%w: sample %q is not a finite number", ErrInvalid, smp.Name)
	}
	_, err := s.do(ctx, smp.At, &addSample{Name: smp.Name, Value: smp.Value, Unit: smp.Unit})
	return err
}

// addSample is the command of AddSample.
type addSample struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

func init() { registerOp(func() Op { return new(addSample) }) }

func (*addSample) kind() string { return "sample" }

func (c *addSample) apply(tx *sql.Tx, _ int64, at time.Time) (any, []Event, error) {
	_, err := tx.Exec(`INSERT INTO samples (name, value, unit, at) VALUES (?, ?, ?, ?)`,
		c.Name, c.Value, c.Unit, at.UnixMilli())
	return nil, nil, err
}

// DeleteSeries deletes every sample of the posted metric name and
// announces it on TopicSeries, so that every instance drops the series
// from its charts when it applies the command. It returns how many samples
// it deleted: none is no refusal, since a series may outlive its stored
// samples in a running server's memory.
func (s *Store) DeleteSeries(ctx context.Context, name string, now time.Time) (int64, error) {
	if name == "" {
		return 0, fmt.Errorf("%w: series has no name", ErrInvalid)
	}
	n, err := s.do(ctx, now, &deleteSeries{Name: name})
	if err != nil {
		return 0, err
	}
	return n.(int64), nil
}

// deleteSeries is the command of DeleteSeries.
type deleteSeries struct {
	Name string `json:"name"`
}

func init() { registerOp(func() Op { return new(deleteSeries) }) }

func (*deleteSeries) kind() string { return "series_delete" }

func (c *deleteSeries) apply(tx *sql.Tx, pos int64, at time.Time) (any, []Event, error) {
	res, err := tx.Exec(`DELETE FROM samples WHERE name = ?`, c.Name)
	if err != nil {
		return nil, nil, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, nil, err
	}
	e, err := appendEvent(tx, pos, TopicSeries, KindSeriesDeleted, at, SeriesDeleted{Name: c.Name})
	return n, []Event{e}, err
}

// TopicSeries is the topic of events about posted metrics' series. No
// client reads it: its events tell every instance to drop a series.
const TopicSeries = "series"

// KindSeriesDeleted is the kind of the event of a deleted series.
const KindSeriesDeleted = "series_deleted"

// SeriesDeleted is the data of a KindSeriesDeleted event.
type SeriesDeleted struct {
	Name string `json:"name"`
}

// SamplesSince returns every sample at or after t, oldest first (used at
// start-up to refill the chart and the latest value of each metric).
func (s *Store) SamplesSince(ctx context.Context, t time.Time) ([]Sample, error) {
	return s.samples(ctx, `SELECT name, value, unit, at FROM samples
		WHERE at >= ? ORDER BY at, id`, t.UnixMilli())
}

// LatestSamples returns the newest sample of every metric name, sorted by name.
func (s *Store) LatestSamples(ctx context.Context) ([]Sample, error) {
	return s.samples(ctx, `SELECT name, value, unit, at FROM (
			SELECT name, value, unit, at,
				row_number() OVER (PARTITION BY name ORDER BY at DESC, id DESC) AS n
			FROM samples)
		WHERE n = 1 ORDER BY name`)
}

func (s *Store) samples(ctx context.Context, query string, args ...any) ([]Sample, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.readErr(err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var smp Sample
		var ms int64
		if err := rows.Scan(&smp.Name, &smp.Value, &smp.Unit, &ms); err != nil {
			return nil, err
		}
		smp.At = fromMilli(ms)
		out = append(out, smp)
	}
	return out, s.readErr(rows.Err())
}
