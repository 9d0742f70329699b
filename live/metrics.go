package live

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the live core's Prometheus collectors.
type Metrics struct {
	connections *prometheus.GaugeVec
	writes      *prometheus.CounterVec
	slowWrites  prometheus.Counter
	published   *prometheus.CounterVec
	publishedBy [2]prometheus.Counter // the children of published by Class, looked up once
	deliveries  *prometheus.CounterVec
	// The two children of deliveries, looked up once: they are on the hot path.
	deliveredLog, deliveredState prometheus.Counter
	conflated                    prometheus.Counter
	evicted                      prometheus.Counter
	dropped                      prometheus.Counter
	replayed                     prometheus.Counter
	resyncs                      prometheus.Counter
	latency                      prometheus.Histogram
}

// NewMetrics makes the live core's collectors and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := newMetrics()
	reg.MustRegister(m.connections, m.writes, m.slowWrites, m.published, m.deliveries, m.conflated, m.evicted,
		m.dropped, m.replayed, m.resyncs, m.latency)
	return m
}

func discardMetrics() *Metrics { return newMetrics() }

func newMetrics() *Metrics {
	m := &Metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "beacon_live_connections", Help: "Open live connections by transport.",
		}, []string{"transport"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_live_writes_total", Help: "Writes to live connections' sockets, by transport: deliveries per write says how well frames are coalesced.",
		}, []string{"transport"}),
		slowWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_live_slow_writes_total", Help: "Writes a client's socket did not take at once: finished by a goroutine of the connection's own, under the write deadline.",
		}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_events_published_total", Help: "Frames published to the hub, by topic class.",
		}, []string{"class"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_events_delivered_total", Help: "Frames written to a client socket (or found to change nothing the client has), by topic class.",
		}, []string{"class"}),
		conflated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_events_conflated_total", Help: "State frames replaced by a newer one before a slow reader took them.",
		}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_subscribers_evicted_total", Help: "Readers disconnected for not reading: their log queue overflowed, or a write missed its deadline.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_events_dropped_total", Help: "Frames refused by Publish: a log frame without a position, or an unsafe event name.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_events_replayed_total", Help: "Missed events replayed from the log to resuming clients.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "beacon_resyncs_total", Help: "Clients that could not be replayed and got the current state instead.",
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "beacon_delivery_latency_seconds",
			Help:    "Time from commit (or publish, for state frames) to the socket write.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	m.publishedBy[State] = m.published.WithLabelValues(State.String())
	m.publishedBy[Log] = m.published.WithLabelValues(Log.String())
	m.deliveredLog = m.deliveries.WithLabelValues(Log.String())
	m.deliveredState = m.deliveries.WithLabelValues(State.String())
	// Every transport's writes are exported from the start, at 0 until
	// its first connection.
	for _, t := range []string{"sse", "ws", "stream"} {
		m.writes.WithLabelValues(t)
	}
	return m
}

// delivered records frames written to a socket.
func (m *Metrics) delivered(sent []*message) {
	if len(sent) == 0 {
		return
	}
	now := time.Now()
	var logs, states int
	for _, msg := range sent {
		if msg.class == Log {
			logs++
		} else {
			states++
		}
		if !msg.At.IsZero() {
			m.latency.Observe(now.Sub(msg.At).Seconds())
		}
	}
	if logs > 0 {
		m.deliveredLog.Add(float64(logs))
	}
	if states > 0 {
		m.deliveredState.Add(float64(states))
	}
}
