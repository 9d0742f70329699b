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

	LogMaxAge     time.Duration // --nats-log-max-age
	SnapshotEvery time.Duration // --nats-snapshot-every
	SnapshotAfter int64         // --nats-snapshot-commands

	// forCommand: the command line joins for one command. It binds the
	// log the instances made, never creates or reconfigures it, and gives
	// up on a NATS it cannot reach within commandDial.
	forCommand bool
}

// commandDial bounds how long a management command tries to reach NATS.
const commandDial = 10 * time.Second

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
		{"nats-log-max-age", "BEACON_NATS_LOG_MAX_AGE", "how long the cluster's log keeps a command (0: for ever); an instance further behind starts from the newest snapshot", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.LogMaxAge, n, 0, u) }},
		{"nats-snapshot-every", "BEACON_NATS_SNAPSHOT_EVERY", "how often an instance stores a snapshot of the database for new and lagging instances to start from, when the log has moved on", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.SnapshotEvery, n, 10*time.Minute, u) }},
		{"nats-snapshot-commands", "BEACON_NATS_SNAPSHOT_COMMANDS", "store a snapshot sooner, once the log has moved on by this many commands", func(fs *flag.FlagSet, n, u string) { fs.Int64Var(&c.SnapshotAfter, n, 10_000, u) }},
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
	case c.LogMaxAge < 0 || c.SnapshotEvery < time.Second || c.SnapshotAfter < 1:
		return errors.New("--nats-log-max-age must be 0 or more, --nats-snapshot-every at least 1s, --nats-snapshot-commands at least 1")
	case c.LogMaxAge > 0 && c.LogMaxAge < 2*c.SnapshotEvery:
		return errors.New("--nats-log-max-age must be at least twice --nats-snapshot-every: an instance restarted after a while must find a snapshot the log goes on from")
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
	snaps  *cluster.Snapshots
}

// startTimeout bounds joining at start: a fresh three-node cluster elects
// its JetStream leader within seconds, so this is ample, and an instance
// that cannot join says so instead of waiting for ever.
const startTimeout = time.Minute

// join starts the embedded server (--nats-embed), connects, opens the
// shared log and its snapshots, and brings the database at dbPath to where
// it can follow the log (restoring the newest snapshot when it cannot
// otherwise). close releases them in reverse order.
func join(ctx context.Context, c clusterConfig, dbPath string, log *slog.Logger) (*member, error) {
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
	dctx := ctx
	if c.forCommand {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, commandDial)
		defer cancel()
	}
	client, err := cluster.Dial(dctx, cluster.ClientConfig{URLs: urls, Name: c.Name, Logger: log})
	if err != nil {
		m.close()
		return nil, fmt.Errorf("connect to NATS at %s: %w", strings.Join(urls, ","), err)
	}
	m.client = client
	state, err := db.Inspect(ctx, dbPath)
	if err != nil {
		m.close()
		return nil, err
	}
	cfg := cluster.LogConfig{MaxAge: c.LogMaxAge, Existing: c.forCommand}
	if state.Applied == 0 && state.Head > 0 {
		// A database that ran alone: if the log is new, it starts after
		// this database's positions, and this database seeds it.
		cfg.FirstSeq = uint64(state.Head) + 1
	}
	if m.log, err = client.OpenLog(ctx, cfg); err != nil {
		m.close()
		return nil, fmt.Errorf("open the cluster log: %w", err)
	}
	if m.snaps, err = m.log.OpenSnapshots(ctx, cluster.SnapshotConfig{}); err != nil {
		m.close()
		return nil, fmt.Errorf("open the cluster's snapshots: %w", err)
	}
	if err := m.catchUp(ctx, dbPath, state, log); err != nil {
		m.close()
		return nil, err
	}
	log.Info("joined the cluster", "name", c.Name, "nats", strings.Join(urls, ","), "epoch", m.log.Epoch(), "replicas", m.log.Replicas())
	return m, nil
}

// catchUp restores the newest snapshot into the database at path when it
// is new (a snapshot is where the others are: faster than replaying the
// whole log, and the only way when the log does not start at 1), or when
// the log no longer holds the position after the last one it applied.
func (m *member) catchUp(ctx context.Context, path string, st db.FileState, log *slog.Logger) error {
	first, last, err := m.log.Bounds(ctx)
	if err != nil {
		return fmt.Errorf("read the cluster log's bounds: %w", err)
	}
	var need bool
	switch {
	case st.Fresh() && last == 0 && m.log.FirstSeq() <= 1:
		return nil // a new cluster: nothing to catch up with
	case st.Fresh():
		need = m.log.FirstSeq() > 1 || first > 1
	case st.Epoch == m.log.Epoch() && uint64(st.Applied)+1 < first:
		need = true
	default:
		return nil // it follows on from where it is (or Open says why not)
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		restored, err := m.restoreNewest(ctx, path, need, log)
		switch {
		case restored:
			return nil
		case err != nil && need:
			return fmt.Errorf("read the cluster's newest snapshot: %w", err)
		case err != nil:
			log.Warn("could not read the cluster's newest snapshot; replaying the whole log instead", "err", err)
			return nil
		case !need:
			return nil // none yet: the log from its start will do
		}
		// The log starts after positions only a snapshot holds, and the
		// instance that seeds it has not stored it yet.
		log.Info("waiting for the cluster's first snapshot", "log_starts_at", max(first, m.log.FirstSeq()))
		select {
		case <-ctx.Done():
			return fmt.Errorf("the cluster's log starts at %d and no snapshot to start from appeared: %w", max(first, m.log.FirstSeq()), ctx.Err())
		case <-time.After(wait):
		}
	}
}

// restoreNewest restores the newest snapshot into the database at path,
// if there is one. Unless it is needed, it is only faster than replaying
// the log, and not worth a long wait.
func (m *member) restoreNewest(ctx context.Context, path string, need bool, log *slog.Logger) (bool, error) {
	if !need {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	snap, r, err := m.snaps.Latest(ctx)
	if errors.Is(err, cluster.ErrNoSnapshot) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	start := time.Now()
	if err := db.Restore(path, r); err != nil {
		return false, err
	}
	log.Info("restored the cluster's newest snapshot", "position", snap.Seq, "bytes", snap.Size,
		"took", time.Since(start).Round(time.Millisecond))
	return true, nil
}

// keepSnapshots stores a snapshot of the database at once when it seeded
// the cluster, then whenever the log has moved on by snapshotAfter commands
// or snapshotEvery has passed since the newest snapshot, until ctx ends.
// Every instance looks; the first to find one due stores it, and the
// others then find it there.
func (m *member) keepSnapshots(ctx context.Context, store *db.Store, c clusterConfig, dir string, log *slog.Logger) {
	take := func() {
		path, applied, err := store.Snapshot(ctx, dir)
		if err != nil {
			log.Warn("snapshot the database", "err", err)
			return
		}
		defer os.Remove(path)
		f, err := os.Open(path)
		if err != nil {
			log.Warn("snapshot the database", "err", err)
			return
		}
		defer f.Close()
		if _, err := m.snaps.Put(ctx, uint64(applied), f); err != nil {
			log.Warn("store a snapshot", "err", err)
			return
		}
		log.Info("stored a snapshot of the database", "position", applied)
	}
	if store.Seeded() {
		take()
	}
	t := time.NewTicker(min(c.SnapshotEvery/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		applied, err := store.Applied(ctx)
		if err != nil {
			continue
		}
		newest, err := m.snaps.Newest(ctx)
		switch {
		case errors.Is(err, cluster.ErrNoSnapshot):
			if applied > 0 {
				take()
			}
		case err != nil:
			log.Debug("look for snapshots", "err", err)
		case applied-int64(newest.Seq) >= c.SnapshotAfter ||
			int64(newest.Seq) < applied && time.Since(newest.Time) >= c.SnapshotEvery:
			take()
		}
	}
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
		Heartbeat: presenceHeartbeat(grace), Missed: presenceMissed,
	}, shared.Merged)
	if err != nil {
		return nil, nil, fmt.Errorf("share presence: %w", err)
	}
	shared.Share(x)
	return shared, x.Close, nil
}

// shareOnline makes the directory's "online now" list the union of every
// instance's, over core NATS like presence, forgotten as quickly.
func (m *member) shareOnline(dir *handlers.Directory, grace time.Duration) (func(), error) {
	x, err := cluster.NewExchange(m.client, cluster.ExchangeConfig{
		Subject: "beacon.online", Instance: m.name,
		Heartbeat: presenceHeartbeat(grace), Missed: presenceMissed,
	}, func(string, map[string]handlers.Online) { dir.OthersChanged() })
	if err != nil {
		return nil, fmt.Errorf("share who is online: %w", err)
	}
	dir.ShareOnline(onlineExchange{x: x, self: m.name})
	return x.Close, nil
}

// onlineExchange is handlers.OnlineElsewhere over a cluster.Exchange.
type onlineExchange struct {
	x    *cluster.Exchange[handlers.Online]
	self string
}

// onlineKey is the one key of the online exchange.
const onlineKey = "online"

func (o onlineExchange) Share(v handlers.Online) {
	_ = o.x.Set(onlineKey, v) // plain strings and an int always encode
}

func (o onlineExchange) Others() map[string]handlers.Online {
	states := o.x.States(onlineKey)
	delete(states, o.self)
	return states
}

// presenceHeartbeat is how often an instance republishes who is connected
// to it (rooms' presence, the online list): presenceMissed of them fit in
// the grace a leaving person has anyway, at most a second apart.
func presenceHeartbeat(grace time.Duration) time.Duration {
	return min(time.Second, max(grace/presenceMissed, 100*time.Millisecond))
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

// withClusterStore runs do, for a management command given --nats, on a
// database of its own that follows the cluster's log: made in a temporary
// directory from the newest snapshot and the rest of the log, as a new
// instance starts. Its writes go through the log like an instance's, and
// do learns their outcome as every instance applies them; no instance's
// database file is touched (each refuses writes that do not come through
// the log). The directory goes when do returns.
func withClusterStore(ctx context.Context, urls []string, do func(*db.Store) error) error {
	dir, err := os.MkdirTemp("", "beacon-command-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log := slog.New(slog.DiscardHandler)
	path := filepath.Join(dir, "beacon.db")
	m, err := join(ctx, clusterConfig{NATS: urls, Name: "beacon-command", forCommand: true}, path, log)
	if err != nil {
		return err
	}
	defer m.close() // after the store has stopped applying
	store, err := db.Open(ctx, path, db.Options{Shared: m.shared(), Logger: log})
	if err != nil {
		return fmt.Errorf("follow the cluster's log: %w", err)
	}
	store.Start()
	if err = store.CatchUp(ctx); err != nil {
		err = fmt.Errorf("read the cluster's log: %w", err)
	} else {
		err = do(store)
	}
	return errors.Join(err, store.Close())
}

func (m *member) close() {
	if m.client != nil {
		m.client.Close()
	}
	if m.srv != nil {
		m.srv.Shutdown()
	}
}
