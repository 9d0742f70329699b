package main

// The README's pictures (`./task screenshots`): a real Beacon, started as
// the other end-to-end tests start it, with an hour of metrics in its
// database and accounts, messages, activity and widgets made the way people
// make them (the API, the browser), photographed by headless Chromium.

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/widget"
)

// screenshotWidth is the width of every picture, in CSS pixels at scale 1.
const screenshotWidth = 1200

// TestScreenshots writes docs/dashboard.png, docs/chart.png, docs/room.png
// and docs/widget.png into the directory BEACON_SCREENSHOTS names.
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("BEACON_SCREENSHOTS")
	if dir == "" {
		t.Skip("set BEACON_SCREENSHOTS=<directory> (./task screenshots) to write the README's pictures")
	}
	in := start(t, seedHour(t), "", "--tick", "1s", "--dashboard", "members",
		"--secret-file", secretFile(t, hex.EncodeToString(embedSecret), 0o600))
	browser := newBrowserPage(t)
	ann := newChatTab(t, browser, "ann")
	signUpInBrowser(ann, in, "ann", "password-of-ann") // the first account: the admin
	bob := newChatTab(t, browser, "bob")
	signUpInBrowser(bob, in, "bob", "password-of-bob")

	// What scripts post now, through the API.
	browserPostMetric(t, in, "queue depth", "31", "jobs")
	browserPostMetric(t, in, "cpu", "42.5", "%")
	browserPostMetric(t, in, "p95 latency", "118", "ms")
	for _, a := range [][2]string{
		{"Nightly backup finished (14.2 GB)", ""},
		{"Build #481 passed", "https://example.com/builds/481"},
		{"Deployed v1.2.3 to production", "https://example.com/releases/v1.2.3"},
	} {
		browserPostActivity(t, in, a[0], a[1])
	}

	// A conversation in #ops.
	for _, c := range []*chatTab{ann, bob} {
		c.visit(in.URL + "/rooms/ops")
		c.waitFor(c.who+`'s "Message" field and a live socket`, rb(`!!field('Message') && indicator().dataset.state === 'live'`), nil)
	}
	for _, m := range []struct {
		who  *chatTab
		text string
	}{
		{ann, "Deploying v1.2.3 now"},
		{bob, "Queue depth is climbing, watching it"},
		{ann, "It drains after the migration: back under 30 in a few minutes"},
		{bob, "Confirmed, p95 is back to normal"},
	} {
		m.who.say(m.text)
		ann.waitMessage(m.who.who, m.text)
	}

	// The dashboard, a member's: the posted metrics, the chart over the
	// last hour, the feed.
	shoot(t, bob.browserPage, in.URL+"/?range=1h", 1000, cj(`!!chartOf('queue depth') && chartOf('queue depth').stats.last === '31 jobs'`),
		filepath.Join(dir, "dashboard.png"))
	// One metric's page over the hour.
	shoot(t, ann.browserPage, in.URL+"/charts/queue%20depth?range=1h", 590, cj(`(c => c && c.stats.last === '31 jobs')(chartOf('queue depth'))`),
		filepath.Join(dir, "chart.png"))
	// The room, as bob sees it.
	shoot(t, bob.browserPage, in.URL+"/rooms/ops", 420, rb(`count('bob', 'Confirmed, p95 is back to normal') === 1 && online().length === 2`),
		filepath.Join(dir, "room.png"))

	// Widgets on another site: the chart and the room, each in its frame.
	host := newHostSite(t)
	chart := sign(t, in, widget.Claims{Widget: widget.Chart, Origins: []string{host.URL}})
	room := sign(t, in, widget.Claims{Widget: widget.Room, Room: "ops", Post: true, Origins: []string{host.URL}})
	host.mu.Lock()
	host.page = fmt.Sprintf(hostPage, in.URL+"/embed/chart?token="+url.QueryEscape(chart), in.URL+"/embed/rooms/ops?token="+url.QueryEscape(room))
	host.mu.Unlock()
	visitor := newChatTab(t, browser, "a visitor of the host site")
	visitor.visit(host.URL)
	visitor.waitInFrame("chart", "the chart widget", cj(`(c => c && c.line && c.line.w > 0)(chartOf('queue depth'))`), nil)
	visitor.waitInFrame("room", "the room widget", rb(`count('bob', 'Confirmed, p95 is back to normal') === 1`), nil)
	capture(t, visitor.browserPage, 570, filepath.Join(dir, "widget.png"))
}

// hostPage is a customer's status page that frames two widgets.
const hostPage = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Acme status</title>
<style>
body { margin: 0; font: 16px/1.5 Georgia, serif; background: #f6f1e7; color: #2d2a26; }
header { background: #2d2a26; color: #f6f1e7; padding: 18px 40px; font-size: 22px; }
main { display: grid; grid-template-columns: 3fr 2fr; gap: 28px; padding: 28px 40px; }
h2 { font-size: 18px; margin: 0 0 8px; }
iframe { width: 100%%; height: 424px; border: 1px solid #d8cfbf; border-radius: 6px; background: #fff; }
</style></head><body>
<header>Acme Corp · System status</header>
<main>
<section><h2>Our numbers, live</h2><iframe name="chart" title="Beacon chart" src="%s"></iframe></section>
<section><h2>Talk to the on-call team</h2><iframe name="room" title="Beacon room" src="%s"></iframe></section>
</main></body></html>`

// seedHour writes an hour of three metrics into a new database, a sample
// every 15 seconds, as if scripts had posted them all along; the server
// loads them at start.
func seedHour(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "beacon.db")
	store, err := db.Open(context.Background(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := 240; i >= 1; i-- {
		x := float64(240 - i)
		at := now.Add(-time.Duration(i) * 15 * time.Second)
		for _, s := range []db.Sample{
			{Name: "queue depth", Value: math.Round(30 + 14*math.Sin(x/19) + 9*math.Sin(x/5.3) + 25*math.Exp(-math.Pow((x-170)/14, 2))), Unit: "jobs"},
			{Name: "cpu", Value: math.Round(10*(38+12*math.Sin(x/23+1)+6*math.Sin(x/3.7))) / 10, Unit: "%"},
			{Name: "p95 latency", Value: math.Round(95 + 20*math.Sin(x/11) + 140*math.Exp(-math.Pow((x-172)/9, 2))), Unit: "ms"},
		} {
			s.At = at
			if err := store.AddSample(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// shoot opens url in p, waits until ready holds and the page is live, and
// writes a picture of its top height pixels to file.
func shoot(t *testing.T, p *browserPage, url string, height int64, ready, file string) {
	t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.EmulateViewport(screenshotWidth, height), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	p.waitLive()
	p.waitFor("the page to be ready for its picture", ready, nil)
	capture(t, p, height, file)
}

// capture writes the top height pixels of p's page to file, at the
// screenshot width, with the page's fonts loaded and nothing animating.
func capture(t *testing.T, p *browserPage, height int64, file string) {
	t.Helper()
	p.waitFor("the fonts", `document.fonts.status === 'loaded'`, nil)
	var shot []byte
	err := chromedp.Do(p.ctx,
		chromedp.EmulateViewport(screenshotWidth, height),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}}); err != nil {
				return err
			}
			res, err := cdp.Call(ctx, tg, page.CaptureScreenshot, page.CaptureScreenshotParams{
				Clip: &page.Viewport{Width: screenshotWidth, Height: float64(height), Scale: 1}})
			shot = res.Data
			return err
		}))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if n := colours(img); n < 16 {
		t.Fatalf("%s would be a picture of %d colours: nothing painted", file, n)
	}
	writePNG(t, img, file)
}

// writePNG writes img to file at PNG's best compression.
func writePNG(t *testing.T, img image.Image, file string) {
	t.Helper()
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	t.Logf("wrote %s: %dx%d, %d KB", file, b.Dx(), b.Dy(), out.Len()/1024)
}
