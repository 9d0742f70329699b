package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// config is every setting of the server, with its defaults filled in one
// place: newConfig.
type config struct {
	Addr            string
	DB              string
	Retention       int
	QueueLen        int
	Heartbeat       time.Duration
	WriteTimeout    time.Duration
	Tick            time.Duration
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	RoomConns       int
	PresenceGrace   time.Duration
	MessageBytes    int
	MessageRate     float64
	MessageBurst    int
	SendBuffer      int
	Guests          bool
	SessionTTL      time.Duration
	LiveRate        float64
	LiveBurst       int
	APIRate         float64
	APIBurst        int
	ProxyHeader     string
	EmbedOrigins    originList
	StreamLifetime  time.Duration
	Secret          secretValue
	MemoryLimit     byteSize
}

// setting is one line of the configuration table: its flag, its environment
// variable and what it means.
type setting struct {
	flag, env, usage string
	bind             func(fs *flag.FlagSet, name, usage string)
}

func settings(c *config) []setting {
	return []setting{
		{"addr", "BEACON_ADDR", "address to listen on", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Addr, n, "127.0.0.1:8080", u) }},
		{"db", "BEACON_DB", "SQLite database file (created when missing)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.DB, n, "beacon.db", u) }},
		{"retention", "BEACON_RETENTION", "events kept in the log for resuming clients", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.Retention, n, 100_000, u) }},
		{"queue", "BEACON_QUEUE", "log events that may wait for one slow client before it is disconnected to resume", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.QueueLen, n, 1024, u) }},
		{"heartbeat", "BEACON_HEARTBEAT", "interval of keep-alive comments on idle streams", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.Heartbeat, n, 15*time.Second, u) }},
		{"write-timeout", "BEACON_WRITE_TIMEOUT", "deadline of every write to a client", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.WriteTimeout, n, 10*time.Second, u) }},
		{"tick", "BEACON_TICK", "how often the dashboard's metrics and chart are refreshed", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.Tick, n, time.Second, u) }},
		{"shutdown-timeout", "BEACON_SHUTDOWN_TIMEOUT", "how long shutdown waits for connections to end", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.ShutdownTimeout, n, 5*time.Second, u) }},
		{"room-conns", "BEACON_ROOM_CONNS", "connections one chat room holds", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.RoomConns, n, 1000, u) }},
		{"presence-grace", "BEACON_PRESENCE_GRACE", "how long someone stays online after their last connection closes", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.PresenceGrace, n, 5*time.Second, u) }},
		{"message-bytes", "BEACON_MESSAGE_BYTES", "largest chat message accepted", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.MessageBytes, n, 4<<10, u) }},
		{"message-rate", "BEACON_MESSAGE_RATE", "chat messages one connection may send per second", func(fs *flag.FlagSet, n, u string) { fs.Float64Var(&c.MessageRate, n, 10, u) }},
		{"message-burst", "BEACON_MESSAGE_BURST", "chat messages one connection may send in a burst", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.MessageBurst, n, 20, u) }},
		{"send-buffer", "BEACON_SEND_BUFFER", "kernel send buffer per connection in bytes (0: the kernel's autotuning, up to ~4 MiB); small, so a client that stops reading is noticed early", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.SendBuffer, n, 256<<10, u) }},
		{"guests", "BEACON_GUESTS", "let signed-out visitors post in rooms under a chosen name (marked as guests)", func(fs *flag.FlagSet, n, u string) { fs.BoolVar(&c.Guests, n, false, u) }},
		{"session-ttl", "BEACON_SESSION_TTL", "how long a sign-in lasts", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.SessionTTL, n, 30*24*time.Hour, u) }},
		{"live-rate", "BEACON_LIVE_RATE", "new live connections one address may open per second (0: no limit)", func(fs *flag.FlagSet, n, u string) { fs.Float64Var(&c.LiveRate, n, 10, u) }},
		{"live-burst", "BEACON_LIVE_BURST", "new live connections one address may open at once", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.LiveBurst, n, 60, u) }},
		{"api-rate", "BEACON_API_RATE", "API requests one address may make per second (0: no limit)", func(fs *flag.FlagSet, n, u string) { fs.Float64Var(&c.APIRate, n, 50, u) }},
		{"api-burst", "BEACON_API_BURST", "API requests one address may make at once", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.APIBurst, n, 200, u) }},
		{"proxy-header", "BEACON_PROXY_HEADER", "header in which a trusted reverse proxy passes the client's address, e.g. X-Forwarded-For (empty: the socket's address); when set, its X-Forwarded-Proto: https also makes cookies Secure", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.ProxyHeader, n, "", u) }},
		{"embed-origins", "BEACON_EMBED_ORIGINS", "origins that may frame widgets whose token names none, separated by commas (* for any site)", func(fs *flag.FlagSet, n, u string) { fs.Var(&c.EmbedOrigins, n, u) }},
		{"stream-lifetime", "BEACON_STREAM_LIFETIME", "how long a streamed widget (/stream/) lasts before its frame reloads", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.StreamLifetime, n, 5*time.Minute, u) }},
		{"secret", "BEACON_SECRET", "secret that signs widget tokens: 64+ hex digits or 32+ characters (default: one made once and kept in the database)", func(fs *flag.FlagSet, n, u string) { fs.Var(&c.Secret, n, u) }},
		{"memory-limit", "BEACON_MEMORY_LIMIT", "soft limit of the Go runtime's memory (e.g. 512MiB; 0: none): the collector works harder as it nears it, instead of letting the heap grow to twice what is live", func(fs *flag.FlagSet, n, u string) { fs.Var(&c.MemoryLimit, n, u) }},
		{"log-level", "BEACON_LOG_LEVEL", "debug, info, warn or error", func(fs *flag.FlagSet, n, u string) { fs.TextVar(&c.LogLevel, n, slog.LevelInfo, u) }},
	}
}

// newConfig reads flags, then fills what they left unset from BEACON_*
// environment variables, then from the defaults. Flags win over the
// environment.
func newConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("beacon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := settings(&c)
	for _, s := range list {
		s.bind(fs, s.flag, fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: beacon [flags]\n       beacon token create|list|revoke (see beacon token --help)\n\n"+
			"Beacon serves live, server-rendered HTML. Every setting is a flag or an environment variable:\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range list {
		if v := getenv(s.env); v != "" && !set[s.flag] {
			if err := fs.Set(s.flag, strings.TrimSpace(v)); err != nil {
				return c, fmt.Errorf("%s=%q: %w", s.env, v, err)
			}
		}
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (see beacon --help)", fs.Arg(0))
	}
	switch {
	case c.Retention < 1:
		return c, fmt.Errorf("retention must be at least 1")
	case c.QueueLen < 1:
		return c, fmt.Errorf("queue must be at least 1")
	case c.Tick < 10*time.Millisecond:
		return c, fmt.Errorf("tick must be at least 10ms")
	case c.StreamLifetime < time.Second:
		return c, fmt.Errorf("stream-lifetime must be at least 1s")
	case c.RoomConns < 1 || c.MessageBytes < 1 || c.MessageRate <= 0 || c.MessageBurst < 1:
		return c, fmt.Errorf("room-conns, message-bytes, message-rate and message-burst must be positive")
	case c.SessionTTL < time.Minute:
		return c, fmt.Errorf("session-ttl must be at least 1m")
	case c.LiveRate < 0 || c.APIRate < 0 || c.LiveBurst < 1 || c.APIBurst < 1:
		return c, fmt.Errorf("live-rate and api-rate must be 0 (no limit) or more, live-burst and api-burst at least 1")
	case c.MemoryLimit != 0 && c.MemoryLimit < minMemoryLimit:
		return c, fmt.Errorf("memory-limit must be 0 (none) or at least %d MiB", minMemoryLimit>>20)
	}
	return c, nil
}
