package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Hard limits: no flag goes past them, whatever it says.
const (
	maxTimeout      = 30 * time.Minute // the whole invocation
	maxConnsAbs     = 50_000           // also bounded by the open-files limit
	maxEvents       = 10_000           // per fan-out run and per burst
	maxCycles       = 100_000
	maxRuns         = 9
	maxPageDuration = 2 * time.Minute
	maxStreamHold   = 3 * time.Minute // under Beacon's default --stream-lifetime (5m), opening included
	fdReserve       = 256             // open files kept for everything that is not a client connection
)

// config is every setting of one invocation, with its defaults filled in
// one place: newConfig.
type config struct {
	Scenarios []string // in suite order

	Target      string // URL of a running Beacon; "" builds and starts one per run
	WidgetToken string // a metrics widget token the target accepts (stream scenario)
	BeaconBin   string // a built Beacon to start instead of building one
	Reference   bool   // also measure the reference server
	Client      string // "raw" or "r3labs"

	Runs     int
	Smoke    bool
	JSON     bool
	Markdown string
	Profile  string // directory for perf CPU profiles of the servers
	Timeout  time.Duration

	Conns         int // -n: connections of every scenario (0: each scenario's default)
	IdleConns     int
	FanoutConns   int
	BurstConns    int
	ConnectConns  int
	WSIdleConns   int // ws-idle: WebSocket room connections, at most wsRoomSize to a room
	WSBurstConns  int // ws-burst: members of the one room
	RoomMembers   int // room: members of the one room, the senders among them
	StreamConns   int // stream: viewers of /stream/metrics
	WSMemoryConns int // ws-memory: members of the one room

	MemoryLimit string // connect-limit: Beacon's --memory-limit

	StreamHold time.Duration // stream: how long the viewers are held

	Senders      int           // room: members that send, each as fast as its messages are accepted
	RoomDuration time.Duration // room: how long the senders send

	Events     int           // fan-out: events published one at a time
	Gap        time.Duration // fan-out: pause after every subscriber got an event
	Burst      int           // burst: events published as fast as accepted
	Publishers int           // burst: concurrent POSTs
	TextSize   int           // bytes of every published activity text

	Cycles          int // leak: connect/disconnect cycles
	CycleWorkers    int
	DialConcurrency int // handshakes in flight while opening connections

	PageConns    int
	PageDuration time.Duration

	Settle time.Duration // wait before reading the server's memory
	Hold   time.Duration // connect: how long all connections are held

	Cluster clusterLoad // the cluster scenario's settings (cluster.go)

	maxConns int // from the open-files limit
}

// scenarioNames lists every scenario in the order a full suite runs them.
var scenarioNames = []string{"idle", "ws-idle", "stream", "fanout", "burst", "ws-burst", "ws-memory", "room", "connect", "connect-limit", "leak", "page"}

// newConfig parses args: flags, then scenario names (also accepted before
// the flags: `beacon-load fanout -n 2000`).
func newConfig(args []string, stderr io.Writer, openFiles uint64) (*config, error) {
	c := &config{}
	var lead []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		lead, args = append(lead, args[0]), args[1:]
	}
	fs := flag.NewFlagSet("beacon-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scen string
	fs.StringVar(&scen, "scenario", "", "comma-separated scenarios: "+strings.Join(scenarioNames, ", ")+" (default: all)")
	fs.StringVar(&c.Target, "target", "", "URL of a running Beacon (loopback only); default: build ./cmd/beacon and start a fresh one for every run")
	fs.StringVar(&c.WidgetToken, "widget-token", "", "with -target, for the stream scenario: a metrics widget token made on it (beacon embed create --widget metrics --origin "+streamOrigin+")")
	fs.StringVar(&c.BeaconBin, "beacon-bin", "", "a built Beacon binary to start instead of building ./cmd/beacon")
	fs.BoolVar(&c.Reference, "reference", true, "also run every scenario against the reference server (a plain net/http SSE fan-out)")
	fs.StringVar(&c.Client, "client", "raw", "SSE client: raw (net.Conn + bufio, for scale) or r3labs (github.com/r3labs/sse/v2, for fidelity)")
	fs.IntVar(&c.Runs, "runs", 1, "runs of every scenario; figures are medians")
	fs.BoolVar(&c.Smoke, "smoke", false, "small and quick: about 200 connections for a few seconds (CI)")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON instead of a table")
	fs.StringVar(&c.Markdown, "markdown", "", "rewrite the generated part of this file (BENCHMARKS.md) with the report")
	fs.StringVar(&c.Profile, "cpuprofile", "", "directory: record a perf CPU profile of Beacon during the last run of every scenario (shown for scenarios that miss a target)")
	fs.DurationVar(&c.Timeout, "timeout", 15*time.Minute, "stop everything after this long (at most 30m)")
	fs.IntVar(&c.Conns, "n", 0, "connections in every scenario (default: 10,000 idle, ws-idle, ws-memory and fan-out, 5,000 burst and ws-burst, 1,000 room, 500 stream, 19,000 connect and connect-limit)")
	fs.StringVar(&c.MemoryLimit, "memory-limit", "100MiB", "connect-limit: the --memory-limit Beacon is started with (and GOGC=off)")
	fs.IntVar(&c.Events, "events", 10, "fanout: events published one at a time, each waited for at every subscriber")
	fs.DurationVar(&c.Gap, "gap", 50*time.Millisecond, "fanout: pause between two events")
	fs.IntVar(&c.Burst, "burst", 50, "burst: events published as fast as the server accepts them")
	fs.IntVar(&c.Publishers, "publishers", 8, "burst: concurrent publishing requests; ws-burst: members that send the burst")
	fs.IntVar(&c.Senders, "senders", 8, "room: members that send, each its next message once the last one came back to it")
	fs.DurationVar(&c.RoomDuration, "room-duration", 3*time.Second, "room: how long the senders send")
	fs.IntVar(&c.TextSize, "text", 200, "bytes of every published activity text")
	fs.IntVar(&c.Cycles, "cycles", 10_000, "leak: connect/disconnect cycles")
	fs.IntVar(&c.CycleWorkers, "cycle-workers", 64, "leak: cycles in flight")
	fs.IntVar(&c.DialConcurrency, "dial-concurrency", 256, "handshakes in flight while opening connections")
	fs.IntVar(&c.PageConns, "page-conns", 64, "page: concurrent keep-alive connections requesting the dashboard (wrk -c)")
	fs.DurationVar(&c.PageDuration, "page-duration", 10*time.Second, "page: how long the dashboard is requested (wrk -d)")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "wait after opening connections before reading the server's memory")
	fs.DurationVar(&c.Hold, "hold", time.Second, "connect: how long every connection is held before it is checked")
	fs.DurationVar(&c.StreamHold, "stream-hold", beaconTick+beaconTick/2, "stream: how long the viewers are held; by default a bit over Beacon's 1s board tick, so every viewer gets an update (at most 3m)")
	c.Cluster.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: beacon-load [flags] [scenario ...]
       beacon-load reference [-addr 127.0.0.1:0]   (serve the reference server alone)

Scenarios: idle, ws-idle, stream, fanout, burst, ws-burst, ws-memory, room, connect,
connect-limit, leak, page (default: all, in that order). Each runs against a fresh Beacon
(built from ./cmd/beacon, or -target) and against the reference server, a plain net/http
SSE fan-out with gorilla/websocket rooms in a child process of this tool; connect-limit
(connect with Beacon's --memory-limit and GOGC=off) runs against Beacon alone. The tool starts Beacon
for the room scenarios (ws-burst, ws-memory, room) with --room-conns raised to the room's
size and --message-rate/--message-burst lifted; a -target must have been started so.
The stream scenario holds viewers of the zero-JavaScript widget /stream/metrics; the tool
makes their token with beacon embed create once it started Beacon; for a -target, make one
there and pass it as -widget-token. The tool starts Beacon with --dashboard public (the page
scenario reads the dashboard signed out); a -target must have been started so.

Flags:
`)
		fs.PrintDefaults()
	}
	set := map[string]bool{}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	names := lead
	if scen != "" {
		names = append(names, strings.Split(scen, ",")...)
	}
	names = append(names, fs.Args()...)
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "all" {
			c.Scenarios = scenarioNames
			continue
		}
		if !slices.Contains(scenarioNames, n) && !slices.Contains(extraScenarios, n) {
			return nil, fmt.Errorf("unknown scenario %q (want one of %s, or all)", n, strings.Join(scenarioNames, ", "))
		}
		if !slices.Contains(c.Scenarios, n) {
			c.Scenarios = append(c.Scenarios, n)
		}
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = scenarioNames
	}
	// Suite order, whatever order they were named in.
	slices.SortStableFunc(c.Scenarios, func(a, b string) int {
		return slices.Index(scenarioNames, a) - slices.Index(scenarioNames, b)
	})

	if c.Smoke {
		// About 200 connections for a few seconds, across every scenario.
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("n", &c.Conns, 200)
		def("events", &c.Events, 5)
		def("burst", &c.Burst, 20)
		def("cycles", &c.Cycles, 200)
		def("cycle-workers", &c.CycleWorkers, 16)
		def("page-conns", &c.PageConns, 8)
		if !set["page-duration"] {
			c.PageDuration = time.Second
		}
		if !set["settle"] {
			c.Settle = 300 * time.Millisecond
		}
		if !set["hold"] {
			c.Hold = 300 * time.Millisecond
		}
		if !set["gap"] {
			c.Gap = 10 * time.Millisecond
		}
		if !set["timeout"] {
			c.Timeout = 2 * time.Minute
		}
		if !set["room-duration"] {
			c.RoomDuration = time.Second
		}
	}
	c.IdleConns, c.FanoutConns, c.BurstConns, c.ConnectConns = 10_000, 10_000, 5_000, 19_000
	c.WSIdleConns, c.WSBurstConns, c.RoomMembers, c.StreamConns = 10_000, 5_000, 1_000, 500
	c.WSMemoryConns = 10_000
	if c.Conns > 0 {
		c.IdleConns, c.FanoutConns, c.BurstConns, c.ConnectConns = c.Conns, c.Conns, c.Conns, c.Conns
		c.WSIdleConns, c.WSBurstConns, c.RoomMembers, c.StreamConns = c.Conns, c.Conns, c.Conns, c.Conns
		c.WSMemoryConns = c.Conns
	}
	c.maxConns = min(maxConnsAbs, int(min(openFiles, 1<<31))-fdReserve)
	c.Cluster.scale(c, set)
	return c, c.validate()
}

func (c *config) validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	for _, n := range []int{c.IdleConns, c.FanoutConns, c.BurstConns, c.ConnectConns, c.WSIdleConns, c.WSBurstConns, c.RoomMembers, c.StreamConns, c.WSMemoryConns} {
		check(n >= 1 && n <= c.maxConns, "-n %d: connections must be between 1 and %d (the open-files limit minus %d)", n, c.maxConns, fdReserve)
	}
	check(c.Runs >= 1 && c.Runs <= maxRuns, "-runs must be between 1 and %d", maxRuns)
	check(c.Events >= 1 && c.Events <= maxEvents, "-events must be between 1 and %d", maxEvents)
	check(c.Burst >= 1 && c.Burst <= maxEvents, "-burst must be between 1 and %d", maxEvents)
	check(c.Publishers >= 1 && c.Publishers <= 256, "-publishers must be between 1 and 256")
	check(c.Senders >= 1 && c.Senders <= 256, "-senders must be between 1 and 256")
	check(c.RoomDuration > 0 && c.RoomDuration <= time.Minute, "-room-duration must be positive and at most 1m")
	if slices.Contains(c.Scenarios, "ws-burst") {
		check(c.WSBurstConns > min(c.Publishers, c.Burst), "ws-burst: -n %d must exceed the %d members that send", c.WSBurstConns, min(c.Publishers, c.Burst))
	}
	if slices.Contains(c.Scenarios, "ws-memory") {
		check(c.WSMemoryConns > min(c.Publishers, c.Burst), "ws-memory: -n %d must exceed the %d members that send", c.WSMemoryConns, min(c.Publishers, c.Burst))
	}
	if slices.Contains(c.Scenarios, "connect-limit") {
		check(c.MemoryLimit != "", "-memory-limit: connect-limit needs one")
		check(c.Target == "", "connect-limit needs a Beacon this tool starts (no -target)")
	}
	if slices.Contains(c.Scenarios, "room") {
		check(c.RoomMembers > c.Senders, "room: -n %d must exceed -senders %d", c.RoomMembers, c.Senders)
	}
	check(c.TextSize >= 64 && c.TextSize <= 500, "-text must be between 64 and 500 bytes (Beacon accepts 500 characters)")
	check(c.Cycles >= 1 && c.Cycles <= maxCycles, "-cycles must be between 1 and %d", maxCycles)
	check(c.CycleWorkers >= 1 && c.CycleWorkers <= 1024, "-cycle-workers must be between 1 and 1024")
	check(c.DialConcurrency >= 1 && c.DialConcurrency <= 4096, "-dial-concurrency must be between 1 and 4096")
	check(c.PageConns >= 1 && c.PageConns <= 1024, "-page-conns must be between 1 and 1024")
	check(c.PageDuration > 0 && c.PageDuration <= maxPageDuration, "-page-duration must be positive and at most %s", maxPageDuration)
	check(c.Timeout > 0 && c.Timeout <= maxTimeout, "-timeout must be positive and at most %s", maxTimeout)
	check(c.Settle >= 0 && c.Settle <= time.Minute, "-settle must be between 0 and 1m")
	check(c.Hold >= 0 && c.Hold <= time.Minute, "-hold must be between 0 and 1m")
	check(c.StreamHold > 0 && c.StreamHold <= maxStreamHold, "-stream-hold must be positive and at most %s", maxStreamHold)
	check(c.Gap >= 0 && c.Gap <= 10*time.Second, "-gap must be between 0 and 10s")
	check(c.Client == "raw" || c.Client == "r3labs", "-client must be raw or r3labs")
	if c.Target != "" {
		u, err := loopbackURL(c.Target)
		if err != nil {
			errs = append(errs, err)
		} else {
			c.Target = u
		}
		check(c.Profile == "", "-cpuprofile needs a Beacon this tool starts (no -target)")
	}
	errs = append(errs, c.Cluster.validate(c)...)
	return errors.Join(errs...)
}

// loopbackURL checks that raw is an http URL of this machine (127.0.0.0/8 or
// localhost) and returns it as http://127.x.y.z:port with no path.
func loopbackURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return "", fmt.Errorf("-target %q: want http://127.0.0.1:port", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	if !loopbackHost(host) {
		return "", fmt.Errorf("-target %q: only loopback targets (127.0.0.0/8 or localhost) may be loaded", raw)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("-target %q: bad port", raw)
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// commandFor returns the command that runs one scenario alone with the
// settings of this invocation, for the report.
func (c *config) commandFor(scenario string) string {
	a := []string{"go", "run", "./cmd/beacon-load"}
	if c.Runs != 1 {
		a = append(a, "-runs", strconv.Itoa(c.Runs))
	}
	if c.Client != "raw" {
		a = append(a, "-client", c.Client)
	}
	if c.Target != "" {
		a = append(a, "-target", c.Target)
	}
	switch scenario {
	case "idle":
		a = append(a, "-n", strconv.Itoa(c.IdleConns), "-settle", c.Settle.String())
	case "fanout":
		a = append(a, "-n", strconv.Itoa(c.FanoutConns), "-events", strconv.Itoa(c.Events), "-gap", c.Gap.String(), "-text", strconv.Itoa(c.TextSize))
	case "burst":
		a = append(a, "-n", strconv.Itoa(c.BurstConns), "-burst", strconv.Itoa(c.Burst), "-publishers", strconv.Itoa(c.Publishers), "-text", strconv.Itoa(c.TextSize))
	case "ws-idle":
		a = append(a, "-n", strconv.Itoa(c.WSIdleConns), "-settle", c.Settle.String())
	case "stream":
		a = append(a, "-n", strconv.Itoa(c.StreamConns), "-stream-hold", c.StreamHold.String())
	case "ws-burst":
		a = append(a, "-n", strconv.Itoa(c.WSBurstConns), "-burst", strconv.Itoa(c.Burst), "-publishers", strconv.Itoa(c.Publishers), "-text", strconv.Itoa(c.TextSize))
	case "room":
		a = append(a, "-n", strconv.Itoa(c.RoomMembers), "-senders", strconv.Itoa(c.Senders), "-room-duration", c.RoomDuration.String(), "-text", strconv.Itoa(c.TextSize))
	case "connect":
		a = append(a, "-n", strconv.Itoa(c.ConnectConns), "-dial-concurrency", strconv.Itoa(c.DialConcurrency), "-hold", c.Hold.String())
	case "connect-limit":
		a = append(a, "-n", strconv.Itoa(c.ConnectConns), "-dial-concurrency", strconv.Itoa(c.DialConcurrency), "-hold", c.Hold.String(), "-memory-limit", c.MemoryLimit)
	case "ws-memory":
		a = append(a, "-n", strconv.Itoa(c.WSMemoryConns), "-burst", strconv.Itoa(c.Burst), "-publishers", strconv.Itoa(c.Publishers), "-text", strconv.Itoa(c.TextSize), "-settle", c.Settle.String())
	case "leak":
		a = append(a, "-cycles", strconv.Itoa(c.Cycles), "-cycle-workers", strconv.Itoa(c.CycleWorkers))
	case "page":
		a = append(a, "-page-conns", strconv.Itoa(c.PageConns), "-page-duration", c.PageDuration.String())
	}
	return strings.Join(append(a, scenario), " ")
}

// loopbackHost reports whether host is localhost or an address in 127.0.0.0/8.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.To4() != nil && ip.To4()[0] == 127
}
