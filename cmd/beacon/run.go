package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
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
// "beacon token …" and "beacon embed …" manage API and widget tokens
// instead (token.go, embed.go).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(ctx, args[1:], getenv, stdout, stderr)
		case "embed":
			return runEmbed(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	cfg, err := newConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
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
	store, err := db.Open(ctx, cfg.DB, db.Options{OnCommit: pub.Committed, Retention: cfg.Retention})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	if tok := getenv(bootstrapEnv); tok != "" {
		if err := bootstrap(ctx, store, tok); err != nil {
			return err
		}
	}
	secret, err := serverSecret(ctx, cfg.Secret, store)
	if err != nil {
		return err
	}

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
	pub.Hub, pub.Board = hub, board

	samples, err := store.SamplesSince(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		return fmt.Errorf("read metrics: %w", err)
	}
	board.Restore(samples)
	src := handlers.NewSource(store.Epoch(), store)
	sse := live.NewSSE(hub, src, live.SSEConfig{
		WriteTimeout: cfg.WriteTimeout,
		ResyncEvent:  views.EventResync,
		RetryEvent:   views.EventRetry,
	})
	streams := live.NewStreams(hub, live.StreamConfig{WriteTimeout: cfg.WriteTimeout, Lifetime: cfg.StreamLifetime})
	ws := live.NewWS(hub, src, live.WSConfig{WriteTimeout: cfg.WriteTimeout})
	roomOut := &handlers.RoomOutput{Hub: hub, Log: log}
	chat := rooms.NewRegistry(rooms.Config{MaxConns: cfg.RoomConns, Grace: cfg.PresenceGrace}, roomOut)
	roomOut.Rooms = chat.Active
	defer chat.Close()

	srv := &http.Server{
		Handler: handlers.NewServer(handlers.Deps{
			Store: store, Hub: hub, SSE: sse, WS: ws, Rooms: chat, Board: board, Logger: log,
			Chat:     handlers.ChatLimits{MessageBytes: cfg.MessageBytes, Rate: cfg.MessageRate, Burst: cfg.MessageBurst},
			Accounts: handlers.AccountConfig{SessionTTL: cfg.SessionTTL, Guests: cfg.Guests},
			Limits: handlers.Limits{LiveRate: cfg.LiveRate, LiveBurst: cfg.LiveBurst, APIRate: cfg.APIRate,
				APIBurst: cfg.APIBurst, ProxyHeader: cfg.ProxyHeader},
			Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
			Secret:  secret, Streams: streams, Embed: handlers.EmbedConfig{Origins: cfg.EmbedOrigins},
		}),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second, // streams clear it and set their own per write
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := listenConfig(cfg.SendBuffer).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "beacon listening on http://%s (database %s)\n", ln.Addr(), cfg.DB)

	var wg sync.WaitGroup
	boardCtx, stopBoard := context.WithCancel(context.Background())
	defer stopBoard()
	wg.Go(func() { board.Run(boardCtx) })
	defer wg.Wait()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
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
