package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestServerConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		cfg  ServerConfig
		want string
	}{
		{ServerConfig{StoreDir: dir}, "server name"},
		{ServerConfig{Name: "a b", StoreDir: dir}, "server name"},
		{ServerConfig{Name: "a"}, "store dir"},
		{ServerConfig{Name: "a", StoreDir: dir, Listen: "nope"}, "server listen"},
		{ServerConfig{Name: "a", StoreDir: dir, Listen: "127.0.0.1:70000"}, "server listen"},
		{ServerConfig{Name: "a", StoreDir: dir, Routes: []string{"nats://127.0.0.1:1"}}, "routes"},
		{ServerConfig{Name: "a", StoreDir: dir, ClusterListen: "127.0.0.1:x"}, "cluster listen"},
		{ServerConfig{Name: "a", StoreDir: dir, ClusterListen: "127.0.0.1:0", Routes: []string{"http://h:1"}}, "route"},
		{ServerConfig{Name: "a", StoreDir: dir, ClusterListen: "127.0.0.1:0", ClusterName: "x y"}, "cluster name"},
	} {
		_, err := StartServer(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("StartServer(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
}

func TestStartServerOnAPortInUseFailsSayingSo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = StartServer(ServerConfig{Name: "a", StoreDir: t.TempDir(), Listen: l.Addr().String(), Logger: testLogger(), ReadyTimeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("start on a port in use: %v, want the listen error", err)
	}
}

func TestLogConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg  LogConfig
		want string
	}{
		{LogConfig{Stream: "a.b"}, "stream"},
		{LogConfig{Subject: "a.*"}, "subject"},
		{LogConfig{Subject: "a..b"}, "subject"},
		{LogConfig{Replicas: 7}, "replicas"},
		{LogConfig{MaxAge: -time.Second}, "max age"},
		{LogConfig{MaxBytes: -1}, "max bytes"},
		{LogConfig{MaxAge: time.Minute, Duplicates: time.Hour}, "duplicates"},
	} {
		err := tc.cfg.withDefaults().validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("validate(%+v) = %v, want an error naming %q", tc.cfg, err, tc.want)
		}
	}
}

func TestOneNodeLogIsR1AndAppendDedupes(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 30*time.Second)
	l, err := c.OpenLog(ctx, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Replicas() != 1 || len(l.Epoch()) != 16 {
		t.Fatalf("replicas %d, epoch %q; want 1 and 16 hex digits", l.Replicas(), l.Epoch())
	}
	seq1, err := l.Append(ctx, "cmd-1", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	seq2, err := l.Append(ctx, "cmd-2", []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.Append(ctx, "cmd-1", []byte("one, retried"))
	if err != nil {
		t.Fatal(err)
	}
	if seq1 != 1 || seq2 != 2 || again != seq1 {
		t.Fatalf("sequences %d, %d, retried %d; want 1, 2, 1", seq1, seq2, again)
	}
	first, last, err := l.Bounds(ctx)
	if err != nil || first != 1 || last != 2 {
		t.Fatalf("bounds %d..%d (%v), want 1..2: the retry must not be stored", first, last, err)
	}
	if _, err := l.Append(ctx, "", nil); err == nil {
		t.Fatal("append without an id succeeded")
	}
	if err := l.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
}

// openRace opens the log from every client at once and checks that they
// agree on one epoch.
func openRace(t *testing.T, ctx context.Context, cfg LogConfig, clients ...*Client) []*Log {
	t.Helper()
	logs := make([]*Log, len(clients))
	errs := make([]error, len(clients))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			<-start
			logs[i], errs[i] = c.OpenLog(ctx, cfg)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if logs[i].Epoch() != logs[0].Epoch() {
			t.Fatalf("client %d sees epoch %s, client 0 %s", i, logs[i].Epoch(), logs[0].Epoch())
		}
	}
	return logs
}

func TestOpenLogRaceAgreesOnOneEpoch(t *testing.T) {
	n := startNode(t)
	ctx := ctxFor(t, 30*time.Second)
	for i := range 5 {
		cfg := LogConfig{Stream: fmt.Sprintf("RACE%d", i), Subject: fmt.Sprintf("race.%d", i)}
		logs := openRace(t, ctx, cfg, dial(t, n.url()), dial(t, n.url()), dial(t, n.url()))
		later, err := dial(t, n.url()).OpenLog(ctx, cfg)
		if err != nil || later.Epoch() != logs[0].Epoch() {
			t.Fatalf("a later open got epoch %v (%v), want %s", later.Epoch(), err, logs[0].Epoch())
		}
	}
}

func TestOpenLogRefusesAForeignStream(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 30*time.Second)
	if _, err := c.OpenLog(ctx, LogConfig{Stream: "A", Subject: "a.log"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.OpenLog(ctx, LogConfig{Stream: "A", Subject: "other.log"})
	if !errors.Is(err, errNotOurs) {
		t.Fatalf("open with another subject: %v, want errNotOurs", err)
	}
}

func TestOpenLogUpdatesBounds(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 30*time.Second)
	if _, err := c.OpenLog(ctx, LogConfig{}); err != nil {
		t.Fatal(err)
	}
	l, err := c.OpenLog(ctx, LogConfig{MaxAge: time.Hour, MaxBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != time.Hour || info.Config.MaxBytes != 1<<30 {
		t.Fatalf("stream bounds %s, %d; want 1h, 1 GiB", info.Config.MaxAge, info.Config.MaxBytes)
	}
}

func TestAppendWhileNATSIsDownFailsWithErrUnavailableThenRecovers(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 60*time.Second)
	l, err := c.OpenLog(ctx, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, ctx, l, "before", 3)

	n.stop()
	waitFor(t, 10*time.Second, "the client to notice", func() bool { return !c.Connected() })
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = l.Append(actx, "during-1", []byte("x"))
	deadlineHit := actx.Err() != nil
	cancel()
	if !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(err.Error(), "cluster log unavailable: ") {
		t.Fatalf("append while down: %v, want ErrUnavailable", err)
	}
	if deadlineHit {
		t.Fatalf("append while down waited for its context to end (%v); it must fail at once", err)
	}
	if err := l.Check(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("check while down: %v, want ErrUnavailable", err)
	}

	n.start()
	waitFor(t, 10*time.Second, "the client to reconnect", c.Connected)
	seq, err := l.Append(ctx, "after-1", []byte("y"))
	if err != nil || seq != 4 {
		t.Fatalf("append after restart: seq %d, %v; want 4", seq, err)
	}
	if err := l.Check(ctx); err != nil {
		t.Fatalf("check after restart: %v", err)
	}
}

// A route that is not up yet (another instance still starting) is a
// warning in the log, not an error; other errors stay errors.
func TestRouteNotUpYetIsAWarning(t *testing.T) {
	var buf strings.Builder
	a := slogAdapter{l: slog.New(slog.NewTextHandler(&buf, nil))}
	a.Errorf(routeConnErr, 1, "dial tcp 127.0.0.1:6222: connect: connection refused")
	a.Errorf("Something else: %v", "broken")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[1], "level=ERROR") {
		t.Fatalf("logged:\n%s\nwant the route attempt as a warning, the rest as an error", buf.String())
	}
}

// The command line binds the log only: with none there it says so at once
// and makes none, and it leaves the bounds the instances set alone.
func TestOpenExistingLogOnly(t *testing.T) {
	n := startNode(t)
	c := dial(t, n.url())
	ctx := ctxFor(t, 30*time.Second)
	for range 2 {
		if _, err := c.OpenLog(ctx, LogConfig{Existing: true}); !errors.Is(err, ErrNoLog) {
			t.Fatalf("bind a log that is not there: %v, want ErrNoLog", err)
		}
	}
	l, err := c.OpenLog(ctx, LogConfig{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := c.OpenLog(ctx, LogConfig{Existing: true})
	if err != nil {
		t.Fatal(err)
	}
	if bound.Epoch() != l.Epoch() {
		t.Errorf("bound epoch %s, the log's is %s", bound.Epoch(), l.Epoch())
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != time.Hour {
		t.Errorf("max age %s after binding the log with none given; want the instances' 1h", info.Config.MaxAge)
	}
}

// Status names the log's servers, its leader first: on three nodes all
// three, current; on one node itself.
func TestLogStatusNamesItsServers(t *testing.T) {
	nodes := startCluster(t, 3)
	c := dial(t, nodes[0].url())
	ctx := ctxFor(t, time.Minute)
	l, err := c.OpenLog(ctx, LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, ctx, l, "status", 3)
	var st Status
	waitFor(t, 30*time.Second, "three current replicas", func() bool {
		if st, err = l.Status(ctx); err != nil {
			return false
		}
		current := 0
		for _, r := range st.Replicas {
			if r.Current && !r.Offline {
				current++
			}
		}
		return current == 3
	})
	if st.Epoch != l.Epoch() || st.First != 1 || st.Last != 3 || !st.Replicas[0].Leader || len(st.Replicas) != 3 {
		t.Fatalf("status %+v; want epoch %s, positions 1-3, the leader first of three", st, l.Epoch())
	}
	names := map[string]bool{}
	for _, r := range st.Replicas {
		names[r.Name] = true
	}
	for _, n := range nodes {
		if !names[n.cfg.Name] {
			t.Errorf("status names %v, not %s", names, n.cfg.Name)
		}
	}
}
