package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
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
}

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
		case errors.Is(err, errNotOurs):
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
	if info.Config.MaxAge != cfg.MaxAge || info.Config.MaxBytes != cfg.maxBytes() || info.Config.Duplicates != cfg.Duplicates {
		up := info.Config
		up.MaxAge, up.MaxBytes, up.Duplicates = cfg.MaxAge, cfg.maxBytes(), cfg.Duplicates
		if s, err = c.js.UpdateStream(actx, up); err != nil {
			return nil, fmt.Errorf("update bounds: %w", err)
		}
		c.log.Info("cluster log bounds changed", "stream", cfg.Stream, "max_age", cfg.MaxAge,
			"max_bytes", cfg.MaxBytes, "duplicates", cfg.Duplicates)
	}
	return &Log{c: c, stream: s, name: cfg.Stream, subject: cfg.Subject, epoch: epoch, replicas: info.Config.Replicas,
		firstSeq: max(info.Config.FirstSeq, 1)}, nil
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
func (l *Log) Append(ctx context.Context, msgID string, data []byte) (uint64, error) {
	if msgID == "" {
		return 0, errors.New("cluster: append: message id required")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultAppendTimeout)
		defer cancel()
	}
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

// Check asks the stream's leader for the log's state, for /healthz: nil
// when the log can answer, an error wrapping ErrUnavailable saying why not.
func (l *Log) Check(ctx context.Context) error {
	if !l.c.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to NATS (%s)", ErrUnavailable, l.c.nc.Status())
	}
	_, _, err := l.Bounds(ctx)
	return err
}
