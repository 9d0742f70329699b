package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoSnapshot is returned by Snapshots.Latest when the log has none.
var ErrNoSnapshot = errors.New("cluster: no snapshot")

// Defaults of SnapshotConfig.
const (
	// DefaultSnapshotKeep is how many of the newest snapshots are kept.
	DefaultSnapshotKeep = 3
	// DefaultSnapshotTimeout bounds a download whose context has no
	// deadline (the library would otherwise give it 5 s).
	DefaultSnapshotTimeout = 10 * time.Minute
)

// SnapshotConfig configures where a log's snapshots are kept.
type SnapshotConfig struct {
	// Bucket names the object store; default the log's stream name
	// followed by "_SNAPSHOTS".
	Bucket string
	// Keep is how many of the newest snapshots are kept; default
	// DefaultSnapshotKeep.
	Keep int
}

// Snapshot describes one stored snapshot.
type Snapshot struct {
	// Seq is the last log position the snapshot contains: after restoring
	// it, read the log from Seq+1. 0 is a database from before the log.
	Seq uint64
	// Epoch is the epoch of the log it belongs to.
	Epoch string
	// Size is its length in bytes.
	Size uint64
	// Time is when it was stored.
	Time time.Time
}

// Snapshots keeps copies of the database, each tagged with the log
// position it contains, in a JetStream object store replicated like the
// log. Only the current epoch's snapshots count. Its methods are safe for
// concurrent use, also from several instances.
type Snapshots struct {
	l      *Log
	store  jetstream.ObjectStore
	bucket string
	keep   int
}

// OpenSnapshots binds the log's object store, creating it when missing,
// retrying until ctx ends while JetStream cannot answer yet.
func (l *Log) OpenSnapshots(ctx context.Context, cfg SnapshotConfig) (*Snapshots, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = l.name + "_SNAPSHOTS"
	}
	if cfg.Keep <= 0 {
		cfg.Keep = DefaultSnapshotKeep
	}
	if !nameRE.MatchString(cfg.Bucket) {
		return nil, fmt.Errorf("cluster: snapshot bucket %q: letters, digits, - and _ only", cfg.Bucket)
	}
	wait := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		store, err := l.c.js.CreateObjectStore(actx, jetstream.ObjectStoreConfig{
			Bucket:      cfg.Bucket,
			Description: "Beacon's database snapshots, tagged with their log position",
			Storage:     jetstream.FileStorage,
			Replicas:    l.replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			store, err = l.c.js.ObjectStore(actx, cfg.Bucket)
		}
		cancel()
		if err == nil {
			return &Snapshots{l: l, store: store, bucket: cfg.Bucket, keep: cfg.Keep}, nil
		}
		l.c.log.Debug("cluster snapshots not open yet; retrying", "bucket", cfg.Bucket, "err", err)
		if serr := sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%w: open snapshot bucket %s: %w", ErrUnavailable, cfg.Bucket, err)
		}
		wait = backoff(wait, time.Second)
	}
}

// name is the object name of the snapshot at seq: zero-padded so names of
// one epoch sort by position.
func (s *Snapshots) name(seq uint64) string {
	return fmt.Sprintf("%s-%020d", s.l.epoch, seq)
}

// Put stores the snapshot read from r as the one containing the log up to
// seq, then deletes all but the newest Keep. ctx bounds the upload.
func (s *Snapshots) Put(ctx context.Context, seq uint64, r io.Reader) (Snapshot, error) {
	if err := s.waitLeader(ctx); err != nil {
		return Snapshot{}, fmt.Errorf("%w: store snapshot at %d: %w", ErrUnavailable, seq, err)
	}
	info, err := s.store.Put(ctx, jetstream.ObjectMeta{
		Name: s.name(seq),
		Metadata: map[string]string{
			"epoch": s.l.epoch,
			"seq":   strconv.FormatUint(seq, 10),
		},
	}, r)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: store snapshot at %d: %w", ErrUnavailable, seq, err)
	}
	if err := s.prune(ctx); err != nil {
		s.l.c.log.Warn("cluster snapshots: pruning failed", "err", err)
	}
	return snapshotOf(info), nil
}

// waitLeader returns once the bucket's stream has a leader, retrying until
// ctx ends. A bucket made a moment ago, or one whose leader was just lost,
// answers no publish until then ("no responders"), and Put cannot try
// again once it has read from r: it asks first, as Append retries until
// the log's new leader confirms.
func (s *Snapshots) waitLeader(ctx context.Context) error {
	wait := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		st, err := s.l.c.js.Stream(actx, "OBJ_"+s.bucket)
		cancel()
		if err == nil {
			c := st.CachedInfo().Cluster
			if c == nil || c.Leader != "" {
				return nil // a single server, or a leader
			}
			err = errors.New("the bucket has no leader yet")
		}
		s.l.c.log.Debug("cluster snapshots: bucket not writable yet; waiting", "bucket", s.bucket, "err", err)
		if serr := sleep(ctx, wait); serr != nil {
			return err
		}
		wait = backoff(wait, time.Second)
	}
}

// list returns the current epoch's snapshots, newest first, and the
// names of any other epoch's.
func (s *Snapshots) list(ctx context.Context) (ours []Snapshot, others []string, err error) {
	infos, err := s.store.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, info := range infos {
		if info.Metadata["epoch"] != s.l.epoch || info.Name != s.name(snapshotOf(info).Seq) {
			others = append(others, info.Name)
			continue
		}
		ours = append(ours, snapshotOf(info))
	}
	slices.SortFunc(ours, func(a, b Snapshot) int { return -cmpUint(a.Seq, b.Seq) })
	return ours, others, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// snapshotOf reads a snapshot's description from its object's metadata.
func snapshotOf(info *jetstream.ObjectInfo) Snapshot {
	seq, _ := strconv.ParseUint(info.Metadata["seq"], 10, 64)
	return Snapshot{Seq: seq, Epoch: info.Metadata["epoch"], Size: info.Size, Time: info.ModTime}
}

// prune deletes all but the newest Keep snapshots of this epoch, and every
// snapshot of another (they cannot be restored against this log).
func (s *Snapshots) prune(ctx context.Context) error {
	ours, others, err := s.list(ctx)
	if err != nil {
		return err
	}
	for _, sn := range ours[min(len(ours), s.keep):] {
		others = append(others, s.name(sn.Seq))
	}
	for _, name := range others {
		// Another instance pruning at once may have deleted it already.
		if err := s.store.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return err
		}
	}
	return nil
}

// Newest describes the newest snapshot of the log's epoch without reading
// it; ErrNoSnapshot when there is none.
func (s *Snapshots) Newest(ctx context.Context) (Snapshot, error) {
	ours, _, err := s.list(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%w: list snapshots: %w", ErrUnavailable, err)
	}
	if len(ours) == 0 {
		return Snapshot{}, ErrNoSnapshot
	}
	return ours[0], nil
}

// Latest returns the newest snapshot of the log's epoch and a reader of its
// bytes, which the caller must close; ErrNoSnapshot when there is none.
// ctx bounds the whole download (DefaultSnapshotTimeout without a
// deadline); the reader's last Read fails if the bytes do not match the
// digest they were stored with.
func (s *Snapshots) Latest(ctx context.Context) (Snapshot, io.ReadCloser, error) {
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, DefaultSnapshotTimeout)
	}
	for range 3 { // the newest may be pruned between listing and reading
		ours, _, err := s.list(ctx)
		if err != nil {
			cancel()
			return Snapshot{}, nil, fmt.Errorf("%w: list snapshots: %w", ErrUnavailable, err)
		}
		if len(ours) == 0 {
			cancel()
			return Snapshot{}, nil, ErrNoSnapshot
		}
		res, err := s.store.Get(ctx, s.name(ours[0].Seq))
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			continue
		}
		if err != nil {
			cancel()
			return Snapshot{}, nil, fmt.Errorf("%w: read snapshot at %d: %w", ErrUnavailable, ours[0].Seq, err)
		}
		return ours[0], cancelOnClose{res, cancel}, nil
	}
	cancel()
	return Snapshot{}, nil, fmt.Errorf("%w: snapshots kept disappearing while being read", ErrUnavailable)
}

// cancelOnClose releases a download's context when its reader is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
