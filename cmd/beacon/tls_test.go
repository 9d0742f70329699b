package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/views"
)

// TestTLS: with --tls-cert and --tls-key Beacon speaks HTTPS, and HTTP/2 to
// clients that offer it: pages, sign-up (its cookies Secure, with the
// __Host- prefix) and live streams, a browser tab's shared one included,
// over HTTP/2; the room socket over TLS (HTTP/1.1: net/http's HTTP/2 server
// does not offer WebSockets over HTTP/2, so browsers open it on a
// connection of its own, as they do today).
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t, t.TempDir())
	in := start(t, "", "", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(in.URL, "https://127.0.0.1:") {
		t.Fatalf("Beacon says it listens on %s, want https://127.0.0.1:…", in.URL)
	}
	tlsConfig := &tls.Config{RootCAs: roots}
	tr := &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", req.Method, req.URL, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 {
			t.Errorf("%s %s answered over %s, want HTTP/2", req.Method, req.URL.Path, resp.Proto)
		}
		return resp, string(body)
	}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, in.URL+path, nil)
		return do(req)
	}

	// Sign up over HTTP/2: every cookie is Secure and __Host- prefixed.
	resp, body := get("/signup")
	m := csrfField.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("GET /signup: %s, no CSRF field", resp.Status)
	}
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/signup", strings.NewReader(url.Values{
		"_csrf": {m[1]}, "name": {"ann"}, "password": {"password-of-ann"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = do(req)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign up over HTTPS: %s %.300s", resp.Status, body)
	}
	var names []string
	for _, ck := range resp.Cookies() {
		names = append(names, ck.Name)
		if !strings.HasPrefix(ck.Name, "__Host-") || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
			t.Errorf("cookie %s over HTTPS: Secure %v, path %q, domain %q; want __Host-, Secure, path / and no domain", ck.Name, ck.Secure, ck.Path, ck.Domain)
		}
	}
	if !strings.Contains(strings.Join(names, " "), "__Host-beacon_session") {
		t.Errorf("signing up set cookies %q, want __Host-beacon_session", names)
	}
	resp, body = get("/")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<h1") || !strings.Contains(body, ">ann<") {
		t.Fatalf("the dashboard over HTTP/2: %s, signed in as ann: %v", resp.Status, strings.Contains(body, ">ann<"))
	}
	ann := signedIn(t, in.URL, "ann", c)

	// Live streams over HTTP/2: a page's own, and the one a browser's tabs
	// share.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	own, err := dialSSE(ctx, c, liveURL(in.URL, views.TopicActivity+","+views.TopicUser(ann.ID)), "")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	shared, err := dialSSE(ctx, c, liveURL(in.URL, views.TopicActivity, views.QueryShared, "1"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	for _, st := range []*sseStream{own, shared} {
		if st.Resp.ProtoMajor != 2 {
			t.Errorf("a live stream over %s, want HTTP/2", st.Resp.Proto)
		}
		if b, err := st.Next(); err != nil || !isPositionBlock(b) {
			t.Fatalf("first block %+v %v, want the position", b, err)
		}
	}
	if _, err := postActivity(c, in.URL, "over h2"); err != nil {
		t.Fatal(err)
	}
	for _, st := range []*sseStream{own, shared} {
		if b, err := st.NextEvent(); err != nil || !strings.Contains(b.Data, "over h2") {
			t.Fatalf("live frame over HTTP/2: %+v %v", b, err)
		}
	}

	// The room socket, over TLS, with the session's cookie.
	// (A tls.Config of its own: the HTTP transport added "h2" to the other's.)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, Jar: jar, Subprotocols: []string{"beacon.v1.json"}, HandshakeTimeout: time.Minute}
	ws, wsResp, err := d.Dial(strings.Replace(in.URL, "https://", "wss://", 1)+"/rooms/ops/ws", http.Header{"Origin": {in.URL}})
	if err != nil {
		t.Fatalf("wss room socket: %v (%v)", err, wsResp)
	}
	defer ws.Close()
	if wsResp.ProtoMajor != 1 {
		t.Errorf("the socket's upgrade answered over %s; gorilla/websocket upgrades HTTP/1.1 only", wsResp.Proto)
	}
	ws.SetReadDeadline(time.Now().Add(time.Minute)) //nolint:errcheck // a read then fails
	if err := ws.WriteJSON(map[string]string{"type": "chat", "content": "hello over TLS"}); err != nil {
		t.Fatal(err)
	}
	for {
		var msg struct{ Type, User, Content string }
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("reading the room socket: %v", err)
		}
		if json.Unmarshal(data, &msg) == nil && msg.Type == "message" {
			if msg.User != "ann" || msg.Content != "hello over TLS" {
				t.Fatalf("the room sent back %s", data)
			}
			break
		}
	}

	// Plain HTTP to the TLS port is not served.
	plainURL := strings.Replace(in.URL, "https://", "http://", 1) + "/healthz"
	if resp, err := http.Get(plainURL); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP to the TLS port: %s, want it refused", resp.Status)
		}
	}
}

// TestTLSConnsPerAddress: over TLS too, a connection past
// --conns-per-address is answered 429 with the reason (the listener's
// refusal is found under the TLS connection), and is then closed.
func TestTLSConnsPerAddress(t *testing.T) {
	t.Parallel()
	certFile, keyFile, roots := selfSigned(t, t.TempDir())
	in := start(t, "", "", "--tls-cert", certFile, "--tls-key", keyFile, "--conns-per-address", "1")
	client := func() *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	held, err := dialSSE(ctx, client(), liveURL(in.URL, views.TopicActivity), "")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	resp, err := client().Get(in.URL + "/rooms/lobby")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "too many connections from your address") {
		t.Fatalf("a second connection over TLS: %s %.300s; want 429 saying why", resp.Status, body)
	}
}

// TestTLSFlags: a certificate without its key (or the other way round), a
// missing file and a key that is not the certificate's are refused at
// start, naming what is wrong.
func TestTLSFlags(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	otherCert, _, _ := selfSigned(t, t.TempDir())
	missing := filepath.Join(t.TempDir(), "nope.pem")
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"cert alone", []string{"--tls-cert", certFile}, nil, "tls-key"},
		{"key alone", nil, map[string]string{"BEACON_TLS_KEY": keyFile}, "tls-cert"},
		{"missing certificate", []string{"--tls-cert", missing, "--tls-key", keyFile}, nil, "nope.pem"},
		{"key of another certificate", []string{"--tls-cert", otherCert, "--tls-key", keyFile}, nil, "tls-key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "b.db")}, tt.args...)
			err := run(t.Context(), args, func(k string) string { return tt.env[k] }, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run %v: %v, want an error naming %s", tt.args, err, tt.want)
			}
		})
	}
	c, err := newConfig(nil, func(k string) string {
		return map[string]string{"BEACON_TLS_CERT": certFile, "BEACON_TLS_KEY": keyFile}[k]
	}, io.Discard)
	if err != nil || c.TLSCert != certFile || c.TLSKey != keyFile {
		t.Fatalf("from the environment: %+v %v", c, err)
	}
}
