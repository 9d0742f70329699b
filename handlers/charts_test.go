package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
	"github.com/beacon-live/beacon/widget"
)

func topicsOf(frames []live.Frame) []string {
	var out []string
	for _, f := range frames {
		out = append(out, f.Topic)
	}
	slices.Sort(out)
	return out
}

// The board draws every chart topic once and publishes only what changed:
// the same moment twice publishes nothing; a second later only the metric
// page's 5-minute chart moved (a column a second); a poke (a sample
// posted) leaves the stream's chart for the next tick.
func TestBoardPublishesChartsWhenTheyChange(t *testing.T) {
	hub := live.NewHub(live.HubConfig{Classify: Classify})
	t.Cleanup(hub.Close)
	b := NewBoard(hub, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC) // a column's start at every size
	if err := b.AddSample(db.Sample{Name: "queue depth", Value: 4, Unit: "jobs", At: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}

	first := topicsOf(b.chartFrames(ctx, now, true))
	want := []string{"chart", "chart-stream", "chart:1h", "chart:1h:queue depth", "chart:24h", "chart:24h:queue depth",
		"chart:5m", "chart:5m:queue depth", "server-chart:1h", "server-chart:24h", "server-chart:5m"}
	if !slices.Equal(first, want) {
		t.Errorf("first drawing published %q, want %q", first, want)
	}
	if again := b.chartFrames(ctx, now, true); len(again) != 0 {
		t.Errorf("the same moment again published %q", topicsOf(again))
	}
	if next := topicsOf(b.chartFrames(ctx, now.Add(time.Second), true)); !slices.Equal(next, []string{"chart:5m:queue depth"}) {
		t.Errorf("a second later published %q, want the page's 5-minute chart only", next)
	}

	if err := b.AddSample(db.Sample{Name: "queue depth", Value: 9, Unit: "jobs", At: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	poked := topicsOf(b.chartFrames(ctx, now.Add(time.Second), false))
	if slices.Contains(poked, views.TopicStreamChart) || !slices.Contains(poked, "chart:5m") || !slices.Contains(poked, "chart:24h:queue depth") {
		t.Errorf("a poke after a sample published %q: every chart of the metric but the stream's", poked)
	}
	if ticked := topicsOf(b.chartFrames(ctx, now.Add(time.Second), true)); !slices.Equal(ticked, []string{views.TopicStreamChart}) {
		t.Errorf("the tick after the poke published %q, want the stream's chart", ticked)
	}

	// The server's own series, sampled every tick, are drawn again when
	// their columns move on, not at every sample.
	b.sample(now.Add(2*time.Second), 3)
	if got := topicsOf(b.chartFrames(ctx, now.Add(2*time.Second), true)); slices.Contains(got, "server-chart:5m") {
		t.Errorf("a tick's sample of the server's series published %q", got)
	}
	if got := topicsOf(b.chartFrames(ctx, now.Add(5*time.Second), true)); !slices.Contains(got, "server-chart:5m") {
		t.Errorf("the next column published %q, want the server's chart too", got)
	}

	// Pages get what was drawn, as of the last drawing.
	c := b.ChartPanel(ctx, views.DefaultChartRange(), false)
	if len(c.Figures) != 1 || !c.Nav {
		t.Fatalf("the dashboard's panel: %+v", c)
	}
	var buf bytes.Buffer
	c.Figures[0].Render(ctx, &buf) //nolint:errcheck // a bytes.Buffer
	if !strings.Contains(buf.String(), "<dd><bdi>9 jobs</bdi></dd>") {
		t.Errorf("the panel's figure does not show the newest value: %.300s", buf.String())
	}
	for name, c := range map[string]views.Chart{"widget": b.WidgetChart(ctx), "stream": b.StreamChart(ctx)} {
		buf.Reset()
		c.Figures[0].Render(ctx, &buf) //nolint:errcheck // a bytes.Buffer
		if c.Nav || strings.Contains(buf.String(), "<a ") || !strings.Contains(buf.String(), "9 jobs") {
			t.Errorf("the %s's chart links out, or lacks the value: %.300s", name, buf.String())
		}
	}
	if _, ok := b.SeriesPanel(ctx, views.DefaultChartRange(), "nobody"); ok {
		t.Error("a page for a metric nobody posted")
	}
}

// Deleting a series drops it from every chart and tells its open pages,
// once; the hub then forgets those pages' topics.
func TestBoardDeleteSeries(t *testing.T) {
	hub := live.NewHub(live.HubConfig{Classify: Classify})
	t.Cleanup(hub.Close)
	b := NewBoard(hub, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{"queue depth", "disk"} {
		if err := b.AddSample(db.Sample{Name: name, Value: 1, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	b.chartFrames(ctx, now, true)
	b.DeleteSeries("queue depth")
	if b.HasSeries("queue depth") || !b.HasSeries("disk") {
		t.Fatal("DeleteSeries did not drop exactly its series")
	}
	frames := b.chartFrames(ctx, now, true)
	got := map[string]string{}
	for _, f := range frames {
		got[f.Topic] = string(f.Data)
	}
	for _, r := range views.ChartRanges() {
		if page := got[views.TopicSeries(r, "queue depth")]; !strings.Contains(page, "This series was deleted.") || !strings.Contains(page, `hx-swap-oob="true"`) {
			t.Errorf("the %s page was not told: %.200q", r.Name, page)
		}
		if panel := got[views.TopicChartRange(r)]; strings.Contains(panel, "queue depth") || panel == "" {
			t.Errorf("the %s panel still draws the series, or was not published: %.200q", r.Name, panel)
		}
	}
	if len(b.charts.forget) != 3 {
		t.Errorf("pages to forget: %q", b.charts.forget)
	}
	b.forgetDeleted()
	if len(b.charts.forget) != 0 {
		t.Error("forgetDeleted kept its list")
	}
	if again := b.chartFrames(ctx, now, true); len(again) != 0 {
		t.Errorf("after the deletion, the same moment published %q", topicsOf(again))
	}
	for k := range b.charts.figures {
		if k.series.Name == "queue depth" {
			t.Errorf("a figure of the deleted series is kept: %+v", k)
		}
	}
}

// The zero-JavaScript chart stream appends an update only when its bytes
// differ from the last it appended: a frame published twice is appended
// once. The hub's delivery counter says when the stream has taken the
// second copy, so the next frame cannot be conflated with it.
func TestStreamAppendsOnlyWhatChanged(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, store := newTestServerOf(t, db.Options{}, live.NewMetrics(reg))
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	ctx := context.Background()
	w, err := store.CreateWidgetToken(ctx, db.WidgetToken{Widget: widget.Chart, Origins: []string{"https://blog.example"}, Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := widget.Sign(testSecret, widget.Claims{ID: w.ID, Widget: widget.Chart, Origins: []string{"https://blog.example"}, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, ts.URL+"/stream/chart?token="+url.QueryEscape(tok), nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var seen strings.Builder
	buf := make([]byte, 32<<10)
	readUntil := func(want string) {
		t.Helper()
		for !strings.Contains(seen.String(), want) {
			n, err := resp.Body.Read(buf)
			seen.Write(buf[:n])
			if err != nil {
				t.Fatalf("the stream ended before %q: %v\n%s", want, err, seen.String())
			}
		}
	}
	readUntil(`<div class="frame">`)
	delivered := func() float64 {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "beacon_events_delivered_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "class" && l.GetValue() == "state" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(time.Millisecond) // polling a condition, not waiting for time to pass
		}
	}
	hub := srv.Hub
	publish := func(html string) { hub.Publish(live.Frame{Topic: views.TopicStreamChart, Data: []byte(html + "\n")}) }

	publish("<p>frame one</p>")
	readUntil("frame one")
	waitUntil("the first frame taken", func() bool { return delivered() == 1 })
	publish("<p>frame one</p>")
	waitUntil("the copy taken", func() bool { return delivered() == 2 })
	publish("<p>frame two</p>")
	readUntil("frame two")
	if n := strings.Count(seen.String(), "frame one"); n != 1 {
		t.Errorf("the same frame was appended %d times:\n%s", n, seen.String())
	}
	hub.Close() // ends the stream now, not at its next heartbeat
}

// A script posting several metrics at once makes one update of every
// dashboard, pokeDelay after the first, not one per metric.
func TestBoardCoalescesPokes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := live.NewHub(live.HubConfig{Classify: Classify})
		defer hub.Close()
		b := NewBoard(hub, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); b.Run(ctx) }()
		defer func() { cancel(); <-done }()
		synctest.Wait() // the first reading is published
		before := hub.Published()

		for i, name := range []string{"a", "b", "c"} {
			if err := b.AddSample(db.Sample{Name: name, Value: 1, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(pokeDelay / 5)
			synctest.Wait()
			if got := hub.Published(); got != before {
				t.Fatalf("published %d frames %v after sample %d, before pokeDelay", got-before, time.Duration(i+1)*pokeDelay/5, i)
			}
		}
		time.Sleep(pokeDelay - 3*pokeDelay/5)
		synctest.Wait()
		once := hub.Published()
		if once == before {
			t.Fatal("nothing published pokeDelay after the first sample")
		}
		time.Sleep(time.Second - pokeDelay - time.Millisecond)
		synctest.Wait()
		if got := hub.Published(); got != once {
			t.Errorf("published again (%d frames) before the next tick", got-once)
		}
	})
}

// The board keeps each dashboard chart panel as pages show it, rendered
// with the frame it publishes, once for every page (the approach of the
// dashboard's other panels, issue 12 item 5): a page writes those bytes;
// it does not draw or render the panel. The page panel is the published
// one without its out-of-band marker, and it follows the next drawing.
func TestBoardKeepsChartPagePanels(t *testing.T) {
	hub := live.NewHub(live.HubConfig{Classify: Classify})
	t.Cleanup(hub.Close)
	b := NewBoard(hub, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	hour, _ := views.ChartRangeNamed("1h")
	if b.ChartPage(hour, false) != nil {
		t.Fatal("a page panel before the first drawing")
	}
	if err := b.AddSample(db.Sample{Name: "queue depth", Value: 4, Unit: "jobs", At: now.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	published := map[string][]byte{}
	for _, f := range b.chartFrames(ctx, now, true) {
		published[f.Topic] = f.Data
	}
	for _, server := range []bool{false, true} {
		topic := views.TopicChartRange(hour)
		if server {
			topic = views.TopicServerChartRange(hour)
		}
		page := b.ChartPage(hour, server)
		want := bytes.Replace(published[topic], []byte(` hx-swap-oob="true"`), nil, 1)
		if page == nil || !bytes.Equal(page, want) {
			t.Errorf("%s: the page panel is\n%s\nwant the published one without hx-swap-oob:\n%s", topic, page, want)
		}
	}
	if err := b.AddSample(db.Sample{Name: "queue depth", Value: 77, Unit: "jobs", At: now}); err != nil {
		t.Fatal(err)
	}
	b.chartFrames(ctx, now.Add(time.Second), true)
	if page := b.ChartPage(hour, false); !bytes.Contains(page, []byte("77 jobs")) {
		t.Errorf("after a new sample, the page panel does not show it:\n%s", page)
	}
	// A series added or deleted changes what every page shows: until the
	// next drawing, pages draw their panel (ChartPage is nil), so the page
	// an admin is sent to after deleting never shows the series.
	if err := b.AddSample(db.Sample{Name: "disk", Value: 1, At: now}); err != nil {
		t.Fatal(err)
	}
	if page := b.ChartPage(hour, false); page != nil {
		t.Errorf("a new series: the page panel without it is kept:\n%s", page)
	}
	if page := b.MetricsPage(false); page != nil {
		t.Errorf("a new series: the metrics panel without it is kept:\n%s", page)
	}
	b.frames(ctx, now.Add(2*time.Second), true)
	if page := b.MetricsPage(false); !bytes.Contains(page, []byte("queue depth")) {
		t.Fatalf("the metrics panel pages copy lacks the series before it is deleted:\n%s", page)
	}
	b.DeleteSeries("queue depth")
	if page := b.ChartPage(hour, false); page != nil {
		t.Errorf("a deleted series: the page panel with it is kept:\n%s", page)
	}
	if page := b.MetricsPage(false); page != nil {
		t.Errorf("a deleted series: the metrics panel with it is kept:\n%s", page)
	}
	for _, c := range b.Metrics().Custom {
		if c.Name == "queue depth" {
			t.Error("after deleting, a page's own metrics panel still has the series")
		}
	}
	if c := b.ChartPanel(ctx, hour, false); len(c.Figures) != 1 {
		t.Errorf("after deleting, a page draws %d series, want disk's only", len(c.Figures))
	}
}
