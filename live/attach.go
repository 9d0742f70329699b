package live

import (
	"context"
	"errors"
)

// ErrGap is what Source.Since returns when frames after the position asked
// for were already pruned from the log, so its answer could not start right
// after it: the client is resynced instead of silently skipping them.
var ErrGap = errors.New("live: the log was pruned past the position")

// attach subscribes a connection to req's topics and brings its client up to
// date, whatever the transport:
//
//   - A client whose position is in the log gets every frame of its log
//     topics after that position, through emit with replay set, in order. The
//     log is read before subscribing, so a long gap does not fill the live
//     queue, and once more after, to close the window between the two;
//     frames that arrive both ways are dropped from the queue by skipThrough.
//   - A client whose position is from another epoch, or older than the log,
//     gets the current state from src.Snapshot through emit, with replay
//     unset, and resynced is true. So does one whose position the log was
//     pruned past while it was being replayed (src.Since says ErrGap): the
//     horizon check and each replay page are separate reads.
//   - A client with no position starts at the head of the log as it is
//     after subscribing: the hub's, when it knows it (Hub.SetHead), else
//     src's.
//
// at is the position the client is at afterwards. A non-nil sub must be
// unsubscribed by the caller, even when err is not nil.
func attach(ctx context.Context, hub *Hub, src Source, page int, req Request,
	emit func(frames []Frame, replay bool) error) (sub *Subscriber, at int64, resynced bool, err error) {
	if req.Resume == "" {
		// Subscribe before reading the head: whatever commits after the read
		// is published after the subscription, so it reaches the queue.
		if sub = hub.Subscribe(req.Topics, req.User); sub == nil {
			return nil, 0, false, ErrClosed
		}
		// A hub that knows the head read it as it subscribed: no read.
		head := sub.head
		if !hub.knowsHead.Load() {
			if _, head, err = src.Horizon(ctx); err != nil {
				return sub, 0, false, err
			}
		}
		sub.skipThrough(head)
		return sub, head, false, nil
	}
	epoch, pos, ok := ParseID(req.Resume)
	horizon, head, err := src.Horizon(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	resumable := ok && epoch == hub.Epoch() && pos >= horizon && pos <= head
	// resync renders the current state instead, on sub or a new subscription.
	resync := func(sub *Subscriber) (*Subscriber, int64, bool, error) {
		if sub == nil {
			if sub = hub.Subscribe(req.Topics, req.User); sub == nil {
				return nil, 0, false, ErrClosed
			}
		}
		frames, at, err := src.Snapshot(ctx, req.Topics)
		if err != nil {
			return sub, 0, false, err
		}
		sub.skipThrough(at)
		hub.cfg.Metrics.resyncs.Inc()
		return sub, at, true, emit(frames, false)
	}
	if !resumable {
		return resync(nil)
	}
	if at, err = replay(ctx, hub, src, page, req.Topics, pos, emit); errors.Is(err, ErrGap) {
		return resync(nil)
	} else if err != nil {
		return nil, 0, false, err
	}
	if sub = hub.Subscribe(req.Topics, req.User); sub == nil {
		return nil, 0, false, ErrClosed
	}
	if at, err = replay(ctx, hub, src, page, req.Topics, at, emit); errors.Is(err, ErrGap) {
		return resync(sub)
	} else if err != nil {
		return sub, 0, false, err
	}
	sub.skipThrough(at)
	return sub, at, false, nil
}

// replay emits every frame of topics after pos, a page at a time, and
// returns the position of the last one, or pos.
func replay(ctx context.Context, hub *Hub, src Source, page int, topics []string, pos int64,
	emit func([]Frame, bool) error) (int64, error) {
	for {
		frames, err := src.Since(ctx, topics, pos, page)
		if err != nil {
			return pos, err
		}
		if len(frames) > 0 {
			if err := emit(frames, true); err != nil {
				return pos, err
			}
			pos = frames[len(frames)-1].Position
			hub.cfg.Metrics.replayed.Add(float64(len(frames)))
		}
		if len(frames) < page {
			return pos, nil
		}
	}
}
