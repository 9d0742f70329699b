package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"html/template"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The reference server is what a careful engineer writes in an afternoon with
// net/http alone: a hub goroutine that owns the subscribers and broadcasts
// every event to each one's buffered channel (gorilla's chat hub), and a
// handler per subscriber that writes and flushes every event on its own. It
// serves the same routes as Beacon, renders a fragment of the same shape, and
// stores nothing. It is the yardstick every figure is divided by.
//
// What it does not do, and Beacon must: store events and resume clients,
// coalesce queued frames into one write, set write deadlines, heartbeat.
//
// It also serves chat rooms over WebSocket, GET /rooms/{room}/ws, the way
// gorilla's chat example does (refrooms.go), and the zero-JavaScript widget
// stream, GET /stream/metrics, the same way as /live: a second hub, a ticker that renders a metrics panel of the shape
// of Beacon's once per tick and broadcasts it, and a handler per viewer that
// appends every panel to its document as a frame. It checks no token and
// never ends a stream on its own.

// referenceGauge counts the reference server's open live connections.
const referenceGauge = "reference_live_connections"

// referenceQueue is how many events may wait for one subscriber; one more
// and the hub drops the subscriber, as gorilla's hub does.
const referenceQueue = 64

// refHub owns the subscribers. Everything else talks to it through its
// channels and also selects on done, so nobody blocks after it stops.
type refHub struct {
	register   chan chan []byte
	unregister chan chan []byte
	broadcast  chan []byte
	done       chan struct{}
	dropped    atomic.Int64
}

func newRefHub() *refHub {
	return &refHub{
		register:   make(chan chan []byte),
		unregister: make(chan chan []byte),
		broadcast:  make(chan []byte, 1024),
		done:       make(chan struct{}),
	}
}

// run owns the subscriber set until ctx ends.
func (h *refHub) run(ctx context.Context) {
	defer close(h.done)
	subs := make(map[chan []byte]struct{})
	for {
		select {
		case <-ctx.Done():
			return
		case ch := <-h.register:
			subs[ch] = struct{}{}
		case ch := <-h.unregister:
			if _, ok := subs[ch]; ok {
				delete(subs, ch)
				close(ch)
			}
		case msg := <-h.broadcast:
			for ch := range subs {
				select {
				case ch <- msg:
				default: // a slow subscriber is dropped, not waited for
					delete(subs, ch)
					close(ch)
					h.dropped.Add(1)
				}
			}
		}
	}
}

// reference is the reference server's HTTP side.
type reference struct {
	hub   *refHub
	pos   atomic.Int64
	conns prometheus.Gauge

	streams *refHub                // the viewers of /stream/metrics
	rooms   *refRooms              // the members of /rooms/{room}/ws
	panel   atomic.Pointer[[]byte] // the newest frame of the metrics panel
	cards   *template.Template

	mu     sync.Mutex
	recent []refItem // guarded by mu; the newest 20, newest first
	page   *template.Template
}

type refItem struct {
	Position int64
	Text     string
	At       time.Time
}

// join registers a connection with hub and counts it, and returns its
// channel and the leave to call when it ends; nil when hub is shut down.
func (r *reference) join(hub *refHub) (chan []byte, func()) {
	ch := make(chan []byte, referenceQueue)
	select {
	case hub.register <- ch:
	case <-hub.done:
		return nil, nil
	}
	r.conns.Inc()
	return ch, func() {
		select {
		case hub.unregister <- ch:
		case <-hub.done:
		}
		r.conns.Dec()
	}
}

func (r *reference) live(w http.ResponseWriter, req *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, leave := r.join(r.hub)
	if ch == nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer leave()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// The position block, as Beacon sends: the handshake ends here.
	fmt.Fprintf(w, "id: ref-%d\n\n", r.pos.Load())
	fl.Flush()
	for {
		select {
		case <-req.Context().Done():
			return
		case msg, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write(msg); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// refStreamHead opens a streamed widget: no script; the stylesheet shows
// only the newest frame.
const refStreamHead = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Metrics</title>` +
	`<style>.frame{display:none}.frame:last-child{display:block}</style></head><body class="stream">`

// refPanel is a metrics panel of the same shape and size as the one
// Beacon's metrics widget shows (the posted metrics, none here: a widget
// never shows the server's own figures), in a frame.
const refPanel = `<div class="frame"><section id="metrics-panel" class="panel metrics-panel" aria-labelledby="metrics-panel-title">` +
	`<h2 id="metrics-panel-title">Metrics</h2><p class="hint">POST /api/metrics to add one.</p>` +
	`<p class="meta">Measured at <time datetime="{{.At.Format "2006-01-02T15:04:05Z07:00"}}">{{.At.Format "15:04:05"}}</time></p></section></div>`

// renderPanel renders the metrics panel as measured at now.
func (r *reference) renderPanel(now time.Time) []byte {
	var b bytes.Buffer
	// Executing a parsed template into a buffer fails only on a bug.
	if err := r.cards.Execute(&b, struct{ At time.Time }{now.UTC()}); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// tick renders the metrics panel every period and broadcasts it to the
// stream viewers, until ctx ends.
func (r *reference) tick(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			frame := r.renderPanel(now)
			r.panel.Store(&frame)
			select {
			case r.streams.broadcast <- frame:
			case <-ctx.Done():
				return
			}
		}
	}
}

// stream serves GET /stream/metrics: the document's head and the newest
// panel, then every new panel appended as a frame, one write and flush each.
func (r *reference) stream(w http.ResponseWriter, req *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	// The panel is read before the viewer joins, so a tick in between is
	// not shown twice (the next one comes a tick later).
	first := *r.panel.Load()
	ch, leave := r.join(r.streams)
	if ch == nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer leave()
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, refStreamHead)
	w.Write(first)
	fl.Flush()
	for {
		select {
		case <-req.Context().Done():
			return
		case frame, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write(frame); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

func (r *reference) publish(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(io.LimitReader(req.Body, 64<<10)).Decode(&in); err != nil || in.Text == "" {
		http.Error(w, `want {"text": "…"}`, http.StatusBadRequest)
		return
	}
	pos := r.pos.Add(1)
	now := time.Now().UTC()
	// A fragment of the same shape and size as Beacon's activity item.
	msg := fmt.Appendf(nil, "id: ref-%d\ndata: <hx-partial hx-target=\"#activity-list\" hx-swap=\"afterbegin\">"+
		"<li id=\"act-%d\" class=\"item\"><span class=\"item-text\">%s</span> <time datetime=\"%s\">%s</time></li></hx-partial>\n\n",
		pos, pos, html.EscapeString(in.Text), now.Format(time.RFC3339), now.Format("15:04:05"))
	select {
	case r.hub.broadcast <- msg:
	case <-r.hub.done:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	case <-req.Context().Done():
		return
	}
	r.mu.Lock()
	r.recent = append([]refItem{{Position: pos, Text: in.Text, At: now}}, r.recent[:min(len(r.recent), 19)]...)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"position":%d}`, pos)
}

const refPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reference dashboard</title>
<link rel="stylesheet" href="/static/app.css"><script src="/static/vendor/htmx.min.js" defer></script></head>
<body hx-ext="hx-sse" hx-sse:connect="/live?topics=metrics,chart,activity">
<header><h1>Dashboard</h1><p>Live, server-rendered.</p></header>
<main>
<section class="panel" aria-labelledby="metrics-title"><h2 id="metrics-title">Metrics</h2>
<ul id="metrics" class="cards">{{range .Cards}}<li class="card"><span class="name">{{.Name}}</span> <span class="value">{{.Value}}</span></li>{{end}}</ul></section>
<section class="panel activity-panel" aria-labelledby="activity-list-title"><h2 id="activity-list-title">Activity</h2>
<ol id="activity-list" class="feed" aria-label="Activity feed" aria-live="polite">{{range .Items}}
<li id="act-{{.Position}}" class="item"><span class="item-text">{{.Text}}</span> <time datetime="{{.At.Format "2006-01-02T15:04:05Z07:00"}}">{{.At.Format "15:04:05"}}</time></li>{{end}}
</ol></section>
</main></body></html>
`

type refCard struct {
	Name  string
	Value string
}

func (r *reference) dashboard(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/" {
		http.NotFound(w, req)
		return
	}
	cards := []refCard{{"requests", strconv.Itoa(int(r.pos.Load()))}, {"connections", "live"}, {"uptime", "ok"}}
	r.mu.Lock()
	items := r.recent
	r.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// An error here means the client went away mid-response: nothing to say.
	_ = r.page.Execute(w, struct {
		Cards []refCard
		Items []refItem
	}{cards, items})
}

// serveReference runs the reference server on -addr until ctx ends, and
// prints "reference listening on http://…" once it accepts connections.
func serveReference(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("beacon-load reference", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to listen on")
	tick := fs.Duration("tick", beaconTick, "how often the metrics panel of /stream/metrics is refreshed (Beacon's default --tick)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil || !loopbackHost(host) {
		return fmt.Errorf("-addr %q: the reference server listens on loopback only (127.0.0.1:port)", *addr)
	}
	if *tick < 10*time.Millisecond {
		return errors.New("-tick must be at least 10ms")
	}
	handler, stop := newReferenceHandler(*tick)
	defer stop()
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "reference listening on http://%s\n", ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// Live streams never go idle: close them rather than wait for them.
	srv.Close()
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newReferenceHandler returns the reference server's routes and a function
// that stops its hubs and its ticker, which refreshes the metrics panel
// every tick.
func newReferenceHandler(tick time.Duration) (http.Handler, func()) {
	reg := prometheus.NewRegistry()
	// The collector's CPU and cycles too (go_cpu_classes_gc_total_cpu_seconds_total,
	// go_gc_cycles_total_gc_cycles_total): as Beacon exports them.
	gcCost := collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/gc/total:cpu-seconds$|^/gc/cycles/total:gc-cycles$`)}
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(gcCost)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	conns := prometheus.NewGauge(prometheus.GaugeOpts{Name: referenceGauge, Help: "Open live connections."})
	reg.MustRegister(conns)
	ctx, cancel := context.WithCancel(context.Background())
	r := &reference{hub: newRefHub(), streams: newRefHub(), rooms: newRefRooms(), conns: conns,
		page: template.Must(template.New("page").Parse(refPage)), cards: template.Must(template.New("panel").Parse(refPanel))}
	first := r.renderPanel(time.Now())
	r.panel.Store(&first)
	go r.hub.run(ctx)
	go r.streams.run(ctx)
	go r.rooms.run(ctx)
	ticked := make(chan struct{})
	go func() { defer close(ticked); r.tick(ctx, tick) }()
	mux := http.NewServeMux()
	mux.HandleFunc("/live", r.live)
	mux.HandleFunc(publishPath, r.publish)
	mux.Handle(metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc(pagePath, r.dashboard)
	mux.HandleFunc(streamPath, r.stream)
	mux.HandleFunc("/rooms/", r.socket)
	return mux, func() { cancel(); <-r.hub.done; <-r.streams.done; <-r.rooms.done; <-ticked }
}
