package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/widget"
)

// chartBenchSeries are the posted metrics of the chart benchmarks.
var chartBenchSeries = []string{"queue depth", "build time", "disk used"}

// startChartBench starts Beacon on a database with a sample a second of
// each of chartBenchSeries for the ten minutes before, and, when posting,
// posts a sample a second of each until the benchmark ends.
func startChartBench(b *testing.B, posting bool) *instance {
	dbPath := b.TempDir() + "/beacon.db"
	store, err := db.Open(context.Background(), dbPath, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	for s := 600; s > 0; s-- {
		for i, name := range chartBenchSeries {
			v := float64(10*(i+1)) + float64(s%37)
			if err := store.AddSample(context.Background(), db.Sample{Name: name, Value: v, Unit: "jobs", At: now.Add(-time.Duration(s) * time.Second)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	in := start(b, dbPath, "", "--secret-file", secretFile(b, fmt.Sprintf("%x", embedSecret), 0o600))
	if !posting {
		return in
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for i, name := range chartBenchSeries {
				form := url.Values{"name": {name}, "value": {fmt.Sprint(10*(i+1) + n%37)}, "unit": {"jobs"}}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, in.URL+"/api/metrics", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Bearer "+testToken)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
	})
	return in
}

// measureStream reads u with c for d once it has sent first, and reports
// the bytes a second it received after that, and the size of what came
// before.
func measureStream(b *testing.B, c *http.Client, u, first string, d time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64<<10)
	var head strings.Builder
	for !strings.Contains(head.String(), first) {
		n, err := resp.Body.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		head.Write(buf[:n])
	}
	b.ResetTimer()
	begin := time.Now()
	timer := time.AfterFunc(d, cancel)
	defer timer.Stop()
	total, _ := io.CopyBuffer(io.Discard, resp.Body, buf)
	b.ReportMetric(float64(total)/time.Since(begin).Seconds(), "B/s/viewer")
	b.ReportMetric(float64(head.Len()), "B-first")
}

// BenchmarkStreamChartBytes measures what one viewer of the zero-JavaScript
// chart widget (GET /stream/chart) receives per second, with the default
// one-second tick, over a real connection: three posted metrics with a
// sample a second for the ten minutes before the server started, and then
// either nothing more ("quiet") or a sample a second of each ("posting").
// It measures wall time, so run it alone:
//
//	go test -run '^$' -bench ChartBytes -benchtime 1x ./cmd/beacon
func BenchmarkStreamChartBytes(b *testing.B) {
	for _, posting := range []bool{false, true} {
		b.Run(map[bool]string{false: "quiet", true: "posting"}[posting], func(b *testing.B) {
			in := startChartBench(b, posting)
			tok := sign(b, in, widget.Claims{Widget: widget.Chart, Origins: []string{"http://127.0.0.1:1"}})
			measureStream(b, streamClient(b), in.URL+"/stream/chart?token="+url.QueryEscape(tok), `<div class="frame">`, 20*time.Second)
		})
	}
}

// BenchmarkDashboardChartBytes measures what the dashboard's chart costs
// one viewer per second over its live connection (topic chart:5m, the
// posted metrics; an admin's server-chart:5m holds the server's four
// series too), in the same two cases.
func BenchmarkDashboardChartBytes(b *testing.B) {
	for _, posting := range []bool{false, true} {
		for _, admin := range []bool{false, true} {
			name := map[bool]string{false: "quiet", true: "posting"}[posting] + map[bool]string{false: "/member", true: "/admin"}[admin]
			b.Run(name, func(b *testing.B) {
				in := startChartBench(b, posting)
				a := signUp(b, in.URL, "ann") // the first account: an admin
				topic := "chart:5m"
				if admin {
					topic = "server-chart:5m"
				}
				measureStream(b, a.C, liveURL(in.URL, topic), "data:", 20*time.Second)
			})
		}
	}
}
