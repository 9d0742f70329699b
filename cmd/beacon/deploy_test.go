//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/views"
)

// deployDoc is the operator's guide whose nginx configuration
// TestBehindNginx runs.
const deployDoc = "../../docs/deploy.md"

// fencedBlock returns the body of the only fenced code block of doc whose
// info string is lang.
func fencedBlock(t *testing.T, doc, lang string) string {
	t.Helper()
	m := regexp.MustCompile("(?ms)^```"+regexp.QuoteMeta(lang)+"\n(.*?)^```$").FindAllStringSubmatch(doc, -1)
	if len(m) != 1 {
		t.Fatalf("%s has %d ```%s blocks, want exactly one", deployDoc, len(m), lang)
	}
	return m[0][1]
}

// substitute replaces each old of pairs, which must occur exactly once in
// s, with its new: a change to the guide that the test does not follow
// fails here rather than testing something else.
func substitute(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if n := strings.Count(s, pairs[i]); n != 1 {
			t.Fatalf("%s: %q occurs %d times in the documented configuration, want once:\n%s", deployDoc, pairs[i], n, s)
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// nginxPath returns Debian's nginx, or skips the test (fails it under CI).
func nginxPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	const msg = "the reverse proxy test needs Debian's nginx (apt-get install nginx), which provides /usr/sbin/nginx"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts it.
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "beacon test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// nginxMain is the main configuration around the guide's block: Debian's
// /etc/nginx/nginx.conf as shipped (gzip on included), with everything
// nginx writes moved into the test's prefix, in the foreground.
const nginxMain = `daemon off;
worker_processes 1;
pid {{prefix}}/nginx.pid;
error_log {{prefix}}/error.log info;
events {
	worker_connections 256;
}
http {
	sendfile on;
	tcp_nopush on;
	types_hash_max_size 2048;
	include /etc/nginx/mime.types;
	default_type application/octet-stream;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_prefer_server_ciphers on;
	access_log {{prefix}}/access.log;
	gzip on;
	client_body_temp_path {{prefix}}/body;
	proxy_temp_path {{prefix}}/proxy;
	fastcgi_temp_path {{prefix}}/fastcgi;
	uwsgi_temp_path {{prefix}}/uwsgi;
	scgi_temp_path {{prefix}}/scgi;

	# docs/deploy.md:
{{site}}
}
`

// nobody is the unprivileged user nginx runs as when the test runs as
// root (as CI does).
const nobody = 65534

// startNginx runs nginx with site (the guide's block) in a prefix of its
// own, as an unprivileged process in the foreground, on the listeners
// given (inherited, the way nginx hands its sockets to a new binary, so it
// needs no free port of its own and is ready as soon as it accepts), and
// stops it when the test ends.
func startNginx(t *testing.T, site string, listeners ...*net.TCPListener) (errorLog func() string) {
	t.Helper()
	exe := nginxPath(t)
	prefix := t.TempDir()
	conf := strings.NewReplacer("{{prefix}}", prefix, "{{site}}", site).Replace(nginxMain)
	if err := os.WriteFile(filepath.Join(prefix, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-p", prefix, "-c", filepath.Join(prefix, "nginx.conf"), "-e", filepath.Join(prefix, "error.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	fds := ""
	for i, ln := range listeners {
		f, err := ln.File()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
		fds += fmt.Sprintf("%d;", 3+i)
	}
	cmd.Env = append(os.Environ(), "NGINX="+fds)
	if os.Geteuid() == 0 {
		// As root, nginx would keep a root master. Run it all as nobody,
		// which must then reach the prefix and the temporary directory.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		for d := prefix; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		err := filepath.WalkDir(prefix, func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, nobody, nobody)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	for _, ln := range listeners {
		ln.Close() // nginx has its own copy
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	errorLog = func() string {
		b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
		return out.String() + string(b)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may have exited
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // it would not stop
			<-exited
			t.Errorf("nginx did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("nginx's error log:\n%s", errorLog())
		}
	})
	return errorLog
}

// loopbackListener listens on a free loopback port.
func loopbackListener(t *testing.T) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln.(*net.TCPListener)
}

// clientAddr is the address the test's clients connect from: not the one
// nginx connects to Beacon from, so Beacon's log tells them apart.
const clientAddr = "127.0.0.2"

// TestBehindNginx runs Beacon behind Debian's nginx with exactly the
// configuration docs/deploy.md gives (only its ports and certificate paths
// changed) and Beacon's flags as the guide writes them: the redirect to
// HTTPS, a page, both SSE streams, a room socket that chats, a /stream/
// widget whose first frame arrives while the document is still open, the
// Host check, the internal routes kept off the proxied listener, and the
// client's own address in Beacon's log.
func TestBehindNginx(t *testing.T) {
	nginxPath(t) // skip (or fail under CI) before starting anything
	raw, err := os.ReadFile(deployDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	httpLn, httpsLn := loopbackListener(t), loopbackListener(t)
	public := "https://" + httpsLn.Addr().String()

	// Beacon with the guide's flags.
	var flags []string
	for _, line := range strings.Split(fencedBlock(t, doc, "sh"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "beacon" {
			flags = f[1:]
		}
	}
	documented := strings.Join(flags, " ")
	documented = substitute(t, documented, "--addr 127.0.0.1:8080", "--addr 127.0.0.1:0",
		"--public-url https://beacon.example.com", "--public-url "+public,
		"--metrics-addr 127.0.0.1:9090", "--metrics-addr 127.0.0.1:0")
	// A tick of an hour: the /stream/ widget gets one frame in this test,
	// so a proxy that buffered it would show nothing at all.
	in := start(t, "", "", append(strings.Fields(documented), "--log-level", "info", "--tick", "1h")...)

	certDir := t.TempDir()
	cert, key, pool := selfSigned(t, certDir)
	site := substitute(t, fencedBlock(t, doc, "nginx"),
		"server 127.0.0.1:8080;", "server "+in.Addr+";",
		"listen 80;", "listen "+httpLn.Addr().String()+";",
		"listen 443 ssl http2;", "listen "+httpsLn.Addr().String()+" ssl http2;",
		"/etc/letsencrypt/live/beacon.example.com/fullchain.pem", cert,
		"/etc/letsencrypt/live/beacon.example.com/privkey.pem", key)
	if os.Geteuid() == 0 {
		for _, p := range []string{certDir, key} {
			os.Chown(p, nobody, nobody) //nolint:errcheck // nginx then says what it cannot read
		}
	}
	nginxLog := startNginx(t, site, httpLn, httpsLn)

	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientAddr)}, Timeout: roomWait}
	tlsConf := &tls.Config{RootCAs: pool}
	tr := &http.Transport{DialContext: dialer.DialContext, TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: roomWait,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	streams := &http.Client{Transport: tr} // no overall timeout: streams are long
	get := func(path string, h http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, public+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s through nginx: %v\nnginx says:\n%s", path, err, nginxLog())
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// Port 80 sends browsers to HTTPS.
	resp, err := c.Get("http://" + httpLn.Addr().String() + "/rooms/lobby")
	if err != nil {
		t.Fatalf("http:// through nginx: %v\nnginx says:\n%s", err, nginxLog())
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://127.0.0.1") || !strings.HasSuffix(loc, "/rooms/lobby") {
		t.Errorf("http:// answered %s, Location %q; want 301 to https://", resp.Status, loc)
	}

	// A page, over HTTP/2, with the proxy's https making cookies __Host-.
	resp, body := get("/signup", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<title>") || resp.ProtoMajor != 2 {
		t.Fatalf("GET /signup through nginx: %s (%s) %.300s", resp.Status, resp.Proto, body)
	}
	if ck := resp.Header.Get("Set-Cookie"); !strings.HasPrefix(ck, "__Host-") || !strings.Contains(ck, "Secure") {
		t.Errorf("behind the proxy's https, a cookie is set as %q; want __Host-…; Secure", ck)
	}
	acct := signUpWith(t, c, public, "ann")

	// The Host check: a page that reached nginx under another name.
	if resp, body := get("/", http.Header{"X-Forwarded-For": {"203.0.113.7"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("GET / through nginx: %s %.300s", resp.Status, body)
	}
	req, _ := http.NewRequest(http.MethodGet, public+"/", nil)
	req.Host = "rebound.example"
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("Host rebound.example through nginx: %v %v; want 403", resp, err)
	} else {
		resp.Body.Close()
	}
	// /metrics and /healthz are on --metrics-addr, not behind the proxy.
	if resp, _ := get("/metrics", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics through nginx: %s; want 404 (it is on --metrics-addr)", resp.Status)
	}

	// SSE: /live and /embed/live deliver an event as it happens.
	ctx, cancel := context.WithTimeout(t.Context(), roomWait)
	defer cancel()
	live, err := dialSSE(ctx, streams, public+"/live?topics=activity", "")
	if err != nil {
		t.Fatalf("/live through nginx: %v", err)
	}
	defer live.Close()
	readUntil(t, live, isPositionBlock)
	widgetOut, _ := runCLI(t, "embed", "create", "--widget", "activity", "--origin", "https://example.com", "--db", in.DB)
	embedTok := strings.Split(widgetOut, "\n")[1]
	embedLive, err := dialSSE(ctx, streams, public+"/embed/live?token="+url.QueryEscape(embedTok), "")
	if err != nil {
		t.Fatalf("/embed/live through nginx: %v", err)
	}
	defer embedLive.Close()
	readUntil(t, embedLive, isPositionBlock)
	if status, body := postThrough(t, c, public+"/api/activity", url.Values{"text": {"Deployed behind nginx"}}); status != http.StatusCreated {
		t.Fatalf("POST /api/activity through nginx: %d %s", status, body)
	}
	for name, st := range map[string]*sseStream{"/live": live, "/embed/live": embedLive} {
		b := readUntil(t, st, func(b sseBlock) bool { return b.HasData })
		if last := b[len(b)-1]; !strings.Contains(last.Data, "Deployed behind nginx") || !last.HasID {
			t.Errorf("%s through nginx delivered %+v", name, last)
		}
	}

	// A /stream/ widget: its first frame arrives while the document is
	// open (Beacon will not end it for minutes, and sends nothing else).
	widgetOut, _ = runCLI(t, "embed", "create", "--widget", "metrics", "--origin", "https://example.com", "--db", in.DB)
	streamTok := strings.Split(widgetOut, "\n")[1]
	sreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, public+"/stream/metrics?token="+url.QueryEscape(streamTok), nil)
	sreq.Header.Set("Accept-Encoding", "gzip") // as a browser asks; Debian's nginx has gzip on
	sresp, err := streams.Do(sreq)
	if err != nil {
		t.Fatalf("/stream/metrics through nginx: %v", err)
	}
	defer sresp.Body.Close()
	if sresp.StatusCode != http.StatusOK || sresp.Header.Get("Content-Encoding") == "gzip" {
		t.Fatalf("/stream/metrics through nginx: %s, Content-Encoding %q", sresp.Status, sresp.Header.Get("Content-Encoding"))
	}
	var seen strings.Builder
	readStreamUntil(t, bufio.NewReader(sresp.Body), &seen, `<div class="frame">`)
	if strings.Contains(seen.String(), "</html>") {
		t.Errorf("the /stream/ document ended before the test read its first frame:\n%s", seen.String())
	}

	// A room socket: the browser's origin (the public URL), the session's
	// cookie, and a message that comes back.
	if resp, body := get("/rooms/lobby/ws", http.Header{views.HeaderSocketCheck: {public}, "Accept": {"application/json"}}); resp.StatusCode != http.StatusOK {
		t.Errorf("the room page's socket check through nginx: %s %s", resp.Status, body)
	}
	// A TLS config of its own: the HTTP/2 transport added "h2" to the other.
	wsd := websocket.Dialer{NetDialContext: dialer.DialContext, TLSClientConfig: &tls.Config{RootCAs: pool}, Jar: jar,
		Subprotocols: []string{roomSubprotocol}, HandshakeTimeout: roomWait}
	wsURL := "wss://" + httpsLn.Addr().String() + "/rooms/lobby/ws"
	conn, wresp, err := wsd.DialContext(ctx, wsURL, http.Header{"Origin": {public}})
	if err != nil {
		status := ""
		if wresp != nil {
			b, _ := io.ReadAll(wresp.Body)
			status = wresp.Status + " " + string(b)
		}
		t.Fatalf("room socket through nginx: %v %s\nnginx says:\n%s", err, status, nginxLog())
	}
	defer conn.Close()
	if w := readUntilType(t, conn, "welcome"); w.User != acct {
		t.Errorf("welcome %+v, want %s", w, acct)
	}
	conn.WriteJSON(map[string]string{"type": "chat", "content": "hello through nginx"}) //nolint:errcheck // the read fails
	if m := readUntilType(t, conn, "message"); m.User != acct || m.Content != "hello through nginx" {
		t.Errorf("the message came back as %v", m)
	}

	// Beacon saw every request come from the client's address, not
	// nginx's, and not what the client wrote into X-Forwarded-For.
	lines := 0
	for _, l := range strings.Split(in.logs.String(), "\n") {
		if !strings.Contains(l, "msg=request") {
			continue
		}
		lines++
		if !strings.Contains(l, "client="+clientAddr) {
			t.Errorf("Beacon logged a request from another address than the client's %s: %s", clientAddr, l)
		}
	}
	if lines < 5 {
		t.Errorf("Beacon logged %d requests, want the test's:\n%s", lines, in.logs.String())
	}
}

// signUpWith makes an account through c's sign-up form at base and
// returns its name.
func signUpWith(t *testing.T, c *http.Client, base, name string) string {
	t.Helper()
	csrf := csrfOf(t, c, base+"/signup")
	resp, body := postForm(t, c, base+"/signup", url.Values{"_csrf": {csrf}, "name": {name}, "password": {"password-of-" + name}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign up through nginx: %s %.300s", resp.Status, body)
	}
	return name
}

// postThrough posts form to u with the test's server token.
func postThrough(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
