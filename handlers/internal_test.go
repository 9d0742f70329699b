package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestInternalRoutesLoopbackOnly: on the main listener, /metrics and
// /healthz answer this machine only, judged by the socket's address and
// never by a forwarding header; with a listener of their own
// (InternalListener) the main one does not serve them at all, and
// NewInternal does, to anyone who reaches it.
func TestInternalRoutesLoopbackOnly(t *testing.T) {
	s, store := newTestServer(t)
	s.Limits.ProxyHeader = "X-Forwarded-For"
	s.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("# metrics\n")) })
	s = NewServer(s.Deps)
	for _, path := range []string{"/healthz", "/metrics"} {
		for _, tt := range []struct {
			remote, forwarded string
			status            int
		}{
			{"127.0.0.1:40000", "", 200},
			{"[::1]:40000", "", 200},
			{"192.0.2.1:40000", "", 403},
			{"192.0.2.1:40000", "127.0.0.1", 403},
			{"[2001:db8::1]:40000", "", 403},
			{"[::ffff:127.0.0.1]:40000", "", 200},
		} {
			r := httptest.NewRequest("GET", path, nil)
			r.RemoteAddr = tt.remote
			if tt.forwarded != "" {
				r.Header.Set("X-Forwarded-For", tt.forwarded)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Errorf("GET %s from %s (forwarded for %q): %d, want %d", path, tt.remote, tt.forwarded, w.Code, tt.status)
			}
			if w.Code == 403 && !strings.Contains(w.Body.String(), "--metrics-addr") {
				t.Errorf("GET %s from %s: refused without saying how to reach it: %s", path, tt.remote, w.Body)
			}
		}
	}

	d := s.Deps
	d.InternalListener = true
	main, internal := NewServer(d), NewInternal(store, nil, d.Metrics, d.Logger)
	for _, path := range []string{"/healthz", "/metrics"} {
		if w := do(main, "GET", path, "", "", ""); w.Code != http.StatusNotFound {
			t.Errorf("GET %s on the main listener with a metrics listener: %d, want 404", path, w.Code)
		}
	}
	if w := do(internal, "GET", "/healthz", "", "", "192.0.2.1:40000"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"ok"`) {
		t.Errorf("GET /healthz on the metrics listener: %d %s", w.Code, w.Body)
	}
	if w := do(internal, "GET", "/metrics", "", "", "192.0.2.1:40000"); w.Code != http.StatusOK || w.Body.String() != "# metrics\n" {
		t.Errorf("GET /metrics on the metrics listener: %d %s", w.Code, w.Body)
	}
	if w := do(internal, "GET", "/", "", "", ""); w.Code != http.StatusNotFound {
		t.Errorf("GET / on the metrics listener: %d, want 404", w.Code)
	}
}

// TestStaticListsNoDirectory: the embedded files are served, their
// directories are not listed.
func TestStaticListsNoDirectory(t *testing.T) {
	s, _ := newTestServer(t)
	for path, status := range map[string]int{
		"/static/beacon.js":            200,
		"/static/vendor/htmx.min.js":   200,
		"/static/":                     404,
		"/static/vendor/":              404,
		"/static/vendor":               404,
		"/static/vendor/../":           404,
		"/static/nothing.js":           404,
		"/static/vendor/htmx.min.js/x": 404,
	} {
		w := do(s, "GET", path, "", "", "")
		if w.Code != status {
			t.Errorf("GET %s: %d, want %d: %.200s", path, w.Code, status, w.Body)
		}
		if strings.Contains(w.Body.String(), "htmx.min.js\"") || strings.Contains(w.Body.String(), "<pre>") {
			t.Errorf("GET %s lists a directory: %.200s", path, w.Body)
		}
	}
}
