package handlers

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/rooms"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newTestServer wires a Server to a real database file, as cmd/beacon does.
func newTestServer(t *testing.T) (*Server, *db.Store) {
	t.Helper()
	return newTestServerWith(t, db.Options{})
}

// newTestServerWith is newTestServer with the database's options.
func newTestServerWith(t *testing.T, opts db.Options) (*Server, *db.Store) {
	t.Helper()
	return newTestServerOf(t, opts, nil)
}

// newTestServerOf is newTestServer with the database's options and the
// hub's metrics (nil: none registered).
func newTestServerOf(t *testing.T, opts db.Options, metrics *live.Metrics) (*Server, *db.Store) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pub := &Publisher{Log: log}
	opts.OnCommit = pub.Committed
	store, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	hub := live.NewHub(live.HubConfig{Classify: Classify, Epoch: store.Epoch(), Metrics: metrics})
	board := NewBoard(hub, time.Second, log)
	pub.Hub, pub.Board = hub, board
	src := NewSource(store.Epoch(), store, log)
	reg := rooms.NewRegistry(rooms.Config{}, &RoomOutput{Hub: hub, Log: log})
	t.Cleanup(func() {
		reg.Close()
		hub.Close()
		store.Close()
	})
	if _, err := store.CreateToken(context.Background(), 0, "tests", testToken, auth.AllScopes); err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Deps{
		Store: store, Hub: hub, SSE: live.NewSSE(hub, src, live.SSEConfig{}), WS: live.NewWS(hub, src, live.WSConfig{}),
		Rooms: reg, Board: board, Logger: log, Metrics: http.NotFoundHandler(),
		Secret: testSecret, Streams: live.NewStreams(hub, live.StreamConfig{}),
		Access: Access{PublicDashboard: true}, // these tests read the dashboard signed out
	})
	pub.OnSessionEnded(srv.EndSession)
	pub.OnWidgetRevoked(srv.EndWidget)
	pub.OnTokenRevoked(srv.EndToken)
	return srv, store
}

// testToken is a server token with every scope that newTestServer stores
// and do sends to /api/.
const testToken = "bcn_handlers-test-token-0123456789"

func do(s http.Handler, method, path, contentType, body, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if strings.HasPrefix(path, "/api/") {
		r.Header.Set("Authorization", "Bearer "+testToken)
	}
	r.RemoteAddr = "127.0.0.1:40000"
	if remote != "" {
		r.RemoteAddr = remote
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestIngestBadInputChangesNothing(t *testing.T) {
	s, store := newTestServer(t)
	tests := []struct {
		name, path, ct, body, remote string
		status                       int
		field                        string
	}{
		{"missing text", "/api/activity", ctJSON, `{}`, "", 400, "text"},
		{"javascript link", "/api/activity", ctForm, "text=x&link=javascript:alert(1)", "", 400, "link"},
		{"malformed JSON", "/api/activity", ctJSON, `{"text":`, "", 400, "body"},
		{"oversized", "/api/activity", ctForm, "text=" + strings.Repeat("a", maxBody), "", 413, "body"},
		{"wrong media type", "/api/activity", "text/plain", "hello", "", 415, "Content-Type"},
		{"metric without value", "/api/metrics", ctForm, "name=x", "", 400, "value"},
		{"metric with bad name", "/api/metrics", ctForm, "name=%3Cb%3E&value=1", "", 400, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(s, "POST", tt.path, tt.ct, tt.body, tt.remote)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Field != tt.field || body.Error == "" {
				t.Fatalf("body %s, want a JSON error naming %q", w.Body, tt.field)
			}
		})
	}
	events, _, err := store.EventsAfter(context.Background(), []string{"activity"}, 0, 10)
	if err != nil || len(events) != 0 {
		t.Fatalf("bad input stored events: %v %v", events, err)
	}
	if latest, err := store.LatestSamples(context.Background()); err != nil || len(latest) != 0 {
		t.Fatalf("bad input stored samples: %v %v", latest, err)
	}
}

func TestIngestStoresAndAnswers(t *testing.T) {
	s, store := newTestServer(t)
	w := do(s, "POST", "/api/activity", ctJSON, `{"text":"Deployed","link":"https://example.com"}`, "")
	if w.Code != http.StatusCreated {
		t.Fatalf("activity: %d %s", w.Code, w.Body)
	}
	var a db.Activity
	if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || a.Position == 0 || a.Text != "Deployed" {
		t.Fatalf("activity answer %s", w.Body)
	}
	events, _, err := store.EventsAfter(context.Background(), []string{"activity"}, 0, 10)
	if err != nil || len(events) != 1 || events[0].Position != a.Position {
		t.Fatalf("stored events %v %v, want the one answered", events, err)
	}

	w = do(s, "POST", "/api/metrics", ctForm, "name=queue&value=3&unit=jobs", "")
	if w.Code != http.StatusCreated || !strings.Contains(w.Body.String(), `"name":"queue"`) {
		t.Fatalf("metric: %d %s", w.Code, w.Body)
	}
	if m := s.Board.Metrics(); len(m.Custom) != 1 || m.Custom[0].Name != "queue" || m.Custom[0].Value != 3 {
		t.Fatalf("board custom metrics %+v", m.Custom)
	}
}

func TestTooManyMetricNames(t *testing.T) {
	s, _ := newTestServer(t)
	for i := range maxCustomMetrics {
		if w := do(s, "POST", "/api/metrics", ctJSON, `{"name":"m`+string(rune('A'+i%26))+string(rune('a'+i/26))+`","value":1}`, ""); w.Code != 201 {
			t.Fatalf("metric %d: %d %s", i, w.Code, w.Body)
		}
	}
	w := do(s, "POST", "/api/metrics", ctJSON, `{"name":"one too many","value":1}`, "")
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"field":"name"`) {
		t.Fatalf("metric past the limit: %d %s", w.Code, w.Body)
	}
	if w := do(s, "POST", "/api/metrics", ctJSON, `{"name":"mAa","value":2}`, ""); w.Code != 201 {
		t.Fatalf("a known name past the limit: %d %s", w.Code, w.Body)
	}
}

func TestPagesSendSecurityHeaders(t *testing.T) {
	s, _ := newTestServer(t)
	w := do(s, "GET", "/", "", "", "")
	if w.Code != 200 {
		t.Fatalf("GET /: %d", w.Code)
	}
	h := w.Header()
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers %v", h)
	}
	w = do(s, "GET", "/nope", "", "", "")
	if w.Code != 404 || !strings.Contains(w.Body.String(), "<html") {
		t.Errorf("unknown page: %d %s", w.Code, w.Body)
	}
}

// TestSnapshotRendersARoomAtItsPosition: a room viewer that cannot be
// replayed (another epoch, or older than retention) gets the room's last
// messages re-rendered, and the position they were read at, so the live
// stream goes on from exactly there.
func TestSnapshotRendersARoomAtItsPosition(t *testing.T) {
	_, store := newTestServer(t)
	ctx := context.Background()
	for _, text := range []string{"first", "second"} {
		if _, err := store.AddMessage(ctx, "lobby", "ann", text, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.AddMessage(ctx, "other", "bob", "elsewhere", time.Time{}); err != nil {
		t.Fatal(err)
	}
	frames, at, err := NewSource(store.Epoch(), store, slog.New(slog.DiscardHandler)).Snapshot(ctx, []string{"room:lobby", "presence:lobby"})
	if err != nil {
		t.Fatal(err)
	}
	if at != 3 || len(frames) != 1 {
		t.Fatalf("snapshot of %d frames at %d, want 1 frame at the head, 3", len(frames), at)
	}
	html := string(frames[0].Data)
	for _, want := range []string{`id="messages"`, `hx-swap-oob="true"`, `id="msg-1"`, `id="msg-2"`, "first", "second"} {
		if !strings.Contains(html, want) {
			t.Errorf("snapshot lacks %q: %s", want, html)
		}
	}
	if strings.Contains(html, "elsewhere") {
		t.Errorf("snapshot of lobby shows another room's message: %s", html)
	}
}

// TestSessionCookieSecureBehindProxy: the session cookie is Secure when the
// browser's connection is TLS, also when a trusted proxy ended the TLS and
// says so; an untrusted X-Forwarded-Proto changes nothing.
func TestSessionCookieSecureBehindProxy(t *testing.T) {
	for _, tt := range []struct {
		name, proxyHeader, proto string
		secure                   bool
	}{
		{"plain HTTP", "", "", false},
		{"untrusted header", "", "https", false},
		{"trusted proxy over TLS", "X-Forwarded-For", "https", true},
		{"trusted proxy over HTTP", "X-Forwarded-For", "http", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t)
			s.Limits.ProxyHeader = tt.proxyHeader
			s = NewServer(s.Deps)
			r := httptest.NewRequest("GET", "/signup", nil)
			if tt.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			cookies := w.Result().Cookies()
			if len(cookies) == 0 {
				t.Fatal("GET /signup set no cookie")
			}
			for _, ck := range cookies {
				if ck.Secure != tt.secure {
					t.Errorf("cookie %s Secure = %v, want %v", ck.Name, ck.Secure, tt.secure)
				}
			}
		})
	}
}
