package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

var testSecret = bytes.Repeat([]byte("s"), 32)

// slowFeed is the real store's feed made slow on purpose: it says when it
// has been asked, then holds its answer until released.
type slowFeed struct {
	store   *db.Store
	entered chan struct{}
	release chan struct{}
}

func (f slowFeed) RecentActivities(ctx context.Context, limit int) ([]db.Activity, int64, error) {
	close(f.entered)
	<-f.release
	return f.store.RecentActivities(ctx, limit)
}

// TestDashboardFirstByteBeforeSlowestPanel holds the dashboard's slowest
// panel (the activity feed, read from the database) until the browser side
// has received the page's shell and the panels that come from memory: the
// first bytes must not wait for it.
func TestDashboardFirstByteBeforeSlowestPanel(t *testing.T) {
	s, store := newTestServer(t)
	feed := slowFeed{store: store, entered: make(chan struct{}), release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(feed.release)
		}
	}
	defer release()
	e := echo.New()
	e.GET("/", handleDashboard(s.Board, feed, s.Store, s.Rooms, s.Streams, s.Hub.Epoch()))
	srv := httptest.NewServer(e)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-feed.entered // the slow panel is being rendered, and stays so until release

	// Read until the panels from memory are in; the feed cannot be.
	var got []byte
	buf := make([]byte, 32<<10)
	for !bytes.Contains(got, []byte(`id="`+views.IDRooms+`"`)) || !bytes.Contains(got, []byte("</form>")) {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("the page ended (%v) before its first part arrived: %q", err, got)
		}
	}
	page := string(got)
	for _, want := range []string{"<title>Dashboard · Beacon</title>", `id="` + views.IDMetrics + `"`, `id="` + views.IDChart + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("first part lacks %s", want)
		}
	}
	if strings.Contains(page, `id="`+views.IDActivity+`"`) {
		t.Fatalf("the activity feed arrived although its panel is still held")
	}
	if h := resp.Header; h.Get("X-Accel-Buffering") != "no" || h.Get("Content-Encoding") != "identity" {
		t.Errorf("headers %v: want X-Accel-Buffering no and Content-Encoding identity", h)
	}

	release()
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rest), `id="`+views.IDActivity+`"`) || !strings.HasSuffix(strings.TrimSpace(string(rest)), "</html>") {
		t.Errorf("after the release the rest of the page lacks the feed or the end: %q", rest)
	}
}
