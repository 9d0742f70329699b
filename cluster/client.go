package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrUnavailable is wrapped by every error that means the cluster's NATS
// could not be reached or did not answer in time: the write was not
// confirmed. Beacon answers such writes with 503.
var ErrUnavailable = errors.New("cluster log unavailable")

// DefaultReconnectWait is how long a Client waits between attempts to
// reach NATS again.
const DefaultReconnectWait = 250 * time.Millisecond

// ClientConfig configures a connection to NATS.
type ClientConfig struct {
	// URLs are the nats://HOST:PORT addresses of one or more servers of
	// the cluster; the client learns the others from them. Required.
	URLs []string
	// Name is shown for this connection in NATS monitoring, e.g. the
	// instance's name. Optional.
	Name string
	// ReconnectWait is the pause between reconnection attempts; default
	// DefaultReconnectWait.
	ReconnectWait time.Duration
	// Logger receives connection events; default slog.Default().
	Logger *slog.Logger
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c ClientConfig) validate() error {
	if len(c.URLs) == 0 {
		return errors.New("cluster: nats urls: at least one required")
	}
	for _, s := range c.URLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Hostname() == "" {
			return fmt.Errorf("cluster: nats url %q: want nats://HOST:PORT", s)
		}
	}
	return nil
}

// Client is one connection to a NATS cluster, shared by the Log, its
// Snapshots and every Exchange made from it. It reconnects by itself,
// forever, until Close.
type Client struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
}

// Dial connects to NATS, retrying until ctx ends, so an instance may start
// while NATS is still coming up. Close must be called to release it.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("nats_client", cfg.Name)
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		// No reconnect buffer: a publish made while disconnected fails at
		// once instead of being sent after the caller was told it failed
		// (a command stored after its request got 503 would surprise).
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if !nc.IsClosed() { // not our own Close
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	urls := strings.Join(cfg.URLs, ",")
	for {
		nc, err := nats.Connect(urls, opts...)
		if err == nil {
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("cluster: jetstream: %w", err)
			}
			log.Info("nats connected", "server", nc.ConnectedUrlRedacted())
			return &Client{nc: nc, js: js, log: log}, nil
		}
		log.Debug("nats connect failed; retrying", "urls", urls, "err", err)
		if err := sleep(ctx, cfg.ReconnectWait); err != nil {
			return nil, fmt.Errorf("%w: connect to %s: %w", ErrUnavailable, urls, err)
		}
	}
}

// Connected reports whether the connection to NATS is up now.
func (c *Client) Connected() bool { return c.nc.IsConnected() }

// Server is the URL of the server the client is connected to, or "" while
// it is not.
func (c *Client) Server() string {
	if !c.nc.IsConnected() {
		return ""
	}
	return c.nc.ConnectedUrlRedacted()
}

// Close closes the connection. Exchanges and Readers made from the client
// should be closed first; their later calls fail. It is idempotent.
func (c *Client) Close() { c.nc.Close() }

// sleep waits d or until ctx ends, whichever is first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff doubles d up to limit.
func backoff(d, limit time.Duration) time.Duration { return min(2*d, limit) }
