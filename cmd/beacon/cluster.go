package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/beacon-live/beacon/cluster"
	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/handlers"
)

// clusterConfig is how an instance joins a cluster (issue #13): through an
// existing NATS with JetStream (NATS), or through a NATS server of its own
// (Embed), routed to the other instances' servers. With neither it runs
// alone on its SQLite file, as always.
type clusterConfig struct {
	NATS    urlList // --nats
	Embed   bool    // --nats-embed
	Name    string  // --nats-name
	Store   string  // --nats-store
	Listen  string  // --nats-listen
	Cluster string  // --nats-cluster
	Routes  urlList // --nats-routes
}

// On reports whether the instance is part of a cluster.
func (c clusterConfig) On() bool { return c.Embed || len(c.NATS) > 0 }

func clusterSettings(c *clusterConfig) []setting {
	return []setting{
		{"nats", "BEACON_NATS", "join a cluster through this NATS with JetStream: nats://host:port, comma-separated (none: run alone)", func(fs *flag.FlagSet, n, u string) { fs.Var(&c.NATS, n, u) }},
		{"nats-embed", "BEACON_NATS_EMBED", "run a NATS server with JetStream inside this process and join the cluster through it", func(fs *flag.FlagSet, n, u string) { fs.BoolVar(&c.Embed, n, false, u) }},
		{"nats-name", "BEACON_NATS_NAME", "this instance's name in the cluster, unique and the same at every start (default: host name and the port of --nats-cluster or --nats-listen)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Name, n, "", u) }},
		{"nats-store", "BEACON_NATS_STORE", "directory of the embedded NATS server's JetStream store (default: beside the database, <db>.nats)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Store, n, "", u) }},
		{"nats-listen", "BEACON_NATS_LISTEN", "address the embedded NATS server takes clients on", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Listen, n, cluster.DefaultListen, u) }},
		{"nats-cluster", "BEACON_NATS_CLUSTER", "address the embedded NATS server takes the other servers of the cluster on (none: a one-node cluster)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Cluster, n, "", u) }},
		{"nats-routes", "BEACON_NATS_ROUTES", "the other instances' --nats-cluster addresses as nats://host:port, comma-separated (this one's own may be listed)", func(fs *flag.FlagSet, n, u string) { fs.Var(&c.Routes, n, u) }},
	}
}

// check refuses settings that cannot work together, saying which.
func (c *clusterConfig) check(dbPath string) error {
	switch {
	case c.Embed && len(c.NATS) > 0:
		return errors.New("give --nats (an existing NATS) or --nats-embed (one of its own), not both")
	case !c.Embed && (c.Cluster != "" || len(c.Routes) > 0 || c.Store != ""):
		return errors.New("--nats-cluster, --nats-routes and --nats-store configure the embedded server: add --nats-embed")
	case len(c.Routes) > 0 && c.Cluster == "":
		return errors.New("--nats-routes needs --nats-cluster: the address this instance's server takes routes on")
	}
	if !c.On() {
		return nil
	}
	if c.Store == "" {
		c.Store = dbPath + ".nats"
	}
	if c.Name == "" {
		host, err := os.Hostname()
		if err != nil {
			host = "beacon"
		}
		addr := c.Listen
		if c.Cluster != "" {
			addr = c.Cluster
		}
		_, port, _ := net.SplitHostPort(addr)
		c.Name = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
				return r
			}
			return '-'
		}, host+"-"+port)
	}
	return nil
}

// urlList is a flag of nats:// URLs, comma-separated.
type urlList []string

func (u *urlList) String() string { return strings.Join(*u, ",") }

func (u *urlList) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.HasPrefix(f, "nats://") && !strings.HasPrefix(f, "tls://") {
			return fmt.Errorf("%q is not a nats:// URL", f)
		}
		*u = append(*u, f)
	}
	return nil
}

// member is this instance's part of a cluster: its embedded server (or
// none), its connection, and the shared log.
type member struct {
	name   string          // --nats-name
	srv    *cluster.Server // nil with an external NATS
	client *cluster.Client
	log    *cluster.Log
}

// startTimeout bounds joining at start: a fresh three-node cluster elects
// its JetStream leader within seconds, so this is ample, and an instance
// that cannot join says so instead of waiting for ever.
const startTimeout = time.Minute

// join starts the embedded server (--nats-embed), connects, and opens the
// shared log. close releases them in reverse order.
func join(ctx context.Context, c clusterConfig, log *slog.Logger) (*member, error) {
	m := &member{name: c.Name}
	urls := []string(c.NATS)
	if c.Embed {
		if err := os.MkdirAll(c.Store, 0o700); err != nil {
			return nil, fmt.Errorf("nats store: %w", err)
		}
		srv, err := cluster.StartServer(cluster.ServerConfig{
			Name: c.Name, StoreDir: filepath.Clean(c.Store), Listen: c.Listen,
			ClusterListen: c.Cluster, Routes: c.Routes, Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		m.srv, urls = srv, []string{srv.ClientURL()}
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client, err := cluster.Dial(ctx, cluster.ClientConfig{URLs: urls, Name: c.Name, Logger: log})
	if err != nil {
		m.close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", strings.Join(urls, ","), err)
	}
	m.client = client
	if m.log, err = client.OpenLog(ctx, cluster.LogConfig{}); err != nil {
		m.close()
		return nil, fmt.Errorf("open the cluster log: %w", err)
	}
	log.Info("joined the cluster", "name", c.Name, "nats", strings.Join(urls, ","), "epoch", m.log.Epoch(), "replicas", m.log.Replicas())
	return m, nil
}

// sharePresence makes the rooms' presence and typing the union of every
// instance's, shared over core NATS. An instance that stops heartbeating
// (killed, cut off) is forgotten within presenceMissed heartbeats, which
// fit in the presence grace a leaving person has anyway; one that stops
// cleanly says goodbye at stop.
func (m *member) sharePresence(out *handlers.RoomOutput, grace time.Duration) (*handlers.SharedPresence, func(), error) {
	shared := handlers.NewSharedPresence(out)
	x, err := cluster.NewExchange(m.client, cluster.ExchangeConfig{
		Subject: "beacon.presence", Instance: m.name,
		Heartbeat: min(time.Second, max(grace/presenceMissed, 100*time.Millisecond)), Missed: presenceMissed,
	}, shared.Merged)
	if err != nil {
		return nil, nil, fmt.Errorf("share presence: %w", err)
	}
	shared.Share(x)
	return shared, x.Close, nil
}

// presenceMissed is how many presence heartbeats an instance may miss
// before the others forget its members.
const presenceMissed = 3

// shared is the log the database follows.
func (m *member) shared() db.Shared { return db.JetStream{Log: m.log} }

// Check reports why this instance cannot take writes now, or nil: for
// /healthz.
func (m *member) Check(ctx context.Context) error {
	if !m.client.Connected() {
		return fmt.Errorf("%w: not connected to NATS", cluster.ErrUnavailable)
	}
	return m.log.Check(ctx)
}

func (m *member) close() {
	if m.client != nil {
		m.client.Close()
	}
	if m.srv != nil {
		m.srv.Shutdown()
	}
}
