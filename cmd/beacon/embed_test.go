package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/widget"
)

// Tests of embeddable widgets over plain HTTP: token scopes, framing
// headers, posting from a room widget, and the zero-JavaScript streams.

// embedSecret is the server secret of these tests, so they can sign tokens
// of any kind themselves, expired ones included.
var embedSecret = bytes.Repeat([]byte{0x5e}, 32)

func startEmbed(t *testing.T, flags ...string) *instance {
	t.Helper()
	return start(t, "", "", append([]string{"--secret-file", secretFile(t, hex.EncodeToString(embedSecret), 0o600),
		"--tick", browserTick}, flags...)...)
}

// secretFile writes secret to a new file with mode perm and returns its path.
func secretFile(t testing.TB, secret string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

// sign makes a token of in (started by startEmbed) with the test secret,
// valid for an hour unless c says, stored in its database as every token
// must be (as beacon embed create does, while the server runs).
func sign(t testing.TB, in *instance, c widget.Claims) string {
	t.Helper()
	if c.Expires == 0 {
		c.Expires = time.Now().Add(time.Hour).Unix()
	}
	store, err := db.Open(t.Context(), in.DB, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := storeAndSign(t.Context(), store, embedSecret, &c)
	if err := errors.Join(err, store.Close()); err != nil {
		t.Fatal(err)
	}
	return tok
}

// fetchPage fetches path of in and returns the response with its body read.
func fetchPage(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func frameAncestors(h http.Header) string {
	for _, d := range strings.Split(h.Get("Content-Security-Policy"), ";") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "frame-ancestors ") {
			return strings.TrimPrefix(d, "frame-ancestors ")
		}
	}
	return ""
}

func TestEmbedTokenScopesAndErrors(t *testing.T) {
	in := startEmbed(t)
	c := streamClient(t)
	roomA := sign(t, in, widget.Claims{Widget: widget.Room, Room: "a", Origins: []string{"http://127.0.0.1:1"}})
	expired := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{"http://127.0.0.1:1"}, Expires: time.Now().Add(-time.Minute).Unix()})
	forged := sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{"http://127.0.0.1:1"}})
	forged = forged[:len(forged)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(forged, "AA")]

	for _, tc := range []struct {
		path   string
		status int
		says   string
	}{
		{"/embed/rooms/a?token=" + roomA, 200, "# <bdi>a</bdi>"},
		{"/stream/rooms/a?token=" + roomA + "&probe=1", 0, ""}, // a stream: checked below
		{"/embed/rooms/b?token=" + roomA, 403, "does not allow this widget or room"},
		{"/stream/rooms/b?token=" + roomA, 403, "does not allow this widget or room"},
		{"/embed/metrics?token=" + roomA, 403, "does not allow this widget or room"},
		{"/embed/metrics?token=" + expired, 401, "expired"},
		{"/stream/metrics?token=" + expired, 401, "expired"},
		{"/embed/metrics?token=" + forged, 401, "signature"},
		{"/embed/metrics", 401, "?token="},
	} {
		if tc.status == 0 {
			continue
		}
		resp, body := fetchPage(t, c, in.URL+tc.path)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("GET %s: %d, want %d with %q in the page:\n%.300s", tc.path, resp.StatusCode, tc.status, tc.says, body)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: Content-Type %q, want an HTML page the frame can show", tc.path, resp.Header.Get("Content-Type"))
		}
		// A refusal shows inside any frame; a widget only in its sites'.
		want := "*"
		if tc.status == 200 {
			want = "'self' http://127.0.0.1:1"
		}
		if got := frameAncestors(resp.Header); got != want || resp.Header.Get("X-Frame-Options") != "" {
			t.Errorf("GET %s: frame-ancestors %q, X-Frame-Options %q; want %q and none", tc.path, got, resp.Header.Get("X-Frame-Options"), want)
		}
	}

	// The widget's live connection authenticates with the token alone.
	resp, body := fetchPage(t, c, in.URL+"/embed/live?token="+expired)
	if resp.StatusCode != 401 || !strings.Contains(body, "expired") {
		t.Errorf("/embed/live with an expired token: %d %s, want 401 saying it expired", resp.StatusCode, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := dialSSE(ctx, c, in.URL+"/embed/live?token="+url.QueryEscape(roomA), "")
	if err != nil {
		t.Fatalf("/embed/live with a room token: %v", err)
	}
	if b, err := st.Next(); err != nil || !isPositionBlock(b) {
		t.Errorf("the widget's stream began with %+v, %v; want its position", b, err)
	}
	st.Close()
}

// TestEmbedFramingHeaders: every page but a widget refuses to be framed;
// a widget without origins in its token uses the operator's list, and with
// neither it refuses to show rather than allow any site.
func TestEmbedFramingHeaders(t *testing.T) {
	in := startEmbed(t, "--embed-origins", "http://127.0.0.1:2, https://Example.com")
	c := streamClient(t)
	for _, p := range []string{"/", "/rooms/lobby", "/healthz", "/static/embed.css"} {
		resp, _ := fetchPage(t, c, in.URL+p)
		if got := frameAncestors(resp.Header); got != "'none'" || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: frame-ancestors %q, X-Frame-Options %q; want 'none' and DENY", p, got, resp.Header.Get("X-Frame-Options"))
		}
	}
	resp, _ := fetchPage(t, c, in.URL+"/embed/chart?token="+sign(t, in, widget.Claims{Widget: widget.Chart}))
	if got := frameAncestors(resp.Header); resp.StatusCode != 200 || got != "'self' http://127.0.0.1:2 https://example.com" {
		t.Errorf("a chart token without origins: %d, frame-ancestors %q; want 200 and the operator's list", resp.StatusCode, got)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("a widget's policy lost script-src 'self': %q", csp)
	}

	bare := startEmbed(t)
	resp, body := fetchPage(t, c, bare.URL+"/embed/chart?token="+sign(t, bare, widget.Claims{Widget: widget.Chart}))
	if resp.StatusCode != 403 || !strings.Contains(body, "names no site that may embed it") {
		t.Errorf("no origins anywhere: %d %.200s; want 403 saying so", resp.StatusCode, body)
	}
}

// readStreamUntil reads a /stream/ response until it holds want, and
// returns everything read. It fails the test if the stream ends first.
func readStreamUntil(t *testing.T, br *bufio.Reader, seen *strings.Builder, want string) {
	t.Helper()
	buf := make([]byte, 4096)
	for !strings.Contains(seen.String(), want) {
		n, err := br.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			t.Fatalf("the stream ended (%v) before it showed %q; it said:\n%s", err, want, seen.String())
		}
	}
}

func TestStreamedRoomShowsWidgetPosts(t *testing.T) {
	in := startEmbed(t)
	c := streamClient(t)
	viewer := sign(t, in, widget.Claims{Widget: widget.Room, Room: "lobby", Origins: []string{"http://127.0.0.1:1"}})
	poster := sign(t, in, widget.Claims{Widget: widget.Room, Room: "lobby", Post: true, Origins: []string{"http://127.0.0.1:1"}})

	resp, err := c.Get(in.URL + "/stream/rooms/lobby?token=" + viewer)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for k, want := range map[string]string{"X-Accel-Buffering": "no", "Content-Encoding": "identity", "Cache-Control": "no-store, no-transform"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("/stream/ header %s: %q, want %q", k, got, want)
		}
	}
	br := bufio.NewReader(resp.Body)
	var seen strings.Builder
	readStreamUntil(t, br, &seen, `<div class="frame">`)
	if strings.Contains(seen.String(), "<script") {
		t.Errorf("a stream holds a script; it must need none:\n%s", seen.String())
	}

	noPost := url.Values{"token": {viewer}, "name": {"Ann"}, "content": {"hi"}}
	if r, body := postForm(t, c, in.URL+"/embed/rooms/lobby/messages", noPost); r.StatusCode != 403 {
		t.Errorf("posting with a read-only token: %d %.200s, want 403", r.StatusCode, body)
	}
	form := url.Values{"token": {poster}, "name": {"Ann"}, "content": {"hello from a widget"}}
	r, _ := postForm(t, c, in.URL+"/embed/rooms/lobby/messages", form)
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/embed/rooms/lobby?") {
		t.Fatalf("posting without JavaScript: %d to %q, want 303 back to the widget", r.StatusCode, r.Header.Get("Location"))
	}
	readStreamUntil(t, br, &seen, "hello from a widget")
	if !strings.Contains(seen.String(), `Ann</bdi></strong> <span class="guest"`) {
		t.Errorf("the streamed room shows the message without its author marked as a guest")
	}

	// The room itself has it too, from the same store.
	_, body := fetchPage(t, c, in.URL+"/api/rooms/lobby/messages")
	if !strings.Contains(body, `"user":"Ann","content":"hello from a widget"`) { // no user_id: a guest
		t.Errorf("room history lacks the widget's message: %s", body)
	}
	bad := url.Values{"token": {poster}, "name": {"Ann"}, "content": {strings.Repeat("x", 5000)}}
	if r, body := postForm(t, c, in.URL+"/embed/rooms/lobby/messages", bad); r.StatusCode != 400 || !strings.Contains(body, "longer than 4 KiB") {
		t.Errorf("a message over the limit: %d, want 400 saying why", r.StatusCode)
	}
}

func TestStreamEndsWithReloadAfterLifetime(t *testing.T) {
	in := startEmbed(t, "--stream-lifetime", "1s")
	_, body := fetchPage(t, streamClient(t), in.URL+"/stream/metrics?token="+sign(t, in, widget.Claims{Widget: widget.Metrics, Origins: []string{"http://127.0.0.1:1"}}))
	if !strings.Contains(body, `<meta http-equiv="refresh" content="0">`) || !strings.Contains(body, `<div class="frame">`) {
		t.Errorf("a stream past its lifetime should end with an element that reloads it:\n%s", body)
	}
}

// TestStreamEndsAtShutdown: a shutdown ends every stream with a jittered
// reload, and run returns.
func TestStreamEndsAtShutdown(t *testing.T) {
	in := startEmbed(t)
	resp, err := streamClient(t).Get(in.URL + "/stream/chart?token=" + sign(t, in, widget.Claims{Widget: widget.Chart, Origins: []string{"http://127.0.0.1:1"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var seen strings.Builder
	readStreamUntil(t, br, &seen, `<div class="frame">`)
	in.Stop(t)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("the stream did not end cleanly at shutdown: %v", err)
	}
	var secs int
	i := strings.Index(string(rest), `<meta http-equiv="refresh" content="`)
	if i < 0 {
		t.Fatalf("the stream ended without a reload:\n%s", rest)
	}
	fmt.Sscanf(string(rest[i+len(`<meta http-equiv="refresh" content="`):]), "%d", &secs)
	if secs < 1 || secs > 3 {
		t.Errorf("reload after %d s at shutdown, want 1–3 (jittered)", secs)
	}
}

func TestEmbedCreateCommand(t *testing.T) {
	in := startEmbed(t) // the same secret as the database's would be: passed the same way
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"embed", "create", "--widget", "room", "--room", "lobby", "--post", "--origin", "http://127.0.0.1:9",
		"--ttl", "24h", "--base", in.URL, "--db", in.DB}, func(k string) string {
		if k == "BEACON_SECRET" {
			return hex.EncodeToString(embedSecret)
		}
		return ""
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("embed create: %v: %s", err, errOut.String())
	}
	lines := strings.Split(out.String(), "\n")
	claims, err := widget.Parse(embedSecret, lines[1], time.Now())
	if err != nil || claims.Room != "lobby" || !claims.Post || claims.Origins[0] != "http://127.0.0.1:9" {
		t.Fatalf("printed token %q parses as %+v, %v", lines[1], claims, err)
	}
	if !strings.Contains(out.String(), `<iframe src="`+in.URL+`/embed/rooms/lobby?token=`) || !strings.Contains(out.String(), `/stream/rooms/lobby?token=`) {
		t.Errorf("no snippets in:\n%s", out.String())
	}
	resp, _ := fetchPage(t, streamClient(t), in.URL+"/embed/rooms/lobby?token="+url.QueryEscape(lines[1]))
	if resp.StatusCode != 200 {
		t.Errorf("the server refuses the command's token: %d", resp.StatusCode)
	}

	// Without a secret of their own, the command and the server share the database's.
	dbIn := start(t, "", "")
	out.Reset()
	if err := run(t.Context(), []string{"embed", "create", "--widget", "metrics", "--origin", "http://127.0.0.1:9", "--db", dbIn.DB},
		func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	tok := strings.Split(out.String(), "\n")[1]
	if resp, body := fetchPage(t, streamClient(t), dbIn.URL+"/embed/metrics?token="+url.QueryEscape(tok)); resp.StatusCode != 200 {
		t.Errorf("a token signed with the database's secret: %d %.200s", resp.StatusCode, body)
	}
}

// TestEmbedButtonMintsTokens posts the "Embed" form as htmx does (a
// fragment back) and as a browser without script does (a page back).
func TestEmbedButtonMintsTokens(t *testing.T) {
	in := startEmbed(t)
	// A widget visitors may post from is made by a signed-in person, with
	// the page's CSRF token like every form.
	ann := signUp(t, in.URL, "ann")
	c := ann.C
	form := url.Values{"widget": {"room"}, "room": {"lobby"}, "post": {"true"}, "origins": {"https://a.example, http://127.0.0.1:9"},
		"ttl": {"24h"}, "_csrf": {ann.CSRF}}
	stranger := noRedirects(newJar(t))
	signedOut := url.Values{"widget": {"room"}, "room": {"lobby"}, "post": {"true"}, "ttl": {"24h"}, "_csrf": {csrfOf(t, stranger, in.URL+"/rooms/lobby")}}
	if r, body := postForm(t, stranger, in.URL+"/embed/tokens", signedOut); r.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign in") {
		t.Errorf("a signed-out visitor making a posting widget: %d %.200s, want 403", r.StatusCode, body)
	}
	if r, _ := postForm(t, c, in.URL+"/embed/tokens", url.Values{"widget": {"chart"}, "ttl": {"24h"}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("the Embed form without its CSRF token: %d, want 403", r.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, in.URL+"/embed/tokens", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	frag := string(body)
	if resp.StatusCode != 200 || strings.Contains(frag, "<html") || !strings.Contains(frag, "Live widget") || !strings.Contains(frag, "Without JavaScript") {
		t.Fatalf("htmx form: %d, want a fragment with both snippets:\n%s", resp.StatusCode, frag)
	}
	i := strings.Index(frag, "/embed/rooms/lobby?token=")
	if i < 0 {
		t.Fatalf("no widget URL in %s", frag)
	}
	tok, _, _ := strings.Cut(frag[i+len("/embed/rooms/lobby?token="):], "&")
	tok, _ = url.QueryUnescape(tok)
	claims, err := widget.Parse(embedSecret, tok, time.Now())
	if err != nil || !claims.Post || len(claims.Origins) != 2 || claims.Expires > time.Now().Add(25*time.Hour).Unix() {
		t.Errorf("the snippet's token %q: %+v, %v; want a posting room token for both origins, for a day", tok, claims, err)
	}

	post, _ := postForm(t, c, in.URL+"/embed/tokens", url.Values{"widget": {"chart"}, "ttl": {"720h"}, "_csrf": {ann.CSRF}})
	r, page := followRedirect(t, c, in.URL, post) // Post/Redirect/Get: TestFormsRedirectAfterPost
	if r.StatusCode != 200 || !strings.Contains(page, "<title>Embed · Beacon</title>") || !strings.Contains(page, "/stream/chart?token=") {
		t.Errorf("form without script: %d, want a page with the snippets:\n%.500s", r.StatusCode, page)
	}
	for _, bad := range []url.Values{
		{"widget": {"chart"}, "ttl": {"forever"}},
		{"widget": {"map"}, "ttl": {"1h"}},
		{"widget": {"chart"}, "ttl": {"1h"}, "origins": {"https://a.example;script-src"}},
	} {
		bad.Set("_csrf", ann.CSRF)
		if r, body := postForm(t, c, in.URL+"/embed/tokens", bad); r.StatusCode != 400 {
			t.Errorf("POST /embed/tokens %v: %d, want 400: %.200s", bad, r.StatusCode, body)
		}
	}
}

// TestWidgetPostsAreRateLimited: a widget's posts count against the chat
// rate per client address; past the burst they are refused with 429 and
// not stored, and bad posts take no token.
func TestWidgetPostsAreRateLimited(t *testing.T) {
	in := startEmbed(t, "--message-rate", "0.01", "--message-burst", "2")
	c := streamClient(t)
	poster := sign(t, in, widget.Claims{Widget: widget.Room, Room: "lobby", Post: true, Origins: []string{"http://127.0.0.1:1"}})
	post := func(content string) int {
		r, _ := postForm(t, c, in.URL+"/embed/rooms/lobby/messages", url.Values{"token": {poster}, "name": {"Ann"}, "content": {content}})
		return r.StatusCode
	}
	var codes []int
	for _, content := range []string{"", "one", "two", "three"} {
		codes = append(codes, post(content))
	}
	if fmt.Sprint(codes) != "[400 303 303 429]" {
		t.Fatalf("statuses %v, want a refused empty post, two sent and one too fast", codes)
	}
	_, body := fetchPage(t, c, in.URL+"/api/rooms/lobby/messages")
	if strings.Contains(body, "three") || !strings.Contains(body, "two") {
		t.Errorf("history after the limit: %s", body)
	}
}

// TestWidgetStreamEndsWhenItsTokenExpires: a widget's SSE connection is
// held by the writer pool after its handler returned; its token's expiry
// still ends it, cleanly and without a retry hint (coming back, the widget
// gets the 401 its page would).
func TestWidgetStreamEndsWhenItsTokenExpires(t *testing.T) {
	in := startEmbed(t)
	c := &http.Client{}
	defer c.CloseIdleConnections()
	expires := time.Now().Add(2 * time.Second).Unix()
	tok := sign(t, in, widget.Claims{Widget: widget.Activity, Origins: []string{"http://127.0.0.1:1"}, Expires: expires})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	st, err := dialSSE(ctx, c, in.URL+"/embed/live?token="+url.QueryEscape(tok), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if b, err := st.Next(); err != nil || !isPositionBlock(b) {
		t.Fatalf("the widget's stream began with %+v, %v; want its position", b, err)
	}
	for {
		b, err := st.Next()
		if errors.Is(err, io.EOF) {
			break // ended between blocks: a clean end
		}
		if err != nil {
			t.Fatalf("the stream of an expiring token ended with %v, want a clean end", err)
		}
		if b.HasRetry {
			t.Fatalf("the stream of an expired token sent a retry hint: %+v", b)
		}
	}
	if time.Now().Before(time.Unix(expires, 0)) {
		t.Fatal("the stream ended before its token expired")
	}
}
