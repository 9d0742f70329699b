package handlers

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// countingReader is a request body that counts what the server read of it.
type countingReader struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// endless is an unending form field: name=aaaa…
type endless struct{ started bool }

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	if !e.started {
		e.started = true
		n = copy(p, "name=")
	}
	for i := n; i < len(p); i++ {
		p[i] = 'a'
	}
	return len(p), nil
}

// TestBodyLimit: every route refuses a body over 64 KiB with 413, and a
// multipart body with 415, before anything parses it (the CSRF check of
// a form POST included), reading no more than the limit; a body under the
// limit still reaches its handler.
func TestBodyLimit(t *testing.T) {
	s, _ := newTestServer(t)
	tests := []struct {
		name, method, path, contentType string
		length                          int64 // the declared length; -1: chunked, none declared
		status                          int
		field                           string
	}{
		{"a 40 MB form to /login", "POST", "/login", ctForm, 40 << 20, 413, "body"},
		{"an endless chunked form to /login", "POST", "/login", ctForm, -1, 413, "body"},
		{"an endless chunked form to /signup", "POST", "/signup", ctForm, -1, 413, "body"},
		{"an endless chunked form to a widget", "POST", "/embed/rooms/lobby/messages", ctForm, -1, 413, "body"},
		{"an endless chunked JSON body to the API", "POST", "/api/activity", ctJSON, -1, 413, "body"},
		{"multipart to /login", "POST", "/login", "multipart/form-data; boundary=x", -1, 415, "Content-Type"},
		{"multipart to the API", "POST", "/api/metrics", "multipart/form-data; boundary=x", 100, 415, "Content-Type"},
		{"a body with a GET", "GET", "/", ctForm, -1, 413, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &countingReader{r: &endless{}}
			r := httptest.NewRequest(tt.method, tt.path, nil)
			r.Body, r.ContentLength = io.NopCloser(body), tt.length
			r.Header.Set("Content-Type", tt.contentType)
			r.Header.Set("Accept", "application/json")
			if strings.HasPrefix(tt.path, "/api/") {
				r.Header.Set("Authorization", "Bearer "+testToken)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			var got errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != tt.status || err != nil || got.Field != tt.field || got.Error == "" {
				t.Fatalf("got %d %s, want %d with an error naming %q", w.Code, w.Body, tt.status, tt.field)
			}
			if n := body.read.Load(); n > maxBody+64<<10 {
				t.Fatalf("the server read %d bytes of the body before refusing it; want at most %d", n, maxBody)
			}
		})
	}

	// Under the limit, the form reaches /login's CSRF check and the JSON
	// the API's decoder, as before.
	w := do(s, "POST", "/login", ctForm, "name="+strings.Repeat("a", maxBody-100), "")
	if w.Code != http.StatusForbidden {
		t.Fatalf("a form under the limit: got %d, want the CSRF check's 403: %s", w.Code, w.Body)
	}
	w = do(s, "POST", "/api/activity", ctJSON, `{"text":"`+strings.Repeat("a", maxBody-100)+`"}`, "")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `"field":"text"`) {
		t.Fatalf("JSON under the limit: got %d %s, want 400 about text", w.Code, w.Body)
	}
}
