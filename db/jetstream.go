package db

import (
	"context"
	"errors"
	"fmt"

	"github.com/beacon-live/beacon/cluster"
)

// JetStream is the shared log of a cluster: package cluster's stream, as
// the store needs it (Shared). Its sequences are the positions.
type JetStream struct {
	Log *cluster.Log
	// Reader tunes the apply loop's reader; the zero value is ready.
	Reader cluster.ReaderConfig
}

var _ Shared = JetStream{}

// Append implements Shared.
func (j JetStream) Append(ctx context.Context, id string, data []byte) (int64, error) {
	seq, err := j.Log.Append(ctx, id, data)
	if errors.Is(err, cluster.ErrUnavailable) {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return int64(seq), err
}

// Read implements Shared.
func (j JetStream) Read(from int64) SharedReader {
	return jetStreamReader{j.Log.Read(uint64(max(from, 1)), j.Reader)}
}

// Epoch implements Shared.
func (j JetStream) Epoch() string { return j.Log.Epoch() }

// FirstPosition implements Shared.
func (j JetStream) FirstPosition() int64 { return int64(j.Log.FirstSeq()) }

type jetStreamReader struct{ r *cluster.Reader }

func (r jetStreamReader) Next(ctx context.Context) ([]Entry, error) {
	got, err := r.r.Next(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(got))
	for i, e := range got {
		out[i] = Entry{Position: int64(e.Seq), Data: e.Data}
	}
	return out, nil
}

func (r jetStreamReader) Close() { r.r.Close() }

// Last implements Shared.
func (j JetStream) Last(ctx context.Context) (int64, error) {
	_, last, err := j.Log.Bounds(ctx)
	return int64(last), err
}
