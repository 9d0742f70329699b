package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults of ServerConfig, named once for the config and the flags alike.
const (
	// DefaultListen is where an embedded server accepts NATS clients.
	DefaultListen = "127.0.0.1:4222"
	// DefaultClusterName names the cluster embedded servers form.
	DefaultClusterName = "beacon"
	// DefaultReadyTimeout bounds how long Start waits for the server to
	// accept connections.
	DefaultReadyTimeout = 10 * time.Second
)

// ServerConfig configures an embedded NATS server with JetStream.
type ServerConfig struct {
	// Name is the server's name, unique in its cluster (JetStream's
	// replicas are placed by name). Required.
	Name string
	// StoreDir is the directory JetStream keeps its streams in. Required.
	StoreDir string
	// Listen is the HOST:PORT NATS clients connect to; default
	// DefaultListen. Port 0 picks a free port (see Server.ClientURL).
	Listen string
	// ClusterListen is the HOST:PORT other servers of the cluster connect
	// to; empty for a server that forms no cluster. Port 0 picks a free port.
	ClusterListen string
	// Routes are the nats://HOST:PORT cluster addresses of the other
	// servers (listing this server's own is harmless, so every instance
	// may be given the same list). Requires ClusterListen.
	Routes []string
	// ClusterName names the cluster; default DefaultClusterName. All
	// servers of one cluster must use the same.
	ClusterName string
	// Logger receives the server's log; default slog.Default().
	Logger *slog.Logger
	// ReadyTimeout bounds Start's wait; default DefaultReadyTimeout.
	ReadyTimeout time.Duration
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.ClusterName == "" {
		c.ClusterName = DefaultClusterName
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	return c
}

// options validates c (defaults filled in) and translates it into the
// server's options. Every error names the field.
func (c ServerConfig) options() (*server.Options, error) {
	if c.Name == "" || strings.ContainsAny(c.Name, " \t\r\n") {
		return nil, fmt.Errorf("cluster: server name %q: must be non-empty and have no spaces", c.Name)
	}
	if c.StoreDir == "" {
		return nil, errors.New("cluster: server store dir: required")
	}
	host, port, err := hostPort(c.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: server listen %q: %w", c.Listen, err)
	}
	o := &server.Options{
		ServerName: c.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   c.StoreDir,
		// The embedding process owns its signals (Beacon's graceful shutdown).
		NoSigs: true,
	}
	if c.ClusterListen == "" {
		if len(c.Routes) > 0 {
			return nil, errors.New("cluster: server routes: need a cluster listen address")
		}
		return o, nil
	}
	if strings.ContainsAny(c.ClusterName, " \t\r\n") {
		return nil, fmt.Errorf("cluster: cluster name %q: must have no spaces", c.ClusterName)
	}
	o.Cluster.Name = c.ClusterName
	if o.Cluster.Host, o.Cluster.Port, err = hostPort(c.ClusterListen); err != nil {
		return nil, fmt.Errorf("cluster: cluster listen %q: %w", c.ClusterListen, err)
	}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "nats" || u.Hostname() == "" || u.Port() == "" {
			return nil, fmt.Errorf("cluster: route %q: want nats://HOST:PORT", r)
		}
		o.Routes = append(o.Routes, u)
	}
	return o, nil
}

// hostPort splits HOST:PORT; port 0 becomes the server's "pick a free
// port" (-1), since 0 means its default port to nats-server.
func hostPort(s string) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, errors.New("want HOST:PORT")
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.New("port must be 0 to 65535")
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// Server is a NATS server with JetStream running inside this process.
type Server struct {
	srv  *server.Server
	once sync.Once
}

// StartServer starts an embedded NATS server and returns once it accepts
// client connections. JetStream may still be electing its meta leader then
// (seconds, in a fresh cluster): OpenLog waits for it. Shutdown must be
// called to stop the server.
func StartServer(cfg ServerConfig) (*Server, error) {
	cfg = cfg.withDefaults()
	opts, err := cfg.options()
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: server %s: %w", cfg.Name, err)
	}
	log := cfg.Logger.With("nats_server", cfg.Name)
	fatal := make(chan string, 1)
	srv.SetLoggerV2(slogAdapter{log, fatal}, log.Enabled(context.Background(), slog.LevelDebug), false, false)
	srv.Start()
	// Wait for readiness, but give up at once on a fatal error (a port in
	// use): the server logs it and would otherwise leave us waiting.
	deadline := time.Now().Add(cfg.ReadyTimeout)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		var why string
		select {
		case why = <-fatal:
		default:
			if time.Now().Before(deadline) {
				continue
			}
			why = fmt.Sprintf("not ready for connections after %s", cfg.ReadyTimeout)
		}
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("cluster: server %s: %s", cfg.Name, why)
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the nats:// URL clients of this process connect to, with the
// port actually bound.
func (s *Server) ClientURL() string {
	a, ok := s.srv.Addr().(*net.TCPAddr)
	if !ok {
		return s.srv.ClientURL()
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// ClusterURL is the nats:// URL other servers route to, with the port
// actually bound; empty for a server that forms no cluster.
func (s *Server) ClusterURL() string {
	a := s.srv.ClusterAddr()
	if a == nil {
		return ""
	}
	return "nats://" + a.String()
}

// Name is the server's name.
func (s *Server) Name() string { return s.srv.Name() }

// Shutdown stops the server and waits until it has stopped: its listeners
// are closed and its goroutines have ended. It is idempotent.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
	})
}

// slogAdapter writes nats-server's log through log/slog. Fatalf is logged
// as an error and does not exit; its first message goes to fatal, for
// StartServer.
type slogAdapter struct {
	l     *slog.Logger
	fatal chan<- string // capacity 1
}

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.l.Error(msg)
	select {
	case a.fatal <- msg:
	default:
	}
}
func (a slogAdapter) Errorf(format string, v ...any) { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any) { a.l.Debug(fmt.Sprintf(format, v...)) }
