package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// countedFeed is the store's feed, counting its reads.
type countedFeed struct {
	store *db.Store
	reads atomic.Int64
}

func (f *countedFeed) RecentActivities(ctx context.Context, limit int) ([]db.Activity, int64, error) {
	f.reads.Add(1)
	return f.store.RecentActivities(ctx, limit)
}

// countingWriter counts the writes and flushes a handler makes.
type countingWriter struct {
	http.ResponseWriter
	writes, flushes *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	return w.ResponseWriter.Write(p)
}
func (w countingWriter) Flush()                      { w.flushes.Add(1); w.ResponseWriter.(http.Flusher).Flush() }
func (w countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestDashboardRendersTheFeedOncePerPosition: while the log has not moved,
// pages copy the activity panel rendered for the first of them and go out
// in one write, with their length; an event makes the next page read the
// feed again, and the ones after copy that.
func TestDashboardRendersTheFeedOncePerPosition(t *testing.T) {
	s, store := newTestServer(t)
	_, head, err := store.Horizon(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Hub.SetHead(head)
	feed := &countedFeed{store: store}
	var writes, flushes atomic.Int64
	e := echo.New()
	e.GET("/", handleDashboard(s.Board, feed, s.Store, s.Rooms, s.Streams, s.Hub.Epoch()), func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Writer = countingWriter{c.Response().Writer, &writes, &flushes}
			return next(c)
		}
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	get := func() (*http.Response, string) {
		t.Helper()
		writes.Store(0)
		flushes.Store(0)
		resp, err := srv.Client().Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %d, %v", resp.StatusCode, err)
		}
		return resp, string(body)
	}
	after := func(pos int64) string { return "after=" + live.FormatID(s.Hub.Epoch(), pos) }

	_, first := get()
	if feed.reads.Load() != 1 || flushes.Load() < 2 {
		t.Fatalf("first page: %d feed reads, %d flushes; want the feed read and the page streamed", feed.reads.Load(), flushes.Load())
	}
	resp, second := get()
	if n := feed.reads.Load(); n != 1 {
		t.Fatalf("the second page read the feed again (%d reads) though the log did not move", n)
	}
	if writes.Load() != 1 || flushes.Load() != 0 || resp.ContentLength != int64(len(second)) {
		t.Errorf("second page: %d writes, %d flushes, length %d of %d; want one write with its length",
			writes.Load(), flushes.Load(), resp.ContentLength, len(second))
	}
	for _, page := range []string{first, second} {
		if !strings.Contains(page, `id="`+views.IDActivity+`"`) || !strings.Contains(page, after(head)) ||
			!strings.Contains(page, `id="`+views.IDMetrics+`"`) || !strings.HasSuffix(strings.TrimSpace(page), "</html>") {
			t.Fatalf("a page lacks its feed, its live connection after %d, its metrics or its end:\n%s", head, page)
		}
	}

	a, err := store.AddActivity(t.Context(), "deploy finished", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The store publishes what it commits before AddActivity returns.
	_, third := get()
	if n := feed.reads.Load(); n != 2 {
		t.Fatalf("after an event the page read the feed %d times in all, want 2", n)
	}
	_, fourth := get()
	if n := feed.reads.Load(); n != 2 {
		t.Fatalf("the page after that read the feed again (%d reads)", n)
	}
	for _, page := range []string{third, fourth} {
		if !strings.Contains(page, "deploy finished") || !strings.Contains(page, after(a.Position)) {
			t.Fatalf("a page after the event lacks it, or its live connection after %d:\n%s", a.Position, page)
		}
	}
}

// TestBoardKeepsPagePanels: every publish also renders the metrics panel
// as pages show it (not out of band), for pages to copy: everyone's, and
// the admins' with the server's figures. (The charts keep theirs:
// TestBoardKeepsChartPagePanels.)
func TestBoardKeepsPagePanels(t *testing.T) {
	s, _ := newTestServer(t)
	for _, server := range []bool{false, true} {
		if m := s.Board.MetricsPage(server); m != nil {
			t.Fatal("panels before the first publish")
		}
	}
	s.Board.publish(time.Now(), true)
	for _, server := range []bool{false, true} {
		p := s.Board.MetricsPage(server)
		if !strings.Contains(string(p), `id="`+views.IDMetrics+`"`) || strings.Contains(string(p), "hx-swap-oob") {
			t.Errorf("the page's metrics panel (server figures %v) is %q", server, p)
		}
	}
	if bytes.Equal(s.Board.MetricsPage(false), s.Board.MetricsPage(true)) {
		t.Error("the admins' metrics panel is everyone's: it lacks the server's figures")
	}
}
