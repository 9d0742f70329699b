package handlers

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/a-h/templ"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/stats"
	"github.com/beacon-live/beacon/views"
)

// maxCustomMetrics bounds how many distinct names scripts may post.
const maxCustomMetrics = 50

// Board is the live dashboard's state: the server's own measures, the metrics
// that scripts post, and their series for the charts. Its Run loop publishes
// the metrics panel and the charts to the hub every tick, and at once after a
// metric is posted or deleted (charts.go has the charts).
type Board struct {
	hub      *live.Hub
	tick     time.Duration
	log      *slog.Logger
	requests stats.Requests
	events   atomic.Uint64 // durable events committed, for events/s
	poke     chan struct{}

	// Built-in series, sampled every tick.
	reqRate, evRate, conns, p95 *stats.Series

	mu      sync.Mutex
	custom  map[string]*stats.Series // guarded by mu; posted metrics by name
	last    views.Metrics            // guarded by mu; the newest reading of the server's own figures
	deleted []string                 // guarded by mu; series deleted since the last publish, whose pages must say so

	chartMu sync.Mutex
	charts  chartCache // guarded by chartMu

	// metricsPages are the metrics panels as pages show them, rendered
	// with every publish: a page copies them instead of rendering them
	// again (the charts keep theirs: ChartPage).
	metricsPages atomic.Pointer[metricsPages]
}

// The board shows two audiences: everyone sees the posted metrics and
// their series (Metrics, ChartPanel; topics metrics and chart:<range>, and
// the widgets), admins the server's own figures and series too
// (ServerMetrics, ChartPanel with server; topics server-metrics and
// server-chart:<range>).

// metricsPages are the metrics panels rendered for pages (not out of
// band): everyone's, and the admins' with the server's figures.
type metricsPages struct{ metrics, serverMetrics []byte }

// NewBoard returns a board that publishes to hub every tick.
func NewBoard(hub *live.Hub, tick time.Duration, log *slog.Logger) *Board {
	series := func(name, unit string) *stats.Series {
		return stats.NewSeries(name, unit, chartResolutions()...)
	}
	return &Board{
		hub: hub, tick: tick, log: log,
		poke:    make(chan struct{}, 1),
		reqRate: series("Requests/s", "req/s"),
		evRate:  series(views.LabelLogEvents, "events/s"),
		conns:   series("Live connections", ""),
		p95:     series("Response p95", "ms"),
		custom:  make(map[string]*stats.Series),
		charts:  newChartCache(),
	}
}

// Restore refills the posted metrics from stored samples (at start-up).
func (b *Board) Restore(samples []db.Sample) {
	for _, s := range samples {
		b.addSample(s) //nolint:errcheck // stored samples were accepted once
	}
}

// errTooManyMetrics is returned by AddSample for a new name past the limit.
var errTooManyMetrics = &fieldError{Field: "name", Message: "too many distinct metrics (at most 50); reuse an existing name"}

// AddSample records a posted sample and schedules a publish.
func (b *Board) AddSample(s db.Sample) error {
	if err := b.addSample(s); err != nil {
		return err
	}
	select {
	case b.poke <- struct{}{}:
	default:
	}
	return nil
}

// CanAdd reports whether a sample named name would be accepted.
func (b *Board) CanAdd(name string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.custom[name]
	return ok || len(b.custom) < maxCustomMetrics
}

func (b *Board) addSample(s db.Sample) error {
	b.mu.Lock()
	sr := b.custom[s.Name]
	created := sr == nil
	if created {
		if len(b.custom) >= maxCustomMetrics {
			b.mu.Unlock()
			return errTooManyMetrics
		}
		sr = stats.NewSeries(s.Name, s.Unit, chartResolutions()...)
		b.custom[s.Name] = sr
	}
	sr.Unit = s.Unit
	b.mu.Unlock()
	sr.Add(stats.Point{At: s.At, Value: s.Value})
	if created {
		b.dropPages() // a new series: pages render their panels until the next publish has it
	}
	return nil
}

// Committed counts durable events for the events/s figure.
func (b *Board) Committed(n int) { b.events.Add(uint64(n)) }

// pokeDelay is how long the board waits after a poke before it publishes:
// a script that posts several metrics at once makes one update of every
// open dashboard, not one per metric (each update is every chart again).
const pokeDelay = 50 * time.Millisecond

// Run publishes the metrics panel and the charts every tick until ctx
// ends, and pokeDelay after a poke (a sample posted, a series deleted). The
// zero-JavaScript stream's chart is published on ticks only: each of its
// updates is a whole chart more on the viewer's page.
func (b *Board) Run(ctx context.Context) {
	t := time.NewTicker(b.tick)
	defer t.Stop()
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	defer soon.Stop()
	poked := false // soon is running
	prevEvents, prevAt := b.events.Load(), time.Now()
	// A first reading now, not a tick from now: pages and widgets opened
	// in the first second would show zeros.
	b.sample(prevAt, 0)
	b.publish(prevAt, true)
	for {
		tick := false
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ev := b.events.Load()
			rate := float64(ev-prevEvents) / now.Sub(prevAt).Seconds()
			prevEvents, prevAt = ev, now
			b.sample(now, rate)
			tick = true
		case <-b.poke:
			if !poked {
				poked = true
				soon.Reset(min(pokeDelay, b.tick))
			}
			continue
		case <-soon.C:
		}
		if poked {
			poked = false
			soon.Stop() // a tick publishes what the poke asked for
		}
		b.publish(time.Now(), tick)
	}
}

// sample takes the server's own measures into the built-in series.
func (b *Board) sample(now time.Time, eventRate float64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	reqs, p50, p95 := b.requests.Over(now, 60)
	recent, _, _ := b.requests.Over(now, 5)
	conns, users := b.hub.Counts()
	m := views.Metrics{
		At:              now,
		LiveConnections: conns,
		ActiveUsers:     users,
		RequestsPerMin:  reqs,
		P50:             p50,
		P95:             p95,
		EventsPerSec:    eventRate,
		Goroutines:      runtime.NumGoroutine(),
		HeapBytes:       ms.HeapInuse,
	}
	b.reqRate.Add(stats.Point{At: now, Value: float64(recent) / 5})
	b.evRate.Add(stats.Point{At: now, Value: eventRate})
	b.conns.Add(stats.Point{At: now, Value: float64(conns)})
	b.p95.Add(stats.Point{At: now, Value: float64(p95) / float64(time.Millisecond)})
	b.mu.Lock()
	b.last = m
	b.mu.Unlock()
}

// ServerMetrics returns the newest reading of the server's own figures
// with the latest posted values: an admin's panel.
func (b *Board) ServerMetrics() views.Metrics {
	b.mu.Lock()
	m := b.last
	b.mu.Unlock()
	m.Server = true
	return b.withPosted(m)
}

// Metrics returns the latest posted values, as of the newest reading: the
// panel everyone sees.
func (b *Board) Metrics() views.Metrics {
	b.mu.Lock()
	at := b.last.At
	b.mu.Unlock()
	return b.withPosted(views.Metrics{At: at})
}

// withPosted adds the latest posted values to m.
func (b *Board) withPosted(m views.Metrics) views.Metrics {
	series, units := b.posted()
	m.Custom = make([]views.CustomMetric, 0, len(series))
	for i, sr := range series {
		if p, ok := sr.Latest(); ok {
			m.Custom = append(m.Custom, views.CustomMetric{Name: sr.Name, Unit: units[i], Value: p.Value, At: p.At})
		}
	}
	return m
}

// posted returns the posted metrics' series by name, with their units read
// under b.mu, which guards Unit.
func (b *Board) posted() ([]*stats.Series, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	names := make([]string, 0, len(b.custom))
	for n := range b.custom {
		names = append(names, n)
	}
	sort.Strings(names)
	series, units := make([]*stats.Series, len(names)), make([]string, len(names))
	for i, n := range names {
		series[i], units[i] = b.custom[n], b.custom[n].Unit
	}
	return series, units
}

// frames renders the metrics panel once for everyone and once with the
// server's figures for admins, as out-of-band fragments and as pages show
// them (MetricsPage), then the charts that changed (chartFrames).
func (b *Board) frames(ctx context.Context, now time.Time, tick bool) []live.Frame {
	m, sm := b.Metrics(), b.ServerMetrics()
	b.metricsPages.Store(&metricsPages{
		metrics:       b.render(ctx, views.MetricsPanel(m, false)),
		serverMetrics: b.render(ctx, views.MetricsPanel(sm, false)),
	})
	frames := []live.Frame{
		{Topic: views.TopicMetrics, Data: b.render(ctx, views.MetricsPanel(m, true)), At: now},
		{Topic: views.TopicServerMetrics, Data: b.render(ctx, views.MetricsPanel(sm, true)), At: now},
	}
	return append(frames, b.chartFrames(ctx, now, tick)...)
}

func (b *Board) publish(now time.Time, tick bool) {
	for _, f := range b.frames(context.Background(), now, tick) {
		if len(f.Data) > 0 {
			b.hub.Publish(f)
		}
	}
	b.forgetDeleted()
}

// dropPages makes pages render their metrics and chart panels themselves
// until the next publish: a series added or deleted changes what every
// page shows, and the page an admin is sent to after deleting one must not
// show it.
func (b *Board) dropPages() {
	b.metricsPages.Store(nil)
	b.dropChartPages()
}

// MetricsPage returns the metrics panel as pages show it, rendered at the
// last publish, with the server's figures (an admin's) when server is set;
// nil before the first.
func (b *Board) MetricsPage(server bool) []byte {
	p := b.metricsPages.Load()
	switch {
	case p == nil:
		return nil
	case server:
		return p.serverMetrics
	}
	return p.metrics
}

func (b *Board) render(ctx context.Context, c templ.Component) []byte {
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		b.log.Error("render dashboard fragment", "err", err)
		return nil
	}
	return buf.Bytes()
}

// Requests returns the recorder of HTTP requests the board reads.
func (b *Board) Requests() *stats.Requests { return &b.requests }
