package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/views"
)

// TestClassifyStoreErrors: every sentinel the store returns has a status,
// and the reason the store wrote for people reaches them; nothing known
// becomes a bare 500.
func TestClassifyStoreErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"invalid", fmt.Errorf("%w: a message needs a room, a user and content", db.ErrInvalid),
			http.StatusBadRequest, "a message needs a room, a user and content"},
		{"invalid, wrapped again", fmt.Errorf("post: %w", fmt.Errorf("%w: limit 0 is not positive", db.ErrInvalid)),
			http.StatusBadRequest, "limit 0 is not positive"},
		{"exists", fmt.Errorf("%w: name \"ann\" is taken", db.ErrExists),
			http.StatusConflict, `name "ann" is taken`},
		{"bare invalid", db.ErrInvalid, http.StatusBadRequest, "invalid input"},
		{"not found", db.ErrNotFound, http.StatusNotFound, "not found"},
		{"unknown", errors.New("db: something internal"), http.StatusInternalServerError, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := classify(tt.err)
			if status != tt.status || body.Error != tt.body {
				t.Errorf("classify(%q) = %d %q, want %d %q", tt.err, status, body.Error, tt.status, tt.body)
			}
		})
	}
}

// TestStoreAndViewsSpellTopicsAlike: package db spells the names of the log
// topics it writes once more (it may not import views); they must be the
// names pages subscribe to.
func TestStoreAndViewsSpellTopicsAlike(t *testing.T) {
	_, store := newTestServer(t)
	ctx := t.Context()
	a, err := store.AddActivity(ctx, "x", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	events, _, err := store.EventsAfter(ctx, []string{views.TopicActivity}, a.Position-1, 1)
	if err != nil || len(events) != 1 {
		t.Errorf("the activity event is not on topic %q: %v %v", views.TopicActivity, events, err)
	}
	if got, want := db.TopicRoom("lobby"), views.TopicRoom("lobby"); got != want {
		t.Errorf("db.TopicRoom = %q, views.TopicRoom = %q", got, want)
	}
	if got, want := db.TopicUser(7), views.TopicUser(7); got != want {
		t.Errorf("db.TopicUser = %q, views.TopicUser = %q", got, want)
	}
}

// TestDiskFullAnswers503: a write that finds the disk full is answered 503
// with the reason, and /healthz says the same until a write goes through
// again, which happens by itself once there is room.
func TestDiskFullAnswers503(t *testing.T) {
	var limit atomic.Int64
	limit.Store(1 << 30)
	s, _ := newTestServerWith(t, db.Options{PageLimit: func() int { return int(limit.Load()) }})
	if w := do(s, "GET", "/healthz", "", "", ""); w.Code != http.StatusOK {
		t.Fatalf("healthz before: %d %s", w.Code, w.Body)
	}
	// SQLite keeps max_page_count at least the file's size: 1 means no
	// page more than there is.
	limit.Store(1)
	body := `{"text":"` + strings.Repeat("x", 500) + `"}`
	var w *httptest.ResponseRecorder
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("100 activities fit in a full disk")
		}
		if w = do(s, "POST", "/api/activity", ctJSON, body, ""); w.Code != http.StatusCreated {
			break
		}
	}
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"error":"database full; try again later"`) {
		t.Fatalf("a write to a full disk: %d %s, want 503 saying the database is full", w.Code, w.Body)
	}
	if w := do(s, "GET", "/healthz", "", "", ""); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"error":"database full"`) {
		t.Fatalf("healthz with a full disk: %d %s, want 503 saying the database is full", w.Code, w.Body)
	}

	limit.Store(1 << 30) // room again
	if w := do(s, "POST", "/api/activity", ctJSON, body, ""); w.Code != http.StatusCreated {
		t.Fatalf("a write once there is room: %d %s", w.Code, w.Body)
	}
	if w := do(s, "GET", "/healthz", "", "", ""); w.Code != http.StatusOK {
		t.Fatalf("healthz after a write went through: %d %s", w.Code, w.Body)
	}
}
