package handlers

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// lockedBuffer is a log sink the server writes from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A room visit over a WebSocket lasts as long as the visit: it is not a
// request, so it must not reach the request figures (a 20 s visit made the
// dashboard's p95 read 21,544 ms), the request metrics or the access log.
// Ordinary requests reach all three, and a refused one logs why.
func TestRequestFiguresLeaveOutSockets(t *testing.T) {
	base, _ := newTestServer(t)
	logs := &lockedBuffer{}
	reg := prometheus.NewRegistry()
	d := base.Deps
	d.Logger = slog.New(slog.NewTextHandler(logs, nil))
	d.Registry = reg
	d.Accounts.Guests = true
	// The socket's handler returns after the client closes it; this tells
	// the test when it has (the request figures are taken on the way out).
	socketDone := make(chan struct{})
	h := NewServer(d)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/ws") {
			close(socketDone)
		}
	}))
	defer srv.Close()

	get := func(path string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	get("/healthz")
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/rooms/lobby/ws?name=bot",
		http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.ReadMessage(); err != nil { // the welcome: the socket is up
		t.Fatal(err)
	}
	get("/api/rooms/lobby/messages")
	get("/api/rooms/lobby/messages")
	ws.Close()
	select {
	case <-socketDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the socket's handler did not return after the client closed it")
	}
	res, err := http.Post(srv.URL+"/api/activity", "application/json", strings.NewReader(`{"text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("activity without a token: %d, want 401", res.StatusCode)
	}

	// Four requests; the socket is not one.
	if n, _, _ := d.Board.Requests().Over(time.Now().Add(time.Second), 60); n != 4 { // whole seconds before now's
		t.Errorf("the dashboard counted %d requests, want 4 (the socket is not a request)", n)
	}

	counts := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "beacon_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			counts[label(m, "route")+" "+label(m, "status")] += m.GetCounter().GetValue()
		}
	}
	wantCounts := map[string]float64{
		"/healthz 2xx": 1, "/api/rooms/:room/messages 2xx": 2, "/api/activity 4xx": 1,
	}
	if len(counts) != len(wantCounts) {
		t.Errorf("request metrics %v, want %v", counts, wantCounts)
	}
	for k, v := range wantCounts {
		if counts[k] != v {
			t.Errorf("beacon_http_requests_total{%s} = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}

	log := logs.String()
	if strings.Contains(log, "route=/rooms/:room/ws") {
		t.Errorf("the socket was logged as a request:\n%s", log)
	}
	for _, line := range []string{
		`msg=request method=GET route=/healthz status=200`,
		`msg=request method=POST route=/api/activity status=401`,
	} {
		if !strings.Contains(log, line) {
			t.Errorf("no access log line %q in:\n%s", line, log)
		}
	}
	if !strings.Contains(log, `reason="Authorization: send an API token`) {
		t.Errorf("the refused API call does not say why in the log:\n%s", log)
	}
	if !strings.Contains(log, "client=127.0.0.1") {
		t.Errorf("access log lines do not name the client:\n%s", log)
	}
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
