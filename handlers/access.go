package handlers

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon-live/beacon/stats"
)

// RequestMetrics are the Prometheus figures of ordinary HTTP requests, by
// route pattern (never the raw path: a path holds room names, ids, tokens)
// and status class.
type RequestMetrics struct {
	count    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewRequestMetrics makes the request metrics and registers them with reg.
func NewRequestMetrics(reg prometheus.Registerer) *RequestMetrics {
	m := &RequestMetrics{
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "beacon_http_requests_total",
			Help: "Ordinary HTTP requests answered (streams and sockets are not requests here), by route pattern, method and status class.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "beacon_http_request_duration_seconds",
			Help:    "Time from a request's arrival at the router to its answer, by route pattern and status class. Streams and sockets are left out: they last as long as a visit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "status"}),
	}
	reg.MustRegister(m.count, m.duration)
	return m
}

// ctxStream marks a request as a stream or a socket (see streaming).
const ctxStream = "beacon.stream"

// streaming marks its route as a stream or a socket: it lasts as long as a
// visit, so it is neither timed nor logged as a request. routes.go puts it
// on every such route.
func streaming(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Set(ctxStream, true)
		return next(c)
	}
}

// observeRequests times every ordinary request for the dashboard's figures
// and /metrics, and writes its access log line at info: method, route,
// status, duration and client address, and for a refused request (4xx or
// 5xx) the reason it was given. Streams and sockets (streaming) are left
// out.
func observeRequests(dash *stats.Requests, m *RequestMetrics, log *slog.Logger, clientIP func(*http.Request) string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if c.Get(ctxStream) != nil {
				return err
			}
			now := time.Now()
			took := now.Sub(start)
			status := c.Response().Status
			reason := ""
			if err != nil && !c.Response().Committed {
				// The error handler answers after this returns; the status
				// it will send is the one classify gives.
				var body errorBody
				status, body = classify(err)
				reason = body.Error
				if body.Field != "" {
					reason = body.Field + ": " + reason
				}
			}
			route := c.Path() // the pattern; echo gives "" or "/*" where none matched
			if route == "" || route == "/*" {
				route = "unmatched"
			}
			class := strconv.Itoa(status/100) + "xx"
			dash.Observe(now, took)
			if m != nil {
				m.count.WithLabelValues(route, c.Request().Method, class).Inc()
				m.duration.WithLabelValues(route, class).Observe(took.Seconds())
			}
			attrs := []any{"method", c.Request().Method, "route", route, "status", status,
				"duration", took.Round(time.Microsecond), "client", clientIP(c.Request())}
			if reason != "" {
				attrs = append(attrs, "reason", reason)
			}
			log.Info("request", attrs...)
			return err
		}
	}
}
