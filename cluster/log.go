package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of LogConfig.
const (
	// DefaultStream names the stream that holds the log.
	DefaultStream = "BEACON"
	// DefaultSubject is the subject commands are published on.
	DefaultSubject = "beacon.log"
	// DefaultDuplicates is how long the stream remembers a message id, so
	// a publish retried within it is stored once.
	DefaultDuplicates = 2 * time.Minute
	// DefaultAppendTimeout bounds an Append whose context has no deadline.
	DefaultAppendTimeout = 10 * time.Second
)

// EpochKey is the key of the stream's metadata that holds the log's epoch.
const EpochKey = "beacon_epoch"

// attemptTimeout bounds one request to JetStream inside a retry loop, so a
// request lost in a leader change is retried soon rather than at the end of
// the caller's (often long) context.
const attemptTimeout = 2 * time.Second

// JetStream error codes this package reacts to (nats-server's errors.json).
const (
	errCodeReplicasNotSupported jetstream.ErrorCode = 10074 // R>1 on a server that is not clustered
	errCodeDuplicateInProcess   jetstream.ErrorCode = 10158 // the first publish of this id is not stored yet
)

// LogConfig configures the log's stream. Bounds apply to the stream as a
// whole, whoever set them: see OpenLog.
type LogConfig struct {
	// Stream names the stream; default DefaultStream.
	Stream string
	// Subject is the subject commands are published on; default
	// DefaultSubject. It must be the stream's only subject.
	Subject string
	// Replicas is how many servers store the log: 0 picks 3 on a
	// clustered JetStream and 1 on a single server; a cluster of two
	// servers must set it.
	Replicas int
	// MaxAge drops commands older than this (0: kept for ever). Needs
	// snapshots: a reader whose position was dropped gets ErrGap.
	MaxAge time.Duration
	// MaxBytes drops the oldest commands past this size (0: no bound).
	MaxBytes int64
	// Duplicates is the window in which a retried publish is stored once;
	// default DefaultDuplicates, at most MaxAge.
	Duplicates time.Duration
	// FirstSeq, when the stream is created by this call, is its first
	// sequence (0 or 1: 1). A database that ran alone seeds a new cluster
	// with it, so the log's positions go on after its own. An existing
	// stream keeps its own (Log.FirstSeq says which).
	FirstSeq uint64
	// Existing binds a log that is there already, and only that: OpenLog
	// then neither creates the stream nor changes its configuration, and
	// fails at once with ErrNoLog when there is none. The command line
	// joins a cluster this way for one command.
	Existing bool
}

// ErrNoLog is wrapped by OpenLog with LogConfig.Existing when NATS holds no
// Beacon log: no instance has joined through it yet.
var ErrNoLog = errors.New("cluster: no Beacon log on this NATS")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (c LogConfig) withDefaults() LogConfig {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Duplicates <= 0 {
		c.Duplicates = DefaultDuplicates
		if c.MaxAge > 0 {
			c.Duplicates = min(c.Duplicates, c.MaxAge)
		}
	}
	return c
}

func (c LogConfig) validate() error {
	switch {
	case !nameRE.MatchString(c.Stream):
		return fmt.Errorf("cluster: log stream %q: letters, digits, - and _ only", c.Stream)
	case validSubject(c.Subject) != nil:
		return fmt.Errorf("cluster: log subject %q: %w", c.Subject, validSubject(c.Subject))
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("cluster: log replicas %d: want 0 (automatic) to 5", c.Replicas)
	case c.MaxAge < 0:
		return fmt.Errorf("cluster: log max age %s: must not be negative", c.MaxAge)
	case c.MaxBytes < 0:
		return fmt.Errorf("cluster: log max bytes %d: must not be negative", c.MaxBytes)
	case c.MaxAge > 0 && c.Duplicates > c.MaxAge:
		return fmt.Errorf("cluster: log duplicates window %s: must not exceed max age %s", c.Duplicates, c.MaxAge)
	}
	return nil
}

// maxBytes is c.MaxBytes as the stream states it (-1: no bound).
func (c LogConfig) maxBytes() int64 {
	if c.MaxBytes == 0 {
		return -1
	}
	return c.MaxBytes
}

// Log is the cluster's log: one JetStream stream whose sequences are the
// positions. Its methods are safe for concurrent use.
type Log struct {
	c        *Client
	stream   jetstream.Stream
	name     string
	subject  string
	epoch    string
	replicas int
	firstSeq uint64 // the sequence the stream was created to start at
	// atomicBatches says appends are batched: the stream is replicated and
	// takes atomic batches (nats-server 2.12 and later), so concurrent
	// appends are stored in one round of replication instead of one each.
	atomicBatches bool
	// flights holds a token per batch being published, at most
	// maxFlights: the appender that takes one publishes what is queued.
	flights chan struct{}

	queueMu sync.Mutex
	queue   []*appendReq // guarded by queueMu: appends waiting for a flight
	batches atomic.Int64 // publishes of more than one entry, for tests and figures
}

// Batching of appends (see Log.Append).
const (
	// maxFlights is how many batches one instance has in flight at once.
	maxFlights = 4
	// maxBatch is the most entries one batch carries (JetStream takes up to
	// 1,000 in an atomic batch).
	maxBatch = 256
)

// appendReq is one Append waiting to be published.
type appendReq struct {
	ctx   context.Context
	id    string
	data  []byte
	taken bool              // guarded by Log.queueMu: a flight has it
	done  chan appendResult // buffered: the flight never waits for the caller
}

type appendResult struct {
	seq uint64
	err error
}

// OpenLog binds the log's stream, creating it when it does not exist,
// and retries until ctx ends while JetStream cannot answer yet (a fresh
// cluster elects its meta leader in seconds). Of instances opening at
// once, exactly one creates the stream; every one returns its epoch. On
// an existing stream, the bounds of cfg (MaxAge, MaxBytes, Duplicates)
// replace the stream's: the instance started last sets them.
func (c *Client) OpenLog(ctx context.Context, cfg LogConfig) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	replicas := cfg.Replicas
	if replicas == 0 {
		replicas = 3
	}
	wait := 50 * time.Millisecond
	var last error
	for attempt := 1; ; attempt++ {
		l, err := c.openLogOnce(ctx, cfg, replicas)
		if err == nil {
			c.log.Info("cluster log open", "stream", l.name, "epoch", l.epoch, "replicas", l.replicas)
			return l, nil
		}
		var apiErr *jetstream.APIError
		switch {
		case errors.Is(err, errNotOurs), errors.Is(err, ErrNoLog):
			return nil, err
		case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeReplicasNotSupported && cfg.Replicas == 0:
			replicas = 1 // a single server: the automatic choice is R1
			continue
		}
		last = err
		c.log.Debug("cluster log not open yet; retrying", "stream", cfg.Stream, "attempt", attempt, "err", err)
		if sleep(ctx, wait) != nil {
			return nil, fmt.Errorf("%w: open stream %s (replicas %d): %w", ErrUnavailable, cfg.Stream, replicas, last)
		}
		wait = backoff(wait, time.Second)
	}
}

// errNotOurs marks a stream that exists but is not a Beacon log.
var errNotOurs = errors.New("cluster: stream is not a Beacon log")

// openLogOnce makes one attempt at binding, else creating, the stream.
func (c *Client) openLogOnce(ctx context.Context, cfg LogConfig, replicas int) (*Log, error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	s, err := c.js.Stream(actx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && cfg.Existing {
		return nil, fmt.Errorf("%w (no stream %s: start an instance with --nats or --nats-embed first)", ErrNoLog, cfg.Stream)
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = c.js.CreateStream(actx, jetstream.StreamConfig{
			Name:        cfg.Stream,
			Description: "Beacon's log: every durable write, in order",
			Subjects:    []string{cfg.Subject},
			Retention:   jetstream.LimitsPolicy,
			Discard:     jetstream.DiscardOld,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
			MaxAge:      cfg.MaxAge,
			MaxBytes:    cfg.maxBytes(),
			Duplicates:  cfg.Duplicates,
			// Readers treat a hole in the sequence as lost history.
			DenyDelete: true,
			FirstSeq:   cfg.FirstSeq,
			Metadata:   map[string]string{EpochKey: newEpoch()},
		})
		// Another instance created it first (its epoch differs, so the
		// configurations differ): the next attempt binds it.
	}
	if err != nil {
		return nil, err
	}
	info := s.CachedInfo()
	epoch := info.Config.Metadata[EpochKey]
	if epoch == "" || len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != cfg.Subject {
		return nil, fmt.Errorf("%w: %s has subjects %v and epoch %q, want [%s] and an epoch",
			errNotOurs, cfg.Stream, info.Config.Subjects, epoch, cfg.Subject)
	}
	if !cfg.Existing && (info.Config.MaxAge != cfg.MaxAge || info.Config.MaxBytes != cfg.maxBytes() || info.Config.Duplicates != cfg.Duplicates ||
		!info.Config.AllowAtomicPublish) {
		up := info.Config
		up.MaxAge, up.MaxBytes, up.Duplicates = cfg.MaxAge, cfg.maxBytes(), cfg.Duplicates
		// A stream made before Beacon batched its appends, or by this
		// call (CreateStream refuses the option on a server older than
		// 2.12, an update only ignores it).
		up.AllowAtomicPublish = true
		if s, err = c.js.UpdateStream(actx, up); err != nil {
			return nil, fmt.Errorf("update bounds: %w", err)
		}
		c.log.Info("cluster log configured", "stream", cfg.Stream, "max_age", cfg.MaxAge,
			"max_bytes", cfg.MaxBytes, "duplicates", cfg.Duplicates, "atomic_batches", s.CachedInfo().Config.AllowAtomicPublish)
		info = s.CachedInfo()
	}
	return &Log{c: c, stream: s, name: cfg.Stream, subject: cfg.Subject, epoch: epoch, replicas: info.Config.Replicas,
		firstSeq: max(info.Config.FirstSeq, 1),
		// A single server stages an atomic batch in a file store of its
		// own: slower than publishing one by one (486 against 7,204
		// appends/s measured), so batches are for replicated logs, where
		// they save a replication round each.
		atomicBatches: info.Config.AllowAtomicPublish && info.Config.Replicas > 1,
		flights:       make(chan struct{}, maxFlights)}, nil
}

// newEpoch returns 16 random hex characters (like a database's epoch).
func newEpoch() string {
	var b [8]byte
	rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// Epoch is the log's identity, made when its stream was created: positions
// of one epoch mean nothing in another.
func (l *Log) Epoch() string { return l.epoch }

// Replicas is how many servers store the log.
func (l *Log) Replicas() int { return l.replicas }

// FirstSeq returns the sequence the stream was created to start at: 1, or
// the one after a seeding database's own positions (LogConfig.FirstSeq).
func (l *Log) FirstSeq() uint64 { return l.firstSeq }

// Append stores data as the log's next entry and returns its sequence.
// msgID identifies the command: appending the same id again within the
// duplicate window stores nothing and returns the first one's sequence, so
// a caller that is unsure whether an Append went through retries it with
// the same id. While NATS answers, Append retries until ctx ends (a
// leader change takes seconds), or DefaultAppendTimeout if ctx has no
// deadline; when the connection is down it fails at once. Every failure to
// store wraps ErrUnavailable, and the command may still have been stored:
// only the log, as read, says.
//
// Appends made at the same time are stored together: while maxFlights
// batches are being published, new appends queue, and the next free
// flight publishes everything queued as one JetStream atomic batch (one
// replication round for up to maxBatch commands). One append alone is
// published as it comes, with no added wait.
func (l *Log) Append(ctx context.Context, msgID string, data []byte) (uint64, error) {
	if msgID == "" {
		return 0, errors.New("cluster: append: message id required")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAppendTimeout)
		defer cancel()
	}
	if !l.atomicBatches {
		return l.appendOne(ctx, msgID, data)
	}
	if !l.c.nc.IsConnected() {
		return 0, fmt.Errorf("%w: not connected to NATS (%s)", ErrUnavailable, l.c.nc.Status())
	}
	r := &appendReq{ctx: ctx, id: msgID, data: data, done: make(chan appendResult, 1)}
	l.queueMu.Lock()
	l.queue = append(l.queue, r)
	l.queueMu.Unlock()
	for {
		select {
		case res := <-r.done:
			return res.seq, res.err
		case l.flights <- struct{}{}:
			if batch := l.take(); len(batch) > 0 {
				l.publish(batch)
			}
			<-l.flights
			l.queueMu.Lock()
			taken := r.taken
			l.queueMu.Unlock()
			if !taken {
				continue // still queued: take the next free flight
			}
			select { // a flight has it and answers it, whatever happens
			case res := <-r.done:
				return res.seq, res.err
			case <-ctx.Done():
				return 0, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
			}
		case <-ctx.Done():
			// Taken or not, it may still be stored: only the log says.
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
}

// take removes up to maxBatch appends from the queue, oldest first,
// leaving out those whose caller stopped waiting before any flight took
// them (never published, so never stored).
func (l *Log) take() []*appendReq {
	l.queueMu.Lock()
	defer l.queueMu.Unlock()
	var batch []*appendReq
	n := 0
	for _, r := range l.queue {
		n++
		if r.ctx.Err() != nil {
			continue
		}
		r.taken = true
		batch = append(batch, r)
		if len(batch) == maxBatch {
			break
		}
	}
	l.queue = append(l.queue[:0], l.queue[n:]...)
	return batch
}

// publish stores batch and answers every append in it. It retries until
// the latest of their deadlines, as appendOne does for one. A batch
// refused for an id the stream already holds (a batch retried after its
// acknowledgement was lost: atomic, so stored whole) is appended entry by
// entry, which stores nothing twice and learns every sequence.
func (l *Log) publish(batch []*appendReq) {
	deadline := time.Now()
	for _, r := range batch {
		if d, ok := r.ctx.Deadline(); ok && d.After(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	answer := func(r *appendReq, seq uint64, err error) { r.done <- appendResult{seq, err} }
	if len(batch) == 1 {
		seq, err := l.appendOne(ctx, batch[0].id, batch[0].data)
		answer(batch[0], seq, err)
		return
	}
	l.batches.Add(1)
	wait := 20 * time.Millisecond
	for {
		first, err := l.publishAtomic(ctx, batch)
		if err == nil {
			for i, r := range batch {
				answer(r, first+uint64(i), nil)
			}
			return
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code != 503 || errors.Is(err, nats.ErrMaxPayload) {
			// Refused as a batch (an id already stored, a size): one by
			// one, each gets its own outcome.
			l.c.log.Debug("cluster batch refused; appending its entries one by one", "entries", len(batch), "err", err)
			for _, r := range batch {
				seq, err := l.appendOne(ctx, r.id, r.data)
				answer(r, seq, err)
			}
			return
		}
		if !l.c.nc.IsConnected() || ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			for _, r := range batch {
				answer(r, 0, err)
			}
			return
		}
		l.c.log.Debug("cluster batch not confirmed; retrying", "entries", len(batch), "err", err)
		if sleep(ctx, wait) != nil {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			for _, r := range batch {
				answer(r, 0, err)
			}
			return
		}
		wait = backoff(wait, 500*time.Millisecond)
	}
}

// batchAck is JetStream's answer to a batch's commit.
type batchAck struct {
	Seq   uint64 `json:"seq"`
	Count uint64 `json:"count"`
	Error *jetstream.APIError
}

// publishAtomic publishes batch as one JetStream atomic batch (ADR-50):
// every entry carries the batch's id and its place in it, the last one
// commits, and the stream stores all of them, with consecutive sequences,
// or none. It returns the first entry's sequence.
func (l *Log) publishAtomic(ctx context.Context, batch []*appendReq) (uint64, error) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	id := nats.NewInbox()[len(nats.InboxPrefix):] // unique, and short enough (at most 64)
	for i, r := range batch {
		m := &nats.Msg{Subject: l.subject, Data: r.data, Header: nats.Header{
			jetstream.MsgIDHeader: {r.id},
			"Nats-Batch-Id":       {id},
			"Nats-Batch-Sequence": {strconv.Itoa(i + 1)},
		}}
		if i < len(batch)-1 {
			if err := l.c.nc.PublishMsg(m); err != nil {
				return 0, err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := l.c.nc.RequestMsgWithContext(actx, m)
		if err != nil {
			return 0, err
		}
		var ack batchAck
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return 0, fmt.Errorf("cluster: batch acknowledgement %q: %w", resp.Data, err)
		}
		if ack.Error != nil {
			return 0, ack.Error
		}
		if ack.Count != uint64(len(batch)) || ack.Seq < ack.Count {
			return 0, fmt.Errorf("cluster: batch of %d acknowledged as %d ending at %d", len(batch), ack.Count, ack.Seq)
		}
		return ack.Seq - ack.Count + 1, nil
	}
	return 0, errors.New("cluster: empty batch")
}

// appendOne publishes one entry and waits for its acknowledgement,
// retrying as Append says.
func (l *Log) appendOne(ctx context.Context, msgID string, data []byte) (uint64, error) {
	msg := &nats.Msg{Subject: l.subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{msgID}}}
	wait := 20 * time.Millisecond
	for {
		if !l.c.nc.IsConnected() {
			return 0, fmt.Errorf("%w: not connected to NATS (%s)", ErrUnavailable, l.c.nc.Status())
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		ack, err := l.c.js.PublishMsg(actx, msg, jetstream.WithExpectStream(l.name))
		cancel()
		if err == nil {
			return ack.Sequence, nil
		}
		var apiErr *jetstream.APIError
		switch {
		case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum):
			return 0, fmt.Errorf("cluster: append %s: %w", msgID, err)
		case errors.As(err, &apiErr) && apiErr.ErrorCode != errCodeDuplicateInProcess && apiErr.Code != 503:
			// The stream refused the message (not a lost ack, not a
			// temporarily unavailable JetStream): retrying will not help.
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		l.c.log.Debug("cluster append not confirmed; retrying", "msg_id", msgID, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		wait = backoff(wait, 500*time.Millisecond)
	}
}

// Bounds returns the first and last sequence the log holds. A log that
// never held anything returns 0, 0; one whose entries all aged out returns
// first = last+1.
func (l *Log) Bounds(ctx context.Context) (first, last uint64, err error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// Replica is one server that keeps the log, as the log's leader sees it.
type Replica struct {
	// Name is the server's name: an instance's --nats-name with an
	// embedded server.
	Name string
	// Leader is the server every append goes through.
	Leader bool
	// Current says it holds every entry the leader does.
	Current bool
	// Offline says the leader has not heard from it lately: it stopped,
	// or it is cut off.
	Offline bool
	// Lag is how many entries it is behind the leader.
	Lag uint64
	// Seen is how long ago the leader last heard from it (0 for the
	// leader itself).
	Seen time.Duration
}

// Status is the log's state and its servers, as its leader reports them.
type Status struct {
	// Epoch is the log's identity.
	Epoch string
	// First and Last are the positions it holds (Last is 0 while empty).
	First, Last uint64
	// Replicas are the servers that keep it, the leader first.
	Replicas []Replica
}

// Status asks the log's leader for its state and for the servers that keep
// it: what an operator looks at before replacing one.
func (l *Log) Status(ctx context.Context) (Status, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	st := Status{Epoch: l.epoch, First: info.State.FirstSeq, Last: info.State.LastSeq}
	if c := info.Cluster; c != nil {
		if c.Leader != "" {
			st.Replicas = append(st.Replicas, Replica{Name: c.Leader, Leader: true, Current: true})
		}
		for _, p := range c.Replicas {
			st.Replicas = append(st.Replicas, Replica{Name: p.Name, Current: p.Current, Offline: p.Offline, Lag: p.Lag, Seen: p.Active})
		}
	}
	return st, nil
}

// Check asks the stream's leader for the log's state, for /healthz: nil
// when the log can answer, an error wrapping ErrUnavailable saying why not.
func (l *Log) Check(ctx context.Context) error {
	if !l.c.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to NATS (%s)", ErrUnavailable, l.c.nc.Status())
	}
	_, _, err := l.Bounds(ctx)
	return err
}
