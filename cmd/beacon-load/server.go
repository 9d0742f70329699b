package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The routes every server under load serves; the reference server serves the
// same ones as Beacon, so the scenarios need not know which one they load.
const (
	livePath    = "/live?topics=activity" // one SSE connection on the activity feed (a log topic)
	publishPath = "/api/activity"         // POST {"text": …}: stored, then pushed to every feed
	// loadToken is the API token the load tool gives Beacon to start with
	// (BEACON_BOOTSTRAP_TOKEN) and publishes with.
	loadToken   = "bcn_load-tool-token-0123456789abcdef"
	metricsPath = "/metrics" // Prometheus text, with the standard process and Go collectors
	pagePath    = "/"        // the dashboard
)

// wsGauge counts Beacon's open WebSocket connections (the room scenarios'
// connection gauge).
const wsGauge = `beacon_live_connections{transport="ws"}`

// wsGaugeOf returns the series that counts srv's WebSocket connections: the
// reference server counts every connection in one gauge.
func wsGaugeOf(srv *server) string {
	if srv.Kind == kindReference {
		return referenceGauge
	}
	return wsGauge
}

// Kinds of server.
const (
	kindBeacon    = "beacon"
	kindReference = "reference"
)

// roleEnv makes a child process of this binary (or of its test binary) serve
// the reference server instead of running the tool.
const roleEnv = "BEACON_LOAD_ROLE"

// server is one server under load.
type server struct {
	Kind      string // kindBeacon or kindReference
	URL       string // http://127.0.0.1:port
	Addr      string // 127.0.0.1:port
	ConnGauge string // the /metrics series that counts its open live connections
	// WidgetToken is a metrics widget token Beacon accepts, for the stream
	// scenario; "" for the reference, which takes any.
	WidgetToken string
	PID         int    // 0 when this tool did not start it
	Bin         string // the program it runs; "" when this tool did not start it
	Log         string // file with its output; "" when this tool did not start it

	stop func() error
}

// Stop ends the server if this tool started it and waits for it.
func (s *server) Stop() error {
	if s.stop == nil {
		return nil
	}
	return s.stop()
}

// launcher starts a fresh server of one kind for every run.
type launcher struct {
	kind string
	// start starts a server; extra are flags for Beacon that the scenario
	// needs, env its environment variables (the reference ignores both, and
	// so does a -target).
	start func(ctx context.Context, run string, extra, env []string) (*server, error)
}

// beaconLauncher starts Beacon for every run: bin (built when "") as a child
// process on a free loopback port with a new database in dir; or, with a
// target, returns that running Beacon every time.
func beaconLauncher(ctx context.Context, cfg *config, dir string, stderr io.Writer) (*launcher, error) {
	l := &launcher{kind: kindBeacon}
	gauge := `beacon_live_connections{transport="sse"}`
	if cfg.Target != "" {
		srv := &server{Kind: kindBeacon, URL: cfg.Target, Addr: strings.TrimPrefix(cfg.Target, "http://"), ConnGauge: gauge,
			WidgetToken: cfg.WidgetToken}
		l.start = func(context.Context, string, []string, []string) (*server, error) { return srv, nil }
		return l, nil
	}
	bin := cfg.BeaconBin
	if bin == "" {
		var err error
		if bin, err = buildBeacon(ctx, dir, stderr); err != nil {
			return nil, err
		}
	}
	l.start = func(ctx context.Context, run string, extra, env []string) (*server, error) {
		rundir := filepath.Join(dir, kindBeacon+"-"+run)
		if err := os.MkdirAll(rundir, 0o755); err != nil {
			return nil, err
		}
		// One machine plays thousands of clients from one address: the
		// per-address limits would be the only thing measured. The page
		// scenario reads the dashboard signed out.
		dbPath := filepath.Join(rundir, "beacon.db")
		args := []string{"--addr", "127.0.0.1:0", "--db", dbPath, "--log-level", "warn",
			"--live-rate", "0", "--api-rate", "0", "--conns-per-address", "0", "--guests", "--dashboard", "public"}
		env = append([]string{"BEACON_BOOTSTRAP_TOKEN=" + loadToken, "BEACON_SECRET=" + loadSecret}, env...)
		srv, err := startChild(ctx, kindBeacon, gauge, rundir, bin, env, append(args, extra...)...)
		if err != nil {
			return srv, err
		}
		// Beside the running server: beacon embed refuses a database that
		// is not there yet.
		if srv.WidgetToken, err = makeWidgetToken(ctx, bin, dbPath, env); err != nil {
			return nil, errors.Join(err, srv.Stop())
		}
		return srv, nil
	}
	return l, nil
}

// makeWidgetToken makes the stream scenario's metrics widget token in the
// database at dbPath with bin (beacon embed create, which stores it as
// every widget token must be), once Beacon has made that database.
func makeWidgetToken(ctx context.Context, bin, dbPath string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, "embed", "create", "--widget", "metrics", "--origin", streamOrigin, "--ttl", "24h", "--db", dbPath)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	lines := strings.Split(string(out), "\n")
	if err != nil || len(lines) < 2 || lines[1] == "" {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("make the stream scenario's widget token (beacon embed create): %v %q", err, out)
	}
	return lines[1], nil
}

// referenceLauncher starts the reference server for every run: this very
// binary again, as a child process, so that its memory and goroutines are
// its own and not the tool's.
func referenceLauncher(dir string) (*launcher, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this program to start the reference server: %w", err)
	}
	return &launcher{kind: kindReference, start: func(ctx context.Context, run string, _, _ []string) (*server, error) {
		rundir := filepath.Join(dir, kindReference+"-"+run)
		if err := os.MkdirAll(rundir, 0o755); err != nil {
			return nil, err
		}
		return startChild(ctx, kindReference, referenceGauge, rundir, exe, []string{roleEnv + "=reference"},
			"reference", "-addr", "127.0.0.1:0")
	}}, nil
}

// buildBeacon builds ./cmd/beacon of this module into dir.
func buildBeacon(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building Beacon needs the go command (or pass -beacon-bin or -target): %w", err)
	}
	bin := filepath.Join(dir, "beacon")
	fmt.Fprintln(stderr, "building github.com/beacon-live/beacon/cmd/beacon …")
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "github.com/beacon-live/beacon/cmd/beacon")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/beacon: %w\n%s", err, out)
	}
	return bin, nil
}

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

// startChild starts bin with args and waits until it prints the address it
// listens on ("… listening on http://127.0.0.1:port …"). Its output goes to
// a log file in dir. The child is killed if this process dies.
func startChild(ctx context.Context, kind, gauge, dir, bin string, env []string, args ...string) (*server, error) {
	logPath := filepath.Join(dir, kind+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}

	// The reader copies the child's stdout to the log until the child exits;
	// it hands over the URL from the first line that has one.
	urls := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil && !found {
				found = true
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()

	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			exited := make(chan error, 1)
			go func() { <-copied; exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				var ee *exec.ExitError
				if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == -1) { // -1: ended by our signal
					stopErr = fmt.Errorf("%s exited: %w (log: %s)", kind, err, logPath)
				}
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
				<-exited
				stopErr = fmt.Errorf("%s did not stop within 20s of SIGTERM; killed (log: %s)", kind, logPath)
			}
			logf.Close()
		})
		return stopErr
	}

	select {
	case u := <-urls:
		return &server{
			Kind: kind, URL: u, Addr: strings.TrimPrefix(u, "http://"), ConnGauge: gauge,
			PID: cmd.Process.Pid, Bin: bin, Log: logPath, stop: stop,
		}, nil
	case <-copied:
		stop()
		return nil, fmt.Errorf("%s exited before it listened:\n%s", kind, tail(logPath, 2000))
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("%s did not say where it listens within 60s:\n%s", kind, tail(logPath, 2000))
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
