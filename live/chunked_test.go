package live

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// streamFixture serves one StreamPage per request whose parts write one
// line each, so the test can read what was written when.
func streamFixture(t *testing.T, hcfg HubConfig, cfg StreamConfig, lifetime time.Duration) (*Hub, *Streams, *httptest.Server) {
	t.Helper()
	hcfg.Classify = classifyTest
	hub := NewHub(hcfg)
	st := NewStreams(hub, cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st.Serve(w, r, StreamPage{ //nolint:errcheck // the client sees how it ended
			Topics:   []string{"s"},
			Lifetime: lifetime,
			Start: func(_ context.Context, w io.Writer) error {
				_, err := io.WriteString(w, "start\n")
				return err
			},
			Update: func(_ context.Context, w io.Writer, frames []Frame) error {
				_, err := fmt.Fprintf(w, "update %s\n", frames[len(frames)-1].Data)
				return err
			},
			End: func(w io.Writer, reload time.Duration) error {
				_, err := fmt.Fprintf(w, "end %d\n", reload.Milliseconds())
				return err
			},
		})
	}))
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return hub, st, srv
}

// readLine returns the next line of the stream that is not a heartbeat, and
// how many heartbeats came before it.
func readLine(t *testing.T, br *bufio.Reader) (string, int) {
	t.Helper()
	beats := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v (after %q)", err, line)
		}
		if line == string(heartbeat) {
			beats++
			continue
		}
		return strings.TrimSuffix(line, "\n"), beats
	}
}

func TestStreamsUpdateBeatAndEndAtShutdown(t *testing.T) {
	hub, st, srv := streamFixture(t, HubConfig{Heartbeat: 10 * time.Millisecond}, StreamConfig{}, 0)
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for k, want := range map[string]string{
		"Content-Type": "text/html; charset=utf-8", "X-Accel-Buffering": "no",
		"Cache-Control": "no-store, no-transform", "Content-Encoding": "identity",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	br := bufio.NewReader(resp.Body)
	if line, _ := readLine(t, br); line != "start" {
		t.Fatalf("first line %q, want start", line)
	}
	hub.Publish(Frame{Topic: "s", Data: []byte("one")})
	if line, _ := readLine(t, br); line != "update one" {
		t.Fatalf("after a publish: %q, want update one", line)
	}
	// A quiet stream gets heartbeats; the next update comes after some.
	waitFor(t, "a heartbeat", func() bool {
		b, err := br.Peek(len(heartbeat))
		return err == nil && string(b) == string(heartbeat)
	})
	hub.Publish(Frame{Topic: "s", Data: []byte("two")})
	if line, beats := readLine(t, br); line != "update two" || beats == 0 {
		t.Fatalf("after a quiet spell: %q after %d heartbeats, want update two after at least one", line, beats)
	}

	closed := make(chan struct{}) // the test waits for its Close to return
	go func() { hub.Close(); close(closed) }()
	line, _ := readLine(t, br)
	var ms int
	if _, err := fmt.Sscanf(line, "end %d", &ms); err != nil || ms < 500 || ms >= 3000 {
		t.Fatalf("at shutdown: %q, want end with a reload delay of 500–3000 ms", line)
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("after the end: %q, %v; want a clean end of the response", rest, err)
	}
	<-closed
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := st.Wait(ctx); err != nil {
		t.Fatalf("Wait after shutdown: %v", err)
	}
}

func TestStreamsEndAfterLifetime(t *testing.T) {
	for _, tc := range []struct {
		name           string
		cfg, perStream time.Duration
	}{
		{"configured", 20 * time.Millisecond, 0},
		{"per stream, shorter", time.Hour, 20 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, srv := streamFixture(t, HubConfig{}, StreamConfig{Lifetime: tc.cfg}, tc.perStream)
			resp, err := srv.Client().Get(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || string(body) != "start\nend 0\n" {
				t.Fatalf("body %q, %v; want start, then end with an immediate reload", body, err)
			}
		})
	}
}

// TestChunkedFlushesEachPart checks that what was written before a Flush
// reaches the client before the writer goes on.
func TestChunkedFlushesEachPart(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := NewChunked(w, http.StatusAccepted, time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		io.WriteString(c, "first\n")
		c.Flush()
		<-next // held until the client has read the first part
		io.WriteString(c, "second\n")
		c.Flush()
		if c.Err() != nil {
			t.Error(c.Err())
		}
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("status %d, want the one given to NewChunked", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "first\n" {
		t.Fatalf("first part %q, %v", line, err)
	}
	close(next)
	if line, err := br.ReadString('\n'); line != "second\n" {
		t.Fatalf("second part %q, %v", line, err)
	}
}

// TestStreamsStartIsTheFirstState: the state the hub holds when a viewer
// subscribes is in Start already (or older); it is not sent again as the
// first update, which would show it twice or step back.
func TestStreamsStartIsTheFirstState(t *testing.T) {
	hub, _, srv := streamFixture(t, HubConfig{}, StreamConfig{}, 0)
	hub.Publish(Frame{Topic: "s", Data: []byte("before")})
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, _ := readLine(t, br); line != "start" {
		t.Fatalf("first line %q, want start", line)
	}
	hub.Publish(Frame{Topic: "s", Data: []byte("after")})
	if line, _ := readLine(t, br); line != "update after" {
		t.Fatalf("first update %q, want the frame published after start (not the one before)", line)
	}
}

// TestOnShortLivedRaisesPanics: a panic while connecting reaches the
// caller's goroutine (where the HTTP server's recovery is), not the process.
func TestOnShortLivedRaisesPanics(t *testing.T) {
	ran := false
	onShortLived(func() { ran = true })
	if !ran {
		t.Fatal("fn did not run before onShortLived returned")
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v, want the panic of fn", p)
		}
	}()
	onShortLived(func() { panic("boom") })
	t.Fatal("onShortLived returned after fn panicked")
}
