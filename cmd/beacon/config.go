package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/beacon-live/beacon/handlers"
	"github.com/beacon-live/beacon/rooms"
)

// config is every setting of the server, with its defaults filled in one
// place: newConfig.
type config struct {
	Addr            string
	MetricsAddr     string
	DB              string
	Retention       int
	QueueLen        int
	Heartbeat       time.Duration
	WriteTimeout    time.Duration
	Tick            time.Duration
	ShutdownTimeout time.Duration
	ReadTimeout     time.Duration
	ConnsPerAddress int
	LogLevel        slog.Level
	RoomConns       int
	MaxRooms        int
	PresenceGrace   time.Duration
	MessageBytes    int
	MessageRate     float64
	MessageBurst    int
	SendBuffer      int
	Guests          bool
	SessionTTL      time.Duration
	SessionIdle     time.Duration
	LiveRate        float64
	LiveBurst       int
	APIRate         float64
	APIBurst        int
	ProxyHeader     string
	ProxyHops       int
	PublicURL       string
	EmbedOrigins    originList
	StreamLifetime  time.Duration
	SecretFile      string
	Secret          secretValue // from BEACON_SECRET or SecretFile; nil: the database's
	SkipCheck       bool
	Dashboard       string
	Signup          string
	TLSCert         string
	TLSKey          string
	Cluster         clusterConfig
	MemoryLimit     byteSize
}

// defaultConnsPerAddress is --conns-per-address unless set: far above
// what a browser opens (six HTTP/1.1 connections per site, plus a socket
// per room tab), and enough for an office behind one NAT address.
const defaultConnsPerAddress = 256

// setting is one line of the configuration table: its flag, its environment
// variable and what it means.
type setting struct {
	flag, env, usage string
	bind             func(fs *flag.FlagSet, name, usage string)
}

func settings(c *config) []setting {
	return append([]setting{
		{"addr", "BEACON_ADDR", "address to listen on", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Addr, n, "127.0.0.1:8080", u) }},
		{"metrics-addr", "BEACON_METRICS_ADDR", "address of a listener of its own for /metrics and /healthz (empty: the main listener serves them to this machine only)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.MetricsAddr, n, "", u) }},
		{"db", "BEACON_DB", "SQLite database file (created when missing)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.DB, n, "beacon.db", u) }},
		{"retention", "BEACON_RETENTION", "events kept in the log for resuming clients", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.Retention, n, 100_000, u) }},
		{"queue", "BEACON_QUEUE", "log events that may wait for one slow client before it is disconnected to resume", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.QueueLen, n, 1024, u) }},
		{"heartbeat", "BEACON_HEARTBEAT", "interval of keep-alive comments on idle streams", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.Heartbeat, n, 15*time.Second, u) }},
		{"write-timeout", "BEACON_WRITE_TIMEOUT", "deadline of every write to a client", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.WriteTimeout, n, 10*time.Second, u) }},
		{"read-timeout", "BEACON_READ_TIMEOUT", "how long a client may take to send a request, headers and body (streams and sockets are exempt once they start)", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.ReadTimeout, n, 30*time.Second, u) }},
		{"tick", "BEACON_TICK", "how often the dashboard's metrics and chart are refreshed", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.Tick, n, time.Second, u) }},
		{"shutdown-timeout", "BEACON_SHUTDOWN_TIMEOUT", "how long shutdown waits for connections to end", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.ShutdownTimeout, n, 5*time.Second, u) }},
		{"room-conns", "BEACON_ROOM_CONNS", "connections one chat room holds", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.RoomConns, n, 1000, u) }},
		{"max-rooms", "BEACON_MAX_ROOMS", "chat rooms that may be open at once (a room stays open until it has been empty for 30s); joining one more is refused with the reason", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.MaxRooms, n, rooms.DefaultMaxRooms, u) }},
		{"presence-grace", "BEACON_PRESENCE_GRACE", "how long someone stays online after their last connection closes", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.PresenceGrace, n, 5*time.Second, u) }},
		{"message-bytes", "BEACON_MESSAGE_BYTES", "largest chat message accepted", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.MessageBytes, n, 4<<10, u) }},
		{"message-rate", "BEACON_MESSAGE_RATE", "chat messages one account may send per second, across its connections (guests: one address, with its widget posts)", func(fs *flag.FlagSet, n, u string) { fs.Float64Var(&c.MessageRate, n, 10, u) }},
		{"message-burst", "BEACON_MESSAGE_BURST", "chat messages one account (guests: one address) may send in a burst", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.MessageBurst, n, 20, u) }},
		{"send-buffer", "BEACON_SEND_BUFFER", "kernel send buffer per connection in bytes (0: the kernel's autotuning, up to ~4 MiB); small, so a client that stops reading is noticed early", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.SendBuffer, n, 256<<10, u) }},
		{"guests", "BEACON_GUESTS", "let signed-out visitors post in rooms under a chosen name (marked as guests)", func(fs *flag.FlagSet, n, u string) { fs.BoolVar(&c.Guests, n, false, u) }},
		{"dashboard", "BEACON_DASHBOARD", "who sees the dashboard and the rooms: members (signed-out visitors are sent to sign in; rooms stay open with --guests) or public", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Dashboard, n, "members", u) }},
		{"signup", "BEACON_SIGNUP", "open (anyone may make an account) or closed (only the first account; then an admin makes them with beacon user create)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.Signup, n, "open", u) }},
		{"session-ttl", "BEACON_SESSION_TTL", "how long a sign-in lasts at most", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.SessionTTL, n, 30*24*time.Hour, u) }},
		{"session-idle", "BEACON_SESSION_IDLE", "how long a sign-in lasts unused", func(fs *flag.FlagSet, n, u string) {
			fs.DurationVar(&c.SessionIdle, n, handlers.DefaultSessionIdle, u)
		}},
		{"live-rate", "BEACON_LIVE_RATE", "new live connections one address may open per second (0: no limit)", func(fs *flag.FlagSet, n, u string) { fs.Float64Var(&c.LiveRate, n, 10, u) }},
		{"live-burst", "BEACON_LIVE_BURST", "new live connections one address may open at once", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.LiveBurst, n, 60, u) }},
		{"api-rate", "BEACON_API_RATE", "API requests one address may make per second (0: no limit)", func(fs *flag.FlagSet, n, u string) { fs.Float64Var(&c.APIRate, n, 50, u) }},
		{"api-burst", "BEACON_API_BURST", "API requests one address may make at once", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.APIBurst, n, 200, u) }},
		{"conns-per-address", "BEACON_CONNS_PER_ADDRESS", "connections one client address may hold open at once, streams and sockets included (0: no limit; off by default behind --proxy-header, where every client shares the proxy's address)", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.ConnsPerAddress, n, defaultConnsPerAddress, u) }},
		{"proxy-header", "BEACON_PROXY_HEADER", "header in which a trusted reverse proxy passes the client's address, e.g. X-Forwarded-For (empty: the socket's address); when set, its X-Forwarded-Proto: https also makes cookies Secure", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.ProxyHeader, n, "", u) }},
		{"proxy-hops", "BEACON_PROXY_HOPS", "which entry of --proxy-header is the client's, counted from the right: 1 behind one proxy, 2 behind two (a CDN, then a local proxy)", func(fs *flag.FlagSet, n, u string) { fs.IntVar(&c.ProxyHops, n, 1, u) }},
		{"public-url", "BEACON_PUBLIC_URL", "the URL people reach Beacon at, e.g. https://beacon.example.com (behind a proxy): a browser's WebSocket must come from it, every request must name its host (health and metrics probes may use an IP address), and embed snippets point at it (empty: each request's own scheme and Host)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.PublicURL, n, "", u) }},
		{"embed-origins", "BEACON_EMBED_ORIGINS", "origins that may frame widgets whose token names none, separated by commas (* for any site)", func(fs *flag.FlagSet, n, u string) { fs.Var(&c.EmbedOrigins, n, u) }},
		{"stream-lifetime", "BEACON_STREAM_LIFETIME", "how long a streamed widget (/stream/) lasts before its frame reloads", func(fs *flag.FlagSet, n, u string) { fs.DurationVar(&c.StreamLifetime, n, 5*time.Minute, u) }},
		{"secret-file", "BEACON_SECRET_FILE", "file holding the secret that signs widget tokens (64+ hex digits or 32+ characters; readable by its owner only); or put the secret itself in BEACON_SECRET (default: one made once and kept in the database)", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.SecretFile, n, "", u) }},
		{"skip-check", "BEACON_SKIP_CHECK", "start even if the database fails its integrity check (PRAGMA quick_check), to serve what can still be read", func(fs *flag.FlagSet, n, u string) { fs.BoolVar(&c.SkipCheck, n, false, u) }},
		{"tls-cert", "BEACON_TLS_CERT", "certificate file (PEM, the chain after the leaf) to serve HTTPS, and HTTP/2, directly; with --tls-key", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.TLSCert, n, "", u) }},
		{"tls-key", "BEACON_TLS_KEY", "private key file (PEM) of --tls-cert", func(fs *flag.FlagSet, n, u string) { fs.StringVar(&c.TLSKey, n, "", u) }},
		{"memory-limit", "BEACON_MEMORY_LIMIT", "soft limit of the Go runtime's memory (e.g. 512MiB; 0: none): the collector works harder as it nears it, instead of letting the heap grow to twice what is live", func(fs *flag.FlagSet, n, u string) { fs.Var(&c.MemoryLimit, n, u) }},
		{"log-level", "BEACON_LOG_LEVEL", "debug, info, warn or error", func(fs *flag.FlagSet, n, u string) { fs.TextVar(&c.LogLevel, n, slog.LevelInfo, u) }},
	}, clusterSettings(&c.Cluster)...)
}

// newConfig reads flags, then fills what they left unset from BEACON_*
// environment variables, then from the defaults. Flags win over the
// environment. Asked for help, it writes the usage and every setting to
// stdout and returns errHelp; any other error is a usageError (the
// settings do not say how to run).
func newConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	c, err := readConfig(args, getenv, stdout)
	var u *usageError
	if err != nil && !errors.Is(err, errHelp) && !errors.As(err, &u) {
		err = usagef("", "%v", err)
	}
	return c, err
}

func readConfig(args []string, getenv func(string) string, stdout io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("beacon", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	list := settings(&c)
	for _, s := range list {
		s.bind(fs, s.flag, fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	if err := refuseSecretFlag(args); err != nil {
		return c, err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, topUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return c, errHelp
		}
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
	if c.ProxyHeader != "" && !set["conns-per-address"] && getenv("BEACON_CONNS_PER_ADDRESS") == "" {
		// Behind the proxy every connection comes from its address: a cap
		// per address would be a cap on the whole site. Cap clients at the
		// proxy instead, or set one here for the proxy as a whole.
		c.ConnsPerAddress = 0
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.PublicURL != "" {
		u, err := handlers.ParsePublicURL(c.PublicURL)
		if err != nil {
			return c, fmt.Errorf("public-url: %w", err)
		}
		c.PublicURL = u
	}
	secret, err := loadSecret(getenv, c.SecretFile)
	if err != nil {
		return c, err
	}
	c.Secret = secret
	switch {
	case c.Retention < 1:
		return c, fmt.Errorf("retention must be at least 1")
	case c.QueueLen < 1:
		return c, fmt.Errorf("queue must be at least 1")
	case c.Tick < 10*time.Millisecond:
		return c, fmt.Errorf("tick must be at least 10ms")
	case c.StreamLifetime < time.Second:
		return c, fmt.Errorf("stream-lifetime must be at least 1s")
	case c.MaxRooms < 1:
		return c, fmt.Errorf("max-rooms must be at least 1")
	case c.RoomConns < 1 || c.MessageBytes < 1 || c.MessageRate <= 0 || c.MessageBurst < 1:
		return c, fmt.Errorf("room-conns, message-bytes, message-rate and message-burst must be positive")
	case c.SessionTTL < time.Minute:
		return c, fmt.Errorf("session-ttl must be at least 1m")
	case c.SessionIdle < time.Minute:
		return c, fmt.Errorf("session-idle must be at least 1m")
	case c.ReadTimeout < 10*time.Millisecond:
		return c, fmt.Errorf("read-timeout must be at least 10ms")
	case c.ConnsPerAddress < 0:
		return c, fmt.Errorf("conns-per-address must be 0 (no limit) or more")
	case c.ProxyHops < 1:
		return c, fmt.Errorf("proxy-hops must be at least 1")
	case c.LiveRate < 0 || c.APIRate < 0 || c.LiveBurst < 1 || c.APIBurst < 1:
		return c, fmt.Errorf("live-rate and api-rate must be 0 (no limit) or more, live-burst and api-burst at least 1")
	case c.MemoryLimit != 0 && c.MemoryLimit < minMemoryLimit:
		return c, fmt.Errorf("memory-limit must be 0 (none) or at least %d MiB", minMemoryLimit>>20)
	case c.Dashboard != "members" && c.Dashboard != "public":
		return c, fmt.Errorf("dashboard must be members or public (got %q)", c.Dashboard)
	case c.Signup != "open" && c.Signup != "closed":
		return c, fmt.Errorf("signup must be open or closed (got %q)", c.Signup)
	case c.TLSCert != "" && c.TLSKey == "":
		return c, fmt.Errorf("tls-cert needs tls-key, the certificate's private key")
	case c.TLSKey != "" && c.TLSCert == "":
		return c, fmt.Errorf("tls-key needs tls-cert, the certificate it is the key of")
	}
	return c, c.Cluster.check(c.DB)
}
