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

// BenchmarkStreamChartBytes measures what one viewer of the zero-JavaScript
// chart widget (GET /stream/chart) receives per second, with the default
// one-second tick, over a real connection: three posted metrics with a
// sample a second for the ten minutes before the server started, and then
// either nothing more ("quiet") or a sample a second of each ("posting").
// It measures wall time, so run it alone:
//
//	go test -run '^$' -bench StreamChartBytes -benchtime 1x ./cmd/beacon
func BenchmarkStreamChartBytes(b *testing.B) {
	const measure = 20 * time.Second
	for _, posting := range []bool{false, true} {
		name := "quiet"
		if posting {
			name = "posting"
		}
		b.Run(name, func(b *testing.B) {
			dbPath := b.TempDir() + "/beacon.db"
			store, err := db.Open(context.Background(), dbPath, db.Options{})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now().UTC()
			for s := 600; s > 0; s-- {
				for i, name := range []string{"queue depth", "build time", "disk used"} {
					v := float64(10*(i+1)) + float64(s%37)
					if err := store.AddSample(context.Background(), db.Sample{Name: name, Value: v, Unit: "jobs", At: now.Add(-time.Duration(s) * time.Second)}); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := store.Close(); err != nil {
				b.Fatal(err)
			}
			in := start(b, dbPath, "", "--secret", fmt.Sprintf("%x", embedSecret))
			tok := sign(b, in, widget.Claims{Widget: widget.Chart, Origins: []string{"http://127.0.0.1:1"}})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			defer wg.Wait()
			if posting {
				wg.Go(func() {
					t := time.NewTicker(time.Second)
					defer t.Stop()
					for n := 0; ; n++ {
						select {
						case <-ctx.Done():
							return
						case <-t.C:
						}
						for i, name := range []string{"queue depth", "build time", "disk used"} {
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
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, in.URL+"/stream/chart?token="+url.QueryEscape(tok), nil)
			resp, err := streamClient(b).Do(req)
			if err != nil {
				b.Fatal(err)
			}
			defer resp.Body.Close()
			// The first frame is the page; what follows is the stream's cost.
			buf := make([]byte, 64<<10)
			var first strings.Builder
			for !strings.Contains(first.String(), `<div class="frame">`) {
				n, err := resp.Body.Read(buf)
				if err != nil {
					b.Fatal(err)
				}
				first.Write(buf[:n])
			}
			b.ResetTimer()
			begin := time.Now()
			timer := time.AfterFunc(measure, cancel)
			defer timer.Stop()
			total, _ := io.CopyBuffer(io.Discard, resp.Body, buf)
			elapsed := time.Since(begin)
			b.ReportMetric(float64(total)/elapsed.Seconds(), "B/s/viewer")
			b.ReportMetric(float64(first.Len()), "B-first")
		})
	}
}
