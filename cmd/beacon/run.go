package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/handlers"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/rooms"
	"github.com/beacon-live/beacon/views"
)

// run starts Beacon and serves until ctx ends, then shuts down: it stops
// accepting, tells every live connection to come back, waits for them, and
// flushes the database.
//
// "beacon token …", "beacon embed …" and "beacon user …" manage API
// tokens, widget tokens and accounts instead (token.go, embed.go,
// user.go), "beacon tail …" follows topics (tail.go), "beacon cluster
// status" shows a cluster's log (clustercmd.go); cli.go has the
// conventions they share. An error that is a usageError means the command
// line was not understood (main exits 2).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(ctx, args[1:], getenv, stdout, stderr)
		case "embed":
			return runEmbed(ctx, args[1:], getenv, stdout, stderr)
		case "user":
			return runUser(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
		case "tail":
			return runTail(ctx, args[1:], getenv, stdout, stderr)
		case "cluster":
			return runCluster(ctx, args[1:], getenv, stdout)
		case "help":
			if len(args) > 1 {
				// "beacon help token create" is "beacon token create --help".
				return run(ctx, append(args[1:], "--help"), getenv, stdout, stderr)
			}
			args = []string{"--help"}
		case "version", "-version", "--version":
			fmt.Fprintln(stdout, version())
			return nil
		}
	}
	cfg, err := newConfig(args, getenv, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.MemoryLimit > 0 {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(cfg.MemoryLimit)))
	}

	pub := &handlers.Publisher{Log: log}
	opts := db.Options{OnCommit: pub.Committed, Retention: cfg.Retention, Logger: log, SkipCheck: cfg.SkipCheck}
	var health handlers.Checker // nil alone: the database is all there is
	var m *member               // nil alone
	if cfg.Cluster.On() {
		if m, err = join(ctx, cfg.Cluster, cfg.DB, log); err != nil {
			return err
		}
		defer m.close() // after the database has stopped applying
		opts.Shared, health = m.shared(), m
	}
	store, err := db.Open(ctx, cfg.DB, opts)
	if errors.Is(err, db.ErrDamaged) {
		return fmt.Errorf("open database: %w (restore a backup, or start with --skip-check to serve what can still be read)", err)
	}
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()

	// What publishes committed events comes first: in a cluster, the log's
	// commands start being applied (and published) at store.Start.
	reg := prometheus.NewRegistry()
	// The collector's CPU and cycles too (go_cpu_classes_gc_total_cpu_seconds_total,
	// go_gc_cycles_total_gc_cycles_total): what the garbage costs, and what
	// --memory-limit changes.
	gcCost := collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/gc/total:cpu-seconds$|^/gc/cycles/total:gc-cycles$`)}
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(gcCost)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hub := live.NewHub(live.HubConfig{
		Classify:  handlers.Classify,
		Epoch:     store.Epoch(),
		QueueLen:  cfg.QueueLen,
		Heartbeat: cfg.Heartbeat,
		Metrics:   live.NewMetrics(reg),
		Log:       log,
	})
	defer hub.Close()
	// A new stream starts at the hub's head, which follows the commits from
	// here: no database read per connection.
	_, head, err := store.Horizon(ctx)
	if err != nil {
		return fmt.Errorf("read the log's head: %w", err)
	}
	hub.SetHead(head)
	board := handlers.NewBoard(hub, cfg.Tick, log)
	dir := handlers.NewDirectory(store, hub, handlers.DirectoryConfig{Grace: cfg.PresenceGrace}, log)
	pub.Hub, pub.Board, pub.Directory = hub, board, dir
	store.Start()

	if tok := getenv(bootstrapEnv); tok != "" {
		if err := bootstrap(ctx, store, tok); err != nil {
			return err
		}
	}
	if err := warnUnkeyed(ctx, store, log); err != nil {
		return err
	}
	secret, err := serverSecret(ctx, cfg.Secret, store)
	if err != nil {
		return err
	}
	samples, err := store.SamplesSince(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		return fmt.Errorf("read metrics: %w", err)
	}
	board.Restore(samples)
	src := handlers.NewSource(store.Epoch(), store, log)
	sse := live.NewSSE(hub, src, live.SSEConfig{
		WriteTimeout: cfg.WriteTimeout,
		ResyncEvent:  views.EventResync,
		RetryEvent:   views.EventRetry,
	})
	streams := live.NewStreams(hub, live.StreamConfig{WriteTimeout: cfg.WriteTimeout, Lifetime: cfg.StreamLifetime})
	ws := live.NewWS(hub, src, live.WSConfig{WriteTimeout: cfg.WriteTimeout})
	roomOut := &handlers.RoomOutput{Hub: hub, Log: log, Directory: dir}
	var out rooms.Output = roomOut
	var presence handlers.Presence // nil alone: the rooms' own
	if m != nil {
		shared, stop, err := m.sharePresence(roomOut, cfg.PresenceGrace)
		if err != nil {
			return err
		}
		defer stop() // after the rooms have stopped and said so
		out, presence = shared, shared
		stopOnline, err := m.shareOnline(dir, cfg.PresenceGrace)
		if err != nil {
			return err
		}
		defer stopOnline()
	}
	chat := rooms.NewRegistry(rooms.Config{MaxConns: cfg.RoomConns, Grace: cfg.PresenceGrace, MaxRooms: cfg.MaxRooms}, out)
	defer chat.Close()

	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls-cert %s and tls-key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
		}
		// net/http adds HTTP/2 ("h2") to what the listener offers.
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	server := handlers.NewServer(handlers.Deps{
		Store: store, Hub: hub, SSE: sse, WS: ws, Rooms: chat, Presence: presence, Directory: dir, Board: board, Logger: log,
		Chat:     handlers.ChatLimits{MessageBytes: cfg.MessageBytes, Rate: cfg.MessageRate, Burst: cfg.MessageBurst},
		Accounts: handlers.AccountConfig{SessionTTL: cfg.SessionTTL, SessionIdle: cfg.SessionIdle, Guests: cfg.Guests},
		Limits: handlers.Limits{LiveRate: cfg.LiveRate, LiveBurst: cfg.LiveBurst, APIRate: cfg.APIRate,
			APIBurst: cfg.APIBurst, ProxyHeader: cfg.ProxyHeader, ProxyHops: cfg.ProxyHops},
		Metrics: metrics, Registry: reg,
		Secret: secret, Streams: streams, Embed: handlers.EmbedConfig{Origins: cfg.EmbedOrigins},
		InternalListener: cfg.MetricsAddr != "",
		Site:             handlers.Site{PublicURL: cfg.PublicURL},
		Access:           handlers.Access{PublicDashboard: cfg.Dashboard == "public", SignupClosed: cfg.Signup == "closed"},
		Cluster:          health,
	})
	pub.OnSessionEnded(server.EndSession)
	pub.OnWidgetRevoked(server.EndWidget)
	pub.OnTokenRevoked(server.EndToken)
	srv := &http.Server{
		TLSConfig: tlsConfig,
		Handler:   server,
		// Reading a request, headers and body, is bounded. Streams and
		// sockets outlive it: net/http lifts the read deadline once a
		// request is read (its wait for the client's close starts with
		// none), and so does a socket's upgrade (TestReadTimeout).
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      30 * time.Second, // streams clear it and set their own per write
		IdleTimeout:       2 * time.Minute,
		// Request line and headers: a page's URL with its topics and a
		// widget token, and cookies, take a few KiB.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				c = tc.NetConn() // what the address listener handed over
			}
			if r, ok := c.(*refusedConn); ok {
				return handlers.RefuseConnection(ctx, r.reason)
			}
			return ctx
		},
	}
	ln, err := listenConfig(cfg.SendBuffer).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return err
	}
	if cfg.ConnsPerAddress > 0 {
		ln = newAddressListener(ln, cfg.ConnsPerAddress)
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	// The operator's listener, when asked for: /metrics and /healthz only.
	var internal *http.Server
	var internalLn net.Listener
	if cfg.MetricsAddr != "" {
		if internalLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("metrics-addr: %w", err)
		}
		internal = &http.Server{
			Handler:           handlers.NewInternal(store, health, metrics, log),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		fmt.Fprintf(stdout, "beacon listening on %s://%s (database %s), metrics and health on http://%s\n", scheme, ln.Addr(), cfg.DB, internalLn.Addr())
	} else {
		fmt.Fprintf(stdout, "beacon listening on %s://%s (database %s)\n", scheme, ln.Addr(), cfg.DB)
	}

	var wg sync.WaitGroup
	boardCtx, stopBoard := context.WithCancel(context.Background())
	defer stopBoard()
	wg.Go(func() { board.Run(boardCtx) })
	wg.Go(func() { dir.Run(boardCtx) })
	// The handler made just above; it watches for widget tokens revoked
	// from the command line.
	wg.Go(func() { srv.Handler.(*handlers.Server).WatchRevocations(boardCtx) })
	if m != nil {
		// Snapshots of the database for new and lagging instances, made
		// beside it (the same disk, which has room for one).
		wg.Go(func() { m.keepSnapshots(boardCtx, store, cfg.Cluster, filepath.Dir(cfg.DB), log) })
	}
	defer wg.Wait()

	serveErr := make(chan error, 2)
	go func() {
		if tlsConfig != nil {
			serveErr <- srv.ServeTLS(ln, "", "") // the certificate is in TLSConfig
			return
		}
		serveErr <- srv.Serve(ln)
	}()
	if internal != nil {
		wg.Go(func() {
			if err := internal.Serve(internalLn); !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("metrics listener: %w", err)
			}
		})
		defer internal.Close()
	}
	select {
	case err := <-serveErr:
		srv.Close()
		stopBoard() // before the deferred wg.Wait, which waits for the board
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }() // stop accepting; wait for requests
	hub.Close()                                // every stream sends a jittered retry hint and ends
	if err := sse.Wait(sctx); err != nil {
		log.Warn("live connections still open at shutdown", "err", err)
	}
	if err := streams.Wait(sctx); err != nil {
		log.Warn("widget streams still open at shutdown", "err", err)
	}
	if err := ws.Wait(sctx); err != nil {
		log.Warn("room sockets still open at shutdown", "err", err)
	}
	if err := <-shut; err != nil {
		srv.Close()
		log.Warn("shutdown timed out; closed the remaining connections", "err", err)
	}
	<-serveErr
	if internal != nil {
		internal.Shutdown(sctx) //nolint:errcheck // its requests are short; Close (deferred) ends the rest
	}
	stopBoard()
	wg.Wait()
	if err := store.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	log.Info("stopped")
	return nil
}

// listenConfig caps the kernel's send buffer of every accepted connection
// at sendBuffer bytes (0: autotuning). Left to autotuning, loopback and LAN
// sockets grow to ~4 MiB, so a client that stops reading holds megabytes of
// kernel memory and is noticed (its queue overflows, its write deadline
// passes) only after them. It is set on the listening socket, which every
// accepted one inherits it from: no system call per connection.
func listenConfig(sendBuffer int) *net.ListenConfig {
	return &net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		if sendBuffer <= 0 {
			return nil
		}
		var err error
		if cerr := c.Control(func(fd uintptr) { err = setSendBuffer(fd, sendBuffer) }); cerr != nil {
			return cerr
		}
		return err
	}}
}

// warnUnkeyed tells the operator about accounts made before names were
// compared by their PRECIS keys whose name has no key of its own (it has
// the key of an older account's name, or none): they are kept, and sign in
// by their exact name only.
func warnUnkeyed(ctx context.Context, store *db.Store, log *slog.Logger) error {
	users, err := store.UnkeyedUsers(ctx)
	if err != nil {
		return fmt.Errorf("read accounts: %w", err)
	}
	for _, u := range users {
		log.Warn("this account's name reads like an older account's, or is not a valid name any more; it signs in by its exact name only",
			"id", u.ID, "name", u.Name)
	}
	return nil
}
