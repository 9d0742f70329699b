package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// cutProxy forwards TCP connections to a Beacon, and lets a test break
// them as a network would: cut every open connection half-way through the
// next bytes the server sends (so the client reads part of an event, then
// the end), and hold new connections until released.
type cutProxy struct {
	ln net.Listener
	wg sync.WaitGroup

	mu      sync.Mutex
	target  string                // guarded by mu
	conns   map[net.Conn]struct{} // guarded by mu; both ends of every forwarded connection
	cutting bool                  // guarded by mu; the next server read is cut half-way
	held    chan struct{}         // guarded by mu; non-nil while new connections wait; closed to release them
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		held := p.held
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(c, held) })
	}
}

func (p *cutProxy) forward(c net.Conn, held chan struct{}) {
	defer p.drop(c)
	if held != nil {
		<-held
	}
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return // the client sees its connection end before any answer
	}
	p.mu.Lock()
	p.conns[s] = struct{}{}
	p.mu.Unlock()
	defer p.drop(s)
	go func() {
		io.Copy(s, c) //nolint:errcheck // ends when either side closes
		s.Close()
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 {
			p.mu.Lock()
			cut := p.cutting
			p.cutting = false
			p.mu.Unlock()
			if cut {
				c.Write(buf[:max(1, n/2)]) //nolint:errcheck // cutting anyway
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *cutProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// cutNext cuts the connection that next gets bytes from the server,
// half-way through them.
func (p *cutProxy) cutNext() {
	p.mu.Lock()
	p.cutting = true
	p.mu.Unlock()
}

// hold makes new connections wait until the returned release is called.
func (p *cutProxy) hold() (release func()) {
	ch := make(chan struct{})
	p.mu.Lock()
	p.held = ch
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		p.held = nil
		p.mu.Unlock()
		close(ch)
	}
}

func (p *cutProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// tailRun is one beacon tail, run by run as main would.
type tailRun struct {
	out, errOut *lockedWriter
	stop        context.CancelFunc
	done        chan error
}

func startTail(args ...string) *tailRun {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &tailRun{out: &lockedWriter{b: &strings.Builder{}}, errOut: &lockedWriter{b: &strings.Builder{}},
		stop: cancel, done: make(chan error, 1)}
	go func() {
		tr.done <- run(ctx, append([]string{"tail"}, args...), func(string) string { return "" }, tr.out, tr.errOut)
	}()
	return tr
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// lines returns the complete lines printed so far.
func (tr *tailRun) lines() []string {
	s := tr.out.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

// waitOutput waits until cond holds for what tail printed, or tail ended.
func (tr *tailRun) waitOutput(t testing.TB, what string, cond func(stdout, stderr string) bool) {
	t.Helper()
	deadline := time.Now().Add(roomWait)
	for !cond(tr.out.String(), tr.errOut.String()) {
		select {
		case err := <-tr.done:
			t.Fatalf("beacon tail ended (%v) while waiting for %s; stdout:\n%s\nstderr:\n%s", err, what, tr.out.String(), tr.errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("beacon tail: no %s; stdout:\n%s\nstderr:\n%s", what, tr.out.String(), tr.errOut.String())
		}
	}
}

// connections counts "following" notes: one per connection that started.
func connections(stderr string) int { return strings.Count(stderr, "beacon tail: following ") }

// end stops tail as Ctrl-C does and waits for it.
func (tr *tailRun) end(t testing.TB) error {
	t.Helper()
	tr.stop()
	select {
	case err := <-tr.done:
		return err
	case <-time.After(roomWait):
		t.Fatalf("beacon tail did not stop after its context ended; stderr:\n%s", tr.errOut.String())
		return nil
	}
}

// TestTail follows activity, a room and a person's notifications with a
// read token through a connection that is cut mid-event, held while
// events happen, and then a server restart: every event is printed once,
// in order, and nothing is left running after Ctrl-C.
func TestTail(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	in := start(t, "", "", "--dashboard", "members")
	ann := signUp(t, in.URL, "ann")
	readTok := createToken(t, in.URL, ann, "read")
	chatTok := createToken(t, in.URL, ann, "chat")
	proxy := newCutProxy(t, in.Addr)

	tr := startTail("--url", proxy.URL(), "--token", readTok, "activity", "room:ops", fmt.Sprintf("user:%d", ann.ID))
	tr.waitOutput(t, "first connection", func(_, e string) bool { return connections(e) == 1 })

	var want []string
	activity := func(text string) {
		if _, err := postActivity(http.DefaultClient, in.URL, text); err != nil {
			t.Fatal(err)
		}
		want = append(want, "activity "+text)
	}
	chat := func(text string) {
		if status, body := apiPost(t, in.URL, "/api/rooms/ops/messages", chatTok, map[string]string{"content": text}); status != http.StatusCreated {
			t.Fatalf("chat: %d %s", status, body)
		}
		want = append(want, "room:ops ann "+text)
	}
	activity("Deployed v1.2.3")
	chat("rolling back")
	if status, body := apiPost(t, in.URL, "/api/notifications", testToken, map[string]string{"user": "ann", "title": "Build #481 failed", "body": "3 tests"}); status != http.StatusCreated {
		t.Fatalf("notify: %d %s", status, body)
	}
	want = append(want, fmt.Sprintf("user:%d Build #481 failed 3 tests", ann.ID))
	activity("Deployed v1.2.4")
	wait := func(what string) {
		tr.waitOutput(t, what, func(string, string) bool { return len(tr.lines()) >= len(want) })
	}
	wait("the first events")

	// Cut mid-event, and keep it away while more happens.
	release := proxy.hold()
	proxy.cutNext()
	activity("cut in half")
	tr.waitOutput(t, "a reconnection attempt after the cut", func(_, e string) bool { return strings.Contains(e, "reconnecting") })
	chat("while away")
	activity("also while away")
	release()
	tr.waitOutput(t, "a second connection", func(_, e string) bool { return connections(e) == 2 })
	wait("what happened while away")

	// A restart: the old server says when to come back and ends the
	// stream cleanly; r3labs' client would stop there.
	in.Stop(t)
	in = start(t, in.DB, in.Addr, "--dashboard", "members")
	activity("after the restart")
	tr.waitOutput(t, "a third connection", func(_, e string) bool { return connections(e) == 3 })
	wait("what happened after the restart")

	if err := tr.end(t); err != nil {
		t.Errorf("beacon tail ended with %v after Ctrl-C, want nil", err)
	}
	line := regexp.MustCompile(`^\d\d:\d\d:\d\d (\S+ .*)$`)
	var got []string
	for _, l := range tr.lines() {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q is not \"HH:MM:SS topic text\"", l)
			continue
		}
		got = append(got, m[1])
	}
	if !slices.Equal(got, want) {
		t.Errorf("beacon tail printed (time cut off)\n%s\nwant, each once, in order\n%s\nstderr:\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"), tr.errOut.String())
	}
	if !strings.Contains(tr.errOut.String(), "the server ended the stream") {
		t.Errorf("stderr does not tell of the restart:\n%s", tr.errOut.String())
	}
	proxy.close()
	in.Stop(t)
	goleak.VerifyNone(t, leaks)
}

// TestTailJSONAndRefusals: --json prints one object per event; what the
// server refuses for good (a topic that is not the token's to read, a
// revoked token) ends tail with the reason; Ctrl-C while the server is
// away ends it at once, with nothing left retrying.
func TestTailJSONAndRefusals(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	in := start(t, "", "", "--dashboard", "members")
	ann := signUp(t, in.URL, "ann")
	bob := signUp(t, in.URL, "bob")
	bobRead := createToken(t, in.URL, bob, "read")
	bobChat := createToken(t, in.URL, bob, "chat")

	tr := startTail("--url", in.URL, "--token", bobRead, "--json", "activity")
	tr.waitOutput(t, "a connection", func(_, e string) bool { return connections(e) == 1 })
	if _, err := postActivity(http.DefaultClient, in.URL, "Deployed v2"); err != nil {
		t.Fatal(err)
	}
	tr.waitOutput(t, "the activity", func(string, string) bool { return len(tr.lines()) >= 1 })
	var ev struct {
		ID, Topic, Text, HTML string
		At                    time.Time
		Data                  struct{ Type, Text string }
	}
	if err := json.Unmarshal([]byte(tr.lines()[0]), &ev); err != nil || ev.Topic != "activity" || ev.Text != "Deployed v2" ||
		ev.ID == "" || ev.At.IsZero() || !strings.Contains(ev.HTML, "Deployed v2") || ev.Data.Type != "activity" || ev.Data.Text != "Deployed v2" {
		t.Errorf("--json printed %q (%v)", tr.lines()[0], err)
	}

	// Ctrl-C while the server is away and tail is waiting to retry.
	in.Stop(t)
	tr.waitOutput(t, "a retry", func(_, e string) bool { return strings.Count(e, "reconnecting") >= 2 })
	if err := tr.end(t); err != nil {
		t.Errorf("Ctrl-C while reconnecting: %v, want nil", err)
	}
	in = start(t, in.DB, "", "--dashboard", "members")

	for _, tc := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"another's private topic", []string{"--token", bobRead, fmt.Sprintf("user:%d", ann.ID)}, []string{"403", "another person's"}},
		{"no token, members only", []string{"activity"}, []string{"401", "sign in", "read"}},
		{"a token without read", []string{"--token", bobChat, "activity"}, []string{"403", "lacks scope read"}},
		{"a server token's private topic", []string{"--token", testToken, fmt.Sprintf("user:%d", bob.ID)}, []string{"403", "server token"}},
		{"no such topic", []string{"--token", bobRead, "weather"}, []string{"404", "weather"}},
	} {
		var out, errOut strings.Builder
		err := run(t.Context(), append([]string{"tail", "--url", in.URL}, tc.args...), func(string) string { return "" }, &out, &errOut)
		if err == nil || exitStatus(err) != 1 {
			t.Errorf("%s: %v (status %d), want a refusal, status 1", tc.name, err, exitStatus(err))
			continue
		}
		for _, w := range tc.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}

	req, _ := http.NewRequest(http.MethodGet, in.URL+"/live?topics=activity&format=xml", nil)
	req.Header.Set("Authorization", "Bearer "+bobRead)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if body := string(b); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "format") {
		t.Errorf("/live?format=xml: %d %s; want 400 naming format", resp.StatusCode, body)
	}

	// Revoked on the command line while following: the stream ends within
	// the server's revocation poll, and tail with it.
	tr = startTail("--url", in.URL, "--token", bobRead, "activity")
	tr.waitOutput(t, "a connection", func(_, e string) bool { return connections(e) == 1 })
	runCLI(t, "token", "revoke", tokenID(t, in.DB, "test read"), "--db", in.DB)
	select {
	case err := <-tr.done:
		if err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("tail after its token was revoked: %v, want an error saying so", err)
		}
	case <-time.After(roomWait):
		t.Fatalf("tail goes on after its token was revoked; stderr:\n%s", tr.errOut.String())
	}
	in.Stop(t)
	goleak.VerifyNone(t, leaks)
}

// FuzzParseProgramEvent: whatever a connection hands over, tail accepts
// only a whole event: a JSON object with an id or a topic.
func FuzzParseProgramEvent(f *testing.F) {
	whole := `{"id":"e-12","topic":"activity","at":"2026-11-20T14:03:07Z","html":"<hx-partial><li><bdi>x</bdi><time>14:03</time></li></hx-partial>","data":{"type":"activity"}}`
	f.Add([]byte(whole))
	f.Add([]byte(`{"id":"e-1"}`))
	f.Add([]byte(`{"topic":"metrics","html":"<p hx-swap-oob=true>3</p><svg><text>x</text></svg>"}`))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		pe, ok := parseProgramEvent(data)
		if ok {
			var v map[string]any
			if err := json.Unmarshal(data, &v); err != nil || (pe.ID == "" && pe.Topic == "") {
				t.Fatalf("accepted %q as %+v (%v)", data, pe, err)
			}
			_ = textContent(pe.HTML) // must not panic
		}
		// A cut-off beginning of a whole event is refused.
		if cut := len(data) % len(whole); cut > 0 {
			if _, ok := parseProgramEvent([]byte(whole[:cut])); ok {
				t.Fatalf("accepted the first %d bytes of a whole event", cut)
			}
		}
	})
}
