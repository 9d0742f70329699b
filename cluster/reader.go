package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrGap is wrapped by Reader.Next when the log does not hold the position
// asked for: it was dropped by the stream's bounds (or the position comes
// from another log). The caller restores a snapshot and reads on from it.
var ErrGap = errors.New("cluster: log does not hold the position")

// Defaults of ReaderConfig.
const (
	// DefaultMaxBatch is the most entries one Reader.Next returns.
	DefaultMaxBatch = 256
	// DefaultReaderWait is how long one pull for new entries waits at the
	// server before it is renewed.
	DefaultReaderWait = 5 * time.Second
	// DefaultReaderHeartbeat is how often the server confirms a waiting
	// pull is alive; two missed and the reader starts over where it was.
	DefaultReaderHeartbeat = time.Second
)

// readerIdle is how long the server keeps a reader's consumer after the
// reader stopped pulling (it vanished without Close).
const readerIdle = 5 * time.Minute

// ReaderConfig tunes a Reader. The zero value is ready to use.
type ReaderConfig struct {
	// MaxBatch is the most entries one Next returns; default DefaultMaxBatch.
	MaxBatch int
	// Wait is how long a pull waits at the server; default DefaultReaderWait.
	Wait time.Duration
	// Heartbeat is the server's liveness signal on a waiting pull; default
	// DefaultReaderHeartbeat, less than Wait/2.
	Heartbeat time.Duration
}

func (c ReaderConfig) withDefaults() ReaderConfig {
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Wait <= 0 {
		c.Wait = DefaultReaderWait
	}
	if c.Heartbeat <= 0 || 2*c.Heartbeat >= c.Wait {
		c.Heartbeat = min(DefaultReaderHeartbeat, c.Wait/4)
	}
	return c
}

// Entry is one entry of the log.
type Entry struct {
	// Seq is the entry's position: dense, from 1, never reused.
	Seq uint64
	// MsgID is the id it was appended with.
	MsgID string
	// Data is what was appended; the caller owns it.
	Data []byte
	// Time is when the stream stored it.
	Time time.Time
}

// Reader reads the log in order from a given position. It is not safe for
// concurrent use: one goroutine (the apply loop) owns it.
//
// It pulls through an ephemeral consumer of its own, created at its
// position, and replaces it on any irregularity. nats.go's ordered consumer
// does the same internally, but it re-creates its consumer with its own
// timeouts and backoff, deaf to the caller's context (its first creation
// retries for ever), and reports no gap; checking every sequence here is
// needed for the gap anyway, and makes every wait the caller's.
type Reader struct {
	l    *Log
	cfg  ReaderConfig
	next uint64 // the sequence Next returns first

	cons  jetstream.Consumer // nil until opened, and after a failure
	fresh bool               // cons has delivered nothing yet
}

// Read returns a Reader that starts at sequence from (1 is the first a log
// ever holds). It does no I/O until Next. Close must be called.
func (l *Log) Read(from uint64, cfg ReaderConfig) *Reader {
	return &Reader{l: l, cfg: cfg.withDefaults(), next: max(from, 1)}
}

// Position is the sequence the next entry returned will have.
func (r *Reader) Position() uint64 { return r.next }

// Next blocks until at least one entry is available, then returns it and
// whatever else is available already, up to MaxBatch, in order: every
// sequence exactly once, with no gap. It rides out disconnections, node
// restarts and leader changes by starting over at its position, retrying
// until ctx ends (it then returns ctx's error). It returns an error
// wrapping ErrGap when the log no longer holds (or never held) the next
// position; Next can be called again after any error.
func (r *Reader) Next(ctx context.Context) ([]Entry, error) {
	wait := 50 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if r.cons == nil {
			if err := r.open(ctx); err != nil {
				if errors.Is(err, ErrGap) || ctx.Err() != nil {
					return nil, err
				}
				r.l.c.log.Debug("cluster reader cannot open; retrying", "at", r.next, "err", err)
				if err := sleep(ctx, wait); err != nil {
					return nil, err
				}
				wait = backoff(wait, time.Second)
				continue
			}
			wait = 50 * time.Millisecond
		}
		batch, err := r.pull(ctx)
		if len(batch) > 0 {
			return batch, nil // an error is met again, if it lasts, on the next call
		}
		if err != nil {
			if errors.Is(err, ErrGap) || ctx.Err() != nil {
				return nil, err
			}
			r.l.c.log.Debug("cluster reader starts over", "at", r.next, "err", err)
			r.cons = nil
		}
	}
}

// open checks that the log holds r.next and creates a consumer that
// delivers from it.
func (r *Reader) open(ctx context.Context) error {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	info, err := r.l.stream.Info(actx)
	if err != nil {
		return err
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	if first > r.next {
		return fmt.Errorf("%w: want %d, the log starts at %d", ErrGap, r.next, first)
	}
	if r.next > last+1 {
		return fmt.Errorf("%w: want %d, the log ends at %d (a position from another log?)", ErrGap, r.next, last)
	}
	cons, err := r.l.stream.CreateConsumer(actx, jetstream.ConsumerConfig{
		Name:              "reader-" + newEpoch(),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       r.next,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: readerIdle,
	})
	if err != nil {
		return err
	}
	r.cons, r.fresh = cons, true
	return nil
}

// pull waits up to cfg.Wait for one entry, then takes what else is
// available at once. An error (with or without entries) means the
// consumer is no longer trusted.
func (r *Reader) pull(ctx context.Context) ([]Entry, error) {
	wctx, cancel := context.WithTimeout(ctx, r.cfg.Wait)
	defer cancel()
	b, err := r.cons.Fetch(1, jetstream.FetchContext(wctx), jetstream.FetchHeartbeat(r.cfg.Heartbeat))
	if err != nil {
		return nil, err
	}
	var out []Entry
	if out, err = r.take(out, b); err != nil || len(out) == 0 {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = nil // the wait ended with nothing new: pull again
		}
		return out, err
	}
	if r.cfg.MaxBatch > 1 {
		if b, err = r.cons.FetchNoWait(r.cfg.MaxBatch - 1); err != nil {
			return out, err
		}
		out, err = r.take(out, b)
	}
	return out, err
}

// take appends the entries of b that continue the log at r.next.
func (r *Reader) take(out []Entry, b jetstream.MessageBatch) ([]Entry, error) {
	for m := range b.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return out, err
		}
		seq := md.Sequence.Stream
		switch {
		case seq < r.next:
			continue // delivered again after a restart of the consumer
		case seq > r.next && r.fresh:
			// A consumer created at r.next skipped it: the log lacks it.
			return out, fmt.Errorf("%w: want %d, the log goes on at %d", ErrGap, r.next, seq)
		case seq > r.next:
			// This consumer lost a delivery (e.g. a pull abandoned by a
			// cancelled context): start over at r.next.
			return out, fmt.Errorf("cluster: reader: want %d, got %d", r.next, seq)
		}
		out = append(out, Entry{Seq: seq, MsgID: m.Headers().Get(jetstream.MsgIDHeader), Data: m.Data(), Time: md.Timestamp})
		r.next++
		r.fresh = false
	}
	return out, b.Error()
}

// Close deletes the reader's consumer if NATS is reachable (the server
// drops it by itself after a few minutes otherwise). It is idempotent.
func (r *Reader) Close() {
	cons := r.cons
	r.cons = nil
	if cons == nil || !r.l.c.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.l.stream.DeleteConsumer(ctx, cons.CachedInfo().Name)
}
