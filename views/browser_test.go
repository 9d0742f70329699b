package views_test

// These tests drive the real client (the vendored htmx 4 with hx-sse, and
// static/beacon.js) in headless Chromium against a scripted SSE endpoint
// that sends the fragments this package renders. They pin down what the
// server may rely on: out-of-band swaps by id, hx-partial inserts, named
// events, Last-Event-ID on reconnect, and the indicator's states.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/a-h/templ"
	"github.com/beacon-live/beacon/static"
	"github.com/beacon-live/beacon/views"
	"github.com/chromedp/chromedp"
)

// liveRequest is one request the browser made to the SSE endpoint.
type liveRequest struct {
	lastEventID string
	at          time.Time
}

// sseStream writes SSE messages the way the server does: one data line per
// line of the fragment, then a blank line, then a flush.
type sseStream struct {
	w http.ResponseWriter
}

func (s sseStream) send(fields ...string) {
	var b strings.Builder
	for i := 0; i+1 < len(fields); i += 2 {
		for _, line := range strings.Split(fields[i+1], "\n") {
			b.WriteString(fields[i] + ": " + line + "\n")
		}
	}
	b.WriteString("\n")
	s.w.Write([]byte(b.String()))
	s.w.(http.Flusher).Flush()
}

// liveServer serves the dashboard, the static files and a scripted /live.
type liveServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []liveRequest
	script   func(s sseStream, r *http.Request, attempt int) // attempt counts from 1
	slowFile string                                          // a static file served late
}

func newLiveServer(t *testing.T, initial []views.Activity, script func(s sseStream, r *http.Request, attempt int)) *liveServer {
	ls := &liveServer{script: script}
	mux := http.NewServeMux()
	files := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	mux.HandleFunc("/static/", func(w http.ResponseWriter, r *http.Request) {
		ls.mu.Lock()
		slow := ls.slowFile != "" && strings.HasSuffix(r.URL.Path, "/"+ls.slowFile)
		ls.mu.Unlock()
		if slow {
			time.Sleep(500 * time.Millisecond)
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		d := views.Dashboard{
			Page:    views.Page{Title: "Dashboard", LiveURL: "/live"},
			Metrics: views.Metrics{LiveConnections: 1},
			Chart: views.Chart{Range: views.DefaultChartRange(), Figures: []templ.Component{
				views.SeriesFigure(views.SeriesChart{Series: views.Series{Name: "requests/s"}, Range: views.DefaultChartRange(), End: time.Now()})}},
		}
		feed := templ.Join(views.ActivityPanel(initial), views.LiveConnector("/live"))
		if err := views.DashboardPage(d, feed).Render(r.Context(), w); err != nil {
			t.Errorf("render: %v", err)
		}
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		if err := views.ErrorPage(views.Page{Title: "Not found"}, http.StatusNotFound, "No such page.").Render(r.Context(), w); err != nil {
			t.Errorf("render: %v", err)
		}
	})
	mux.HandleFunc("/live", func(w http.ResponseWriter, r *http.Request) {
		ls.mu.Lock()
		ls.requests = append(ls.requests, liveRequest{r.Header.Get("Last-Event-ID"), time.Now()})
		attempt := len(ls.requests)
		ls.mu.Unlock()
		ls.script(sseStream{w}, r, attempt)
	})
	ls.Server = httptest.NewServer(mux)
	t.Cleanup(ls.Close)
	return ls
}

func (ls *liveServer) liveRequests() []liveRequest {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return append([]liveRequest(nil), ls.requests...)
}

// openStream answers with the headers of an SSE stream at once, as the real
// endpoint must: hx-sse gives up on a response whose headers do not come.
func openStream(s sseStream) {
	s.w.Header().Set("Content-Type", "text/event-stream")
	s.w.Header().Set("Cache-Control", "no-store")
	s.w.WriteHeader(http.StatusOK)
	s.w.(http.Flusher).Flush()
}

func fragment(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Error(err) // called from handlers: no Fatal
	}
	return b.String()
}

// browser starts headless Chromium once per test and returns a new tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required in CI: %v", err)
		}
		t.Skipf("no %s: %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser without a deadline
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(cancel)
	return tctx
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitState waits until the connection indicator shows state.
func waitState(t *testing.T, ctx context.Context, state string) {
	t.Helper()
	do(t, ctx, chromedp.WaitVisible(fmt.Sprintf(`#%s[data-state=%q]`, views.IDIndicator, state)))
}

// waitFor polls cond until it holds or the test's time runs out.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBrowserLiveDashboard(t *testing.T) {
	release := make(chan struct{})
	newest := int64(views.ActivityItems + 7)
	var ls *liveServer
	ls = newLiveServer(t, []views.Activity{{Position: 2, Text: "two"}, {Position: 1, Text: "one"}}, func(s sseStream, r *http.Request, attempt int) {
		openStream(s)
		switch attempt {
		case 1:
			s.send("data", fragment(t, views.MetricsPanel(views.Metrics{Server: true, LiveConnections: 4321}, true)))
			for pos := int64(3); pos <= newest; pos++ {
				item := views.Activity{Position: pos, Text: fmt.Sprintf("item %d", pos), At: time.Now()}
				s.send("id", fmt.Sprintf("ep-%d", pos), "data", fragment(t, views.ActivityItemFragment(item)))
			}
			// A copy of an item the page already has (a replay overlap).
			s.send("data", fragment(t, views.ActivityItemFragment(views.Activity{Position: newest - 1, Text: "again"})))
			figure := func(name string, v float64) templ.Component {
				r := views.DefaultChartRange()
				end := views.ChartEnd(time.Now(), r.Column(views.ChartOverview))
				b := views.Bucket{Start: end.Add(-r.Column(views.ChartOverview)), N: 1, Min: v, Max: v, Sum: v, Last: v}
				return views.SeriesFigure(views.SeriesChart{Series: views.Series{Name: name, Buckets: []views.Bucket{b}}, Range: r, End: end})
			}
			s.send("data", fragment(t, views.ChartPanel(views.Chart{Range: views.DefaultChartRange(), Nav: true,
				Figures: []templ.Component{figure("requests/s", 5), figure("queue depth", 2)}}, true)))
			select {
			case <-release: // end the stream: the browser must come back
			case <-r.Context().Done():
			}
		default:
			s.send("event", views.EventResync, "data", "gap")
			s.send("data", fragment(t, views.ActivityFeedFragment([]views.Activity{{Position: 100, Text: "after the gap"}})))
			<-r.Context().Done()
		}
	})
	ctx := browser(t)

	do(t, ctx, chromedp.Navigate(ls.URL+"/"))
	waitState(t, ctx, "live")
	list := "#" + views.IDActivity + " > li"
	waitFor(t, "the activity items", 10*time.Second, func() bool {
		return eval[int](t, ctx, `document.querySelectorAll('[data-series]').length`) == 2
	})

	if got := eval[string](t, ctx, `[...document.querySelectorAll('#`+views.IDMetrics+` dt')].find(d => d.textContent.trim() === 'Live connections').nextElementSibling.textContent.trim()`); got != "4,321" {
		t.Errorf("live connections after the oob swap = %q", got)
	}
	if got := eval[string](t, ctx, `document.getElementById('`+views.IDIndicator+`').textContent`); got != "Live" {
		t.Errorf("indicator text = %q", got)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('`+list+`').length`); got != views.ActivityItems {
		t.Errorf("the feed holds %d items, want %d", got, views.ActivityItems)
	}
	if got := eval[int](t, ctx, `new Set([...document.querySelectorAll('`+list+`')].map(li => li.id)).size`); got != views.ActivityItems {
		t.Errorf("the feed holds duplicate ids: %d distinct", got)
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('`+list+`')].slice(0, 2).map(li => li.id).join(' ')`); got != views.ItemID(newest)+" "+views.ItemID(newest-1) {
		t.Errorf("the feed starts with %q: a duplicate moved an item out of order", got)
	}
	if got := eval[string](t, ctx, `document.getElementById('`+views.ItemID(newest-1)+`').textContent`); strings.Contains(got, "again") {
		t.Errorf("the copy replaced the item in place: %q", got)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('#`+views.IDLive+`').length`); got != 1 {
		t.Errorf("the connector was swapped away: %d", got)
	}
	if got := eval[string](t, ctx, `document.title`); got != "Dashboard · Beacon" {
		t.Errorf("an svg <title> in a fragment changed the document title to %q", got)
	}

	close(release)
	waitState(t, ctx, "reconnecting")
	waitState(t, ctx, "live")
	waitFor(t, "the resync notice", 10*time.Second, func() bool {
		return eval[string](t, ctx, `document.getElementById('`+views.IDNotice+`').textContent`) != ""
	})
	if got := eval[string](t, ctx, `document.getElementById('`+views.IDNotice+`').textContent`); got != "Reconnected after a long gap: showing the current state." {
		t.Errorf("notice = %q", got)
	}
	if got := eval[string](t, ctx, `[...document.querySelectorAll('`+list+`')].map(li => li.id).join(' ')`); got != views.ItemID(100) {
		t.Errorf("after the feed fragment the list is %q", got)
	}
	reqs := ls.liveRequests()
	do(t, ctx, chromedp.Navigate(ls.URL+"/missing"))
	if got := eval[bool](t, ctx, `document.getElementById('`+views.IDIndicator+`').hidden`); !got {
		t.Error("a page without live content shows the connection indicator")
	}
	if len(reqs) != 2 || reqs[0].lastEventID != "" || reqs[1].lastEventID != fmt.Sprintf("ep-%d", newest) {
		t.Errorf("Last-Event-ID of the requests: %+v", reqs)
	}
}

func TestBrowserFirstConnectionFailsThenWorks(t *testing.T) {
	ls := newLiveServer(t, nil, func(s sseStream, r *http.Request, attempt int) {
		if attempt == 1 {
			http.Error(s.w, "busy", http.StatusServiceUnavailable)
			return
		}
		openStream(s)
		<-r.Context().Done()
	})
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(ls.URL+"/"))
	waitState(t, ctx, "live")
	if n := len(ls.liveRequests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestBrowserStopsWhenRefused(t *testing.T) {
	for _, tc := range []struct {
		name      string
		refuseAt  int // the first attempt that is refused
		status    int
		wantTries int
	}{
		{"reconnect signed out", 2, http.StatusUnauthorized, 2},
		{"first request for an unknown topic", 1, http.StatusNotFound, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ls := newLiveServer(t, nil, func(s sseStream, r *http.Request, attempt int) {
				if attempt >= tc.refuseAt {
					http.Error(s.w, "no", tc.status)
					return
				}
				openStream(s) // then end it: the reconnect is refused
			})
			ctx := browser(t)
			do(t, ctx, chromedp.Navigate(ls.URL+"/"))
			waitState(t, ctx, "offline")
			if got := eval[string](t, ctx, `document.getElementById('`+views.IDNotice+`').textContent`); !strings.Contains(got, fmt.Sprint(tc.status)) {
				t.Errorf("notice = %q", got)
			}
			// No retry is pending: hx-sse has dropped its connection (it
			// only does so once it has stopped reconnecting), and beacon.js
			// retries nothing once it has shown the refusal checked above.
			if eval[bool](t, ctx, `!!document.getElementById('`+views.IDLive+`')._htmx?.sse`) {
				t.Errorf("hx-sse still holds a connection after a %d: it would retry", tc.status)
			}
			if n := len(ls.liveRequests()); n != tc.wantTries {
				t.Errorf("%d requests after a %d, want %d (no retry)", n, tc.status, tc.wantTries)
			}
		})
	}
}

func TestBrowserReconnectsAtOnceWhenVisibleOrOnline(t *testing.T) {
	endFirst := make(chan struct{})    // closed by the test once the page is live
	secondEnded := make(chan struct{}) // closed when the hidden tab has dropped its stream
	ls := newLiveServer(t, nil, func(s sseStream, r *http.Request, attempt int) {
		openStream(s)
		// A long retry hint (as at shutdown): without beacon.js the browser
		// would wait about 20 s before each reconnect.
		s.send("retry", "20000", "event", "hello", "data", "x")
		switch attempt {
		case 1:
			<-endFirst
			return
		case 2:
			<-r.Context().Done()
			close(secondEnded)
			return
		}
		<-r.Context().Done()
	})
	ctx := browser(t)
	do(t, ctx, chromedp.Navigate(ls.URL+"/"))
	waitState(t, ctx, "live")
	close(endFirst)
	waitState(t, ctx, "reconnecting")

	eval[chromedp.Void](t, ctx, `window.dispatchEvent(new Event('online'))`)
	waitFor(t, "a reconnect after the online event", 5*time.Second, func() bool { return len(ls.liveRequests()) == 2 })
	waitState(t, ctx, "live")

	// Hide the tab (hx-sse closes the stream), then show it again.
	eval[chromedp.Void](t, ctx, `Object.defineProperty(document, 'hidden', {configurable: true, get: () => !!window.testHidden});
		window.testHidden = true; document.dispatchEvent(new Event('visibilitychange'))`)
	select {
	case <-secondEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the hidden tab did not drop its stream")
	}
	eval[chromedp.Void](t, ctx, `window.testHidden = false; document.dispatchEvent(new Event('visibilitychange'))`)
	waitFor(t, "a reconnect when the tab is visible again", 5*time.Second, func() bool { return len(ls.liveRequests()) == 3 })
	waitState(t, ctx, "live")
}

// TestBrowserConnectsWhicheverScriptArrivesLast guards the order in which the
// scripts run: with defer, htmx 4 starts before a late hx-sse (and the page
// never connects) or before a late beacon.js (and the indicator stays put).
func TestBrowserConnectsWhicheverScriptArrivesLast(t *testing.T) {
	for _, file := range []string{"htmx.min.js", "hx-sse.min.js", "beacon.js"} {
		t.Run(file, func(t *testing.T) {
			ls := newLiveServer(t, nil, func(s sseStream, r *http.Request, attempt int) {
				openStream(s)
				<-r.Context().Done()
			})
			ls.mu.Lock()
			ls.slowFile = file
			ls.mu.Unlock()
			ctx := browser(t)
			do(t, ctx, chromedp.Navigate(ls.URL+"/"))
			waitState(t, ctx, "live")
			if n := len(ls.liveRequests()); n != 1 {
				t.Errorf("%d SSE requests, want 1", n)
			}
		})
	}
}
