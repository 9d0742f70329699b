package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// chromedp's and net/http's pooled connections end after the test's
		// own cleanup; the ignore list stays this short on purpose.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// testToken is the API token every test instance starts with, as
// BEACON_BOOTSTRAP_TOKEN: a server token with every scope.
const testToken = "bcn_test-token-for-every-scope-0123456789"

// testEnv is the environment of test instances.
func testEnv(name string) string {
	if name == "BEACON_BOOTSTRAP_TOKEN" {
		return testToken
	}
	return ""
}

// instance is one running Beacon, started by run exactly as main does.
type instance struct {
	URL  string // http://127.0.0.1:port
	Addr string // 127.0.0.1:port
	// MetricsURL is the --metrics-addr listener's http://127.0.0.1:port, if any.
	MetricsURL string
	DB         string
	stop       context.CancelFunc
	done       chan error
	logs       *strings.Builder
	logw       *lockedWriter // writes logs; read them with Logs
}

// Logs returns what the instance has logged so far.
func (in *instance) Logs() string {
	in.logw.mu.Lock()
	defer in.logw.mu.Unlock()
	return in.logs.String()
}

// start runs Beacon on a database file (a new one in t.TempDir() when db is
// "") and an address (a free loopback port when addr is ""), with extra
// flags, and stops it when the test ends.
func start(t testing.TB, db, addr string, flags ...string) *instance {
	t.Helper()
	if db == "" {
		db = filepath.Join(t.TempDir(), "beacon.db")
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	in := &instance{DB: db, stop: cancel, done: make(chan error, 1), logs: &strings.Builder{}}
	in.logw = &lockedWriter{b: in.logs}
	// Tests open many streams from one address, post as guests and read
	// the dashboard signed out; the tests of limits, accounts and roles
	// turn those back on with their own flags (the last of a repeated flag
	// wins).
	args := append([]string{"--addr", addr, "--db", db, "--log-level", "warn",
		"--live-rate", "0", "--api-rate", "0", "--conns-per-address", "0", "--guests", "--dashboard", "public"}, flags...)
	go func() {
		err := run(ctx, args, testEnv, outW, in.logw)
		outW.Close()
		in.done <- err
	}()
	sc := bufio.NewScanner(outR)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "http://"); i >= 0 {
			in.URL = strings.Fields(line[i:])[0]
			in.Addr = strings.TrimPrefix(in.URL, "http://")
			if _, m, ok := strings.Cut(line, "metrics and health on "); ok {
				in.MetricsURL = strings.Fields(m)[0]
			}
			break
		}
	}
	go io.Copy(io.Discard, outR) //nolint:errcheck // drains stdout until run returns
	if in.URL == "" {
		t.Fatalf("beacon did not start: %v", <-in.done)
	}
	t.Cleanup(func() { in.Stop(t) })
	return in
}

// Stop shuts the instance down as SIGTERM would and waits for run to return.
// It is safe to call twice.
func (in *instance) Stop(t testing.TB) {
	t.Helper()
	if in.stop == nil {
		return
	}
	in.stop()
	in.stop = nil
	select {
	case err := <-in.done:
		if err != nil {
			t.Errorf("beacon stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("beacon did not stop within 30s")
	}
	http.DefaultClient.CloseIdleConnections()
}
