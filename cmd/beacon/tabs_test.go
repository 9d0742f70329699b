package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beacon-live/beacon/views"
)

// TestSharedLiveConnection is the server's side of the connection a
// browser's tabs share (?shared=1, static/tabs.js): it carries more topics
// than a page's own, every event names its topic, a topic the viewer may
// not read is dropped and listed in a header instead of refusing the rest,
// and signing out ends it.
func TestSharedLiveConnection(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--dashboard", "members")
	ann := signUp(t, in.URL, "ann") // the admin
	bob := signUp(t, in.URL, "bob")
	shared := func(topics ...string) string {
		return liveURL(in.URL, strings.Join(topics, ","), views.QueryShared, "1")
	}
	open := func(a *account, u string) *sseStream {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		st, err := dialSSE(ctx, a.C, u, "")
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close(); cancel() })
		return st
	}

	// bob's tabs show the feed, his bell, a room, and a stale page of
	// ann's (her bell, her server panel): those two are dropped, by name.
	st := open(bob, shared(views.TopicActivity, views.TopicUser(bob.ID), views.TopicRoom("ops"),
		views.TopicUser(ann.ID), views.TopicServerMetrics))
	wantRefused := fmt.Sprintf("403 %s, 403 %s", url.PathEscape(views.TopicUser(ann.ID)), views.TopicServerMetrics)
	if got := st.Resp.Header.Get(views.HeaderRefusedTopics); got != wantRefused {
		t.Errorf("%s = %q, want %q", views.HeaderRefusedTopics, got, wantRefused)
	}
	if b, err := st.Next(); err != nil || !isPositionBlock(b) || b.Topic != "" {
		t.Fatalf("first block %+v %v, want the position, naming no topic", b, err)
	}
	if _, err := postActivity(http.DefaultClient, in.URL, "deployed"); err != nil {
		t.Fatal(err)
	}
	notify(t, in.URL, "ann", "for ann only")
	notify(t, in.URL, "bob", "for bob")
	for _, want := range []string{views.TopicActivity, views.TopicUser(bob.ID)} {
		b, err := st.NextEvent()
		if err != nil {
			t.Fatalf("waiting for a frame of %s: %v", want, err)
		}
		if b.Topic != want || !b.HasID {
			t.Fatalf("got a frame of topic %q (id %q): %.200s; want one of %s", b.Topic, b.ID, b.Data, want)
		}
		if strings.Contains(b.Data, "for ann only") {
			t.Fatalf("bob's shared stream carried ann's notification")
		}
	}

	// A page's own connection still refuses the list as a whole, and names
	// no topic in its events.
	if resp, body := peek(t, bob.C, liveURL(in.URL, views.TopicActivity+","+views.TopicUser(ann.ID))); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a page's own connection with another's topic: %s %s, want 403", resp.Status, body)
	}
	plain := open(bob, liveURL(in.URL, views.TopicActivity))
	if _, err := postActivity(http.DefaultClient, in.URL, "again"); err != nil {
		t.Fatal(err)
	}
	if b, err := plain.NextEvent(); err != nil || b.Topic != "" || !strings.Contains(b.Data, "again") {
		t.Errorf("a page's own connection: %+v %v, want the frame without a topic", b, err)
	}

	// Nothing left to carry: refused with the first topic's status, and
	// the header still says which and why.
	anon := newJar(t)
	resp, body := peek(t, anon, shared(views.TopicActivity, views.TopicUser(ann.ID)))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out, every topic refused: %s %s, want 401", resp.Status, body)
	}
	if got, want := resp.Header.Get(views.HeaderRefusedTopics), "401 activity, 403 "+url.PathEscape(views.TopicUser(ann.ID)); got != want {
		t.Errorf("signed out: %s = %q, want %q", views.HeaderRefusedTopics, got, want)
	}

	// Up to views.SharedTopics topics; one more is refused by count.
	rooms := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = views.TopicRoom(fmt.Sprintf("room-%02d", i))
		}
		return out
	}
	if resp, body := peek(t, bob.C, shared(rooms(views.SharedTopics)...)); resp.StatusCode != http.StatusOK {
		t.Errorf("%d topics on a shared connection: %s %s, want 200", views.SharedTopics, resp.Status, body)
	}
	if resp, body := peek(t, bob.C, shared(rooms(views.SharedTopics+1)...)); resp.StatusCode != http.StatusBadRequest ||
		!strings.Contains(body, fmt.Sprint(views.SharedTopics)) {
		t.Errorf("%d topics on a shared connection: %s %s, want 400 naming the limit", views.SharedTopics+1, resp.Status, body)
	}
	if resp, _ := peek(t, bob.C, liveURL(in.URL, strings.Join(rooms(17), ","))); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("17 topics on a page's own connection: %s, want 400", resp.Status)
	}

	// Signing out ends the shared stream, as it ends a page's.
	resp, _ = postForm(t, bob.C, in.URL+"/logout", url.Values{"_csrf": {bob.CSRF}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %s", resp.Status)
	}
	for {
		if _, err := st.Next(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("bob's shared stream ended with %v after he signed out, want its end", err)
			}
			break
		}
	}
}
