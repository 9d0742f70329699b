package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/beacon-live/beacon/views"
)

// Tests of roles (issue 10, item 8): the first account is an admin, only
// admins make ingest/notify tokens and posting widgets and see the server
// panel, widget tokens are stored and revocable, the dashboard is for
// members unless --dashboard public, and --signup closed.

// legacyMetricsToken and legacyPostingToken were signed with embedSecret
// by Beacon before widget tokens had ids (until 2100). They stand for the
// tokens in snippets pasted before revocation existed.
const (
	legacyMetricsToken = "eyJ3IjoibWV0cmljcyIsIm8iOlsiaHR0cDovLzEyNy4wLjAuMToxIl0sImUiOjQxMDI0NDQ4MDB9.thKO7fw2HI2fXTscxNOvyVqgwRKJVd_jw1zxhfbCxGc"
	legacyPostingToken = "eyJ3Ijoicm9vbSIsInIiOiJsb2JieSIsInAiOnRydWUsIm8iOlsiaHR0cDovLzEyNy4wLjAuMToxIl0sImUiOjQxMDI0NDQ4MDB9.VYMnU8rEmBtmjeUYdvvlcdrPvMdeVIE66wqf2zsmaj0"
)

// tokenForm posts the settings page's API token form with scope as a and
// returns the answer.
func tokenForm(t testing.TB, base string, a *account, scope string) (*http.Response, string) {
	t.Helper()
	return postForm(t, a.C, base+"/settings/tokens", url.Values{"_csrf": {a.CSRF}, "name": {"try " + scope}, "scope": {scope}})
}

// runCLI runs a beacon command and returns what it printed; it fails the
// test if the command fails.
func runCLI(t testing.TB, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	if err := run(t.Context(), args, func(string) string { return "" }, &out, &errOut); err != nil {
		t.Fatalf("beacon %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

// TestFirstAccountIsAdminRaceFree: of many first sign-ups at once, exactly
// one becomes the admin, whatever order the database sees them in; with
// --signup closed exactly one of them gets in at all.
func TestFirstAccountIsAdminRaceFree(t *testing.T) {
	const n = 8
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) {
			in := start(t, "", "", "--signup", mode)
			// Every browser loads the form first; then all send at once.
			clients := make([]*http.Client, n)
			csrfs := make([]string, n)
			for i := range n {
				clients[i] = noRedirects(newJar(t))
				csrfs[i] = csrfOf(t, clients[i], in.URL+"/signup")
			}
			statuses := make([]int, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-gate
					name := fmt.Sprintf("racer%d", i)
					resp, err := clients[i].PostForm(in.URL+"/signup", url.Values{"_csrf": {csrfs[i]}, "name": {name}, "password": {"password-of-" + name}})
					if err != nil {
						errs[i] = err
						return
					}
					io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
					resp.Body.Close()
					statuses[i] = resp.StatusCode
				})
			}
			close(gate)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			var in303 []int
			for i, s := range statuses {
				if s == http.StatusSeeOther {
					in303 = append(in303, i)
				} else if mode == "open" || s != http.StatusForbidden {
					t.Errorf("sign-up %d: %d", i, s)
				}
			}
			if mode == "closed" && len(in303) != 1 {
				t.Fatalf("with --signup closed, %d of %d first sign-ups got in (%v), want exactly 1", len(in303), n, statuses)
			}
			// Who is admin shows in what they may do: make an ingest token.
			admins := 0
			for _, i := range in303 {
				a := signedIn(t, in.URL, fmt.Sprintf("racer%d", i), clients[i])
				resp, body := tokenForm(t, in.URL, a, "ingest:metrics")
				switch resp.StatusCode {
				case http.StatusSeeOther: // made: on to the page that shows it
					admins++
				case http.StatusForbidden:
				default:
					t.Errorf("racer%d making a token: %s %.200s", i, resp.Status, body)
				}
			}
			if admins != 1 {
				t.Errorf("%d of %d accounts made at once may make ingest tokens, want exactly 1 (the one admin)", admins, len(in303))
			}
		})
	}
}

// TestOnlyAdminsMakeAPITokens: a member sees only the scopes that act as
// itself (chat, read) on /settings and is refused (403 naming the scope)
// when it sends the others anyway; a demoted admin's tokens stop working at
// once.
func TestOnlyAdminsMakeAPITokens(t *testing.T) {
	in := start(t, "", "")
	ann := signUp(t, in.URL, "ann") // the first account: admin
	bob := signUp(t, in.URL, "bob")

	annPage, _ := get(t, ann.C, in.URL+"/settings")
	bobPage, _ := get(t, bob.C, in.URL+"/settings")
	if !strings.Contains(annPage, `name="scope" value="ingest:metrics"`) {
		t.Errorf("the admin's settings page offers no ingest scope")
	}
	for _, scope := range []string{"ingest:metrics", "ingest:activity", "notify"} {
		if strings.Contains(bobPage, `name="scope" value="`+scope+`"`) {
			t.Errorf("a member's settings page offers scope %s, which it may not have", scope)
		}
	}
	for _, scope := range []string{"chat", "read"} {
		if !strings.Contains(bobPage, `name="scope" value="`+scope+`"`) {
			t.Errorf("a member's settings page does not offer scope %s", scope)
		}
	}
	for _, scope := range []string{"ingest:metrics", "ingest:activity", "notify"} {
		resp, body := tokenForm(t, in.URL, bob, scope)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, scope) || !strings.Contains(body, "admin") {
			t.Errorf("a member making a %s token: %s %.300s; want 403 naming the scope and admins", scope, resp.Status, body)
		}
	}
	if after, _ := get(t, bob.C, in.URL+"/settings"); strings.Contains(after, "try ") {
		t.Errorf("a refused token form made a token")
	}
	annTok := createToken(t, in.URL, ann, "ingest:activity")
	if status, body := apiPost(t, in.URL, "/api/activity", annTok, map[string]string{"text": "by the admin"}); status != http.StatusCreated {
		t.Fatalf("the admin's token: %d %s", status, body)
	}

	// Made admin from the command line, bob may; demoted, his token is
	// refused at its next use.
	runCLI(t, "user", "admin", "bob", "--db", in.DB)
	bobTok := createToken(t, in.URL, bob, "ingest:activity")
	if status, body := apiPost(t, in.URL, "/api/activity", bobTok, map[string]string{"text": "by bob, admin"}); status != http.StatusCreated {
		t.Fatalf("bob's token while admin: %d %s", status, body)
	}
	runCLI(t, "user", "member", "bob", "--db", in.DB)
	if status, body := apiPost(t, in.URL, "/api/activity", bobTok, map[string]string{"text": "by bob, member"}); status != http.StatusForbidden || !strings.Contains(body, "needs an admin's token") {
		t.Errorf("a demoted admin's token: %d %s; want 403 saying it needs an admin's token", status, body)
	}
	if status, _ := apiPost(t, in.URL, "/api/activity", testToken, map[string]string{"text": "server token"}); status != http.StatusCreated {
		t.Errorf("a server token (no owner) stopped working: %d", status)
	}
	// The last admin cannot be demoted: someone must be left to make tokens.
	if err := run(t.Context(), []string{"user", "member", "ann", "--db", in.DB}, testEnv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "last admin") {
		t.Errorf("demoting the last admin: %v, want a refusal saying so", err)
	}
	out, _ := runCLI(t, "user", "list", "--db", in.DB)
	if !regexp.MustCompile(`(?m)^\d+\s+ann\s+admin\b`).MatchString(out) || !regexp.MustCompile(`(?m)^\d+\s+bob\s+member\b`).MatchString(out) {
		t.Errorf("user list:\n%s\nwant ann admin, bob member", out)
	}
	for _, bad := range [][]string{{"user"}, {"user", "admin"}, {"user", "admin", "nobody"}, {"user", "promote", "bob"}, {"user", "create", "a b"}} {
		if err := run(t.Context(), append(bad, "--db", in.DB), testEnv, io.Discard, io.Discard); err == nil {
			t.Errorf("beacon %v: no error", bad)
		}
	}
}

// peek fetches u and reads the answer, unless it is a stream that works
// (200): those never end, and their status is all a refusal test needs.
func peek(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp, ""
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// mintWidget posts the "Embed" form as a (nil: a signed-out browser, with
// the CSRF token of a page) and returns the answer and the token in it.
func mintWidget(t testing.TB, base string, a *account, form url.Values) (*http.Response, string, string) {
	t.Helper()
	c := noRedirects(newJar(t))
	if a != nil {
		c = a.C
		form.Set("_csrf", a.CSRF)
	} else {
		form.Set("_csrf", csrfOf(t, c, base+"/login"))
	}
	resp, body := postForm(t, c, base+"/embed/tokens", form)
	if resp.StatusCode == http.StatusSeeOther {
		resp, body = followRedirect(t, c, base, resp) // Post/Redirect/Get
	}
	m := regexp.MustCompile(`/embed/[a-z/]+\?token=([^&"]+)`).FindStringSubmatch(body)
	tok := ""
	if m != nil {
		tok, _ = url.QueryUnescape(m[1])
	}
	return resp, body, tok
}

// TestOnlyAdminsMintPostingWidgets: a member may make read-only widgets but
// not posting ones; a signed-out browser makes none; every widget made is
// listed on its maker's settings page, and all of them on an admin's.
func TestOnlyAdminsMintPostingWidgets(t *testing.T) {
	in := startEmbed(t)
	ann := signUp(t, in.URL, "ann")
	bob := signUp(t, in.URL, "bob")
	posting := func() url.Values {
		return url.Values{"widget": {"room"}, "room": {"lobby"}, "post": {"true"}, "origins": {"http://127.0.0.1:1"}, "ttl": {"24h"}}
	}
	resp, body, _ := mintWidget(t, in.URL, bob, posting())
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "admin") {
		t.Errorf("a member making a posting widget: %s %.300s; want 403 saying admins do", resp.Status, body)
	}
	resp, body, _ = mintWidget(t, in.URL, nil, url.Values{"widget": {"chart"}, "ttl": {"24h"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "sign in") {
		t.Errorf("a signed-out browser making a widget: %s %.300s; want 403 saying to sign in", resp.Status, body)
	}
	resp, _, readOnly := mintWidget(t, in.URL, bob, url.Values{"widget": {"room"}, "room": {"lobby"}, "origins": {"http://127.0.0.1:1"}, "ttl": {"24h"}})
	if resp.StatusCode != http.StatusOK || readOnly == "" {
		t.Fatalf("a member making a read-only room widget: %s", resp.Status)
	}
	resp, _, poster := mintWidget(t, in.URL, ann, posting())
	if resp.StatusCode != http.StatusOK || poster == "" {
		t.Fatalf("the admin making a posting widget: %s", resp.Status)
	}
	c := streamClient(t)
	if r, body := postForm(t, c, in.URL+"/embed/rooms/lobby/messages", url.Values{"token": {poster}, "name": {"Visitor"}, "content": {"hi"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("posting from the admin's widget: %s %.200s", r.Status, body)
	}

	widgetRows := regexp.MustCompile(`action="/settings/widgets/(\d+)/revoke"`)
	bobPage, _ := get(t, bob.C, in.URL+"/settings")
	annPage, _ := get(t, ann.C, in.URL+"/settings")
	if got := len(widgetRows.FindAllString(bobPage, -1)); got != 1 {
		t.Errorf("bob's settings list %d widget tokens, want his 1", got)
	}
	if got := len(widgetRows.FindAllString(annPage, -1)); got != 2 {
		t.Errorf("the admin's settings list %d widget tokens, want all 2", got)
	}
	// A member cannot revoke someone else's widget: it keeps working.
	annsID := widgetRows.FindAllStringSubmatch(annPage, -1)
	for _, m := range annsID {
		postForm(t, bob.C, in.URL+"/settings/widgets/"+m[1]+"/revoke", url.Values{"_csrf": {bob.CSRF}})
	}
	if r, _ := fetchPage(t, c, in.URL+"/embed/rooms/lobby?token="+url.QueryEscape(poster)); r.StatusCode != http.StatusOK {
		t.Errorf("the admin's widget after a member tried to revoke it: %d, want 200", r.StatusCode)
	}
}

// TestRevokedWidgetTokenIsRefusedEverywhere: revoking a widget token on
// /settings refuses its page, its posts and its streams, and ends the
// live connections it has open.
func TestRevokedWidgetTokenIsRefusedEverywhere(t *testing.T) {
	in := startEmbed(t)
	ann := signUp(t, in.URL, "ann")
	_, _, tok := mintWidget(t, in.URL, ann, url.Values{"widget": {"room"}, "room": {"lobby"}, "post": {"true"},
		"origins": {"http://127.0.0.1:1"}, "ttl": {"24h"}})
	if tok == "" {
		t.Fatal("no token made")
	}
	q := "?token=" + url.QueryEscape(tok)
	c := streamClient(t)
	if r, body := fetchPage(t, c, in.URL+"/embed/rooms/lobby"+q); r.StatusCode != http.StatusOK {
		t.Fatalf("the new widget: %d %.200s", r.StatusCode, body)
	}
	sse := openStream(t, in.URL+"/embed/live"+q, "")
	if b, err := sse.Next(); err != nil || !isPositionBlock(b) {
		t.Fatalf("the widget's SSE began with %+v %v", b, err)
	}
	stream, err := c.Get(in.URL + "/stream/rooms/lobby" + q)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	br := bufio.NewReader(stream.Body)
	var seen strings.Builder
	readStreamUntil(t, br, &seen, `<div class="frame">`)

	page, _ := get(t, ann.C, in.URL+"/settings")
	m := regexp.MustCompile(`action="/settings/widgets/(\d+)/revoke"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the widget token is not listed on its maker's settings page: %.2000s", page)
	}
	if resp, _ := postForm(t, ann.C, in.URL+"/settings/widgets/"+m[1]+"/revoke", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("revoking without the CSRF token: %s, want 403", resp.Status)
	}
	if resp, body := postForm(t, ann.C, in.URL+"/settings/widgets/"+m[1]+"/revoke", url.Values{"_csrf": {ann.CSRF}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %s %.200s", resp.Status, body)
	}
	// Both open connections end: they were closed before the revoke was
	// answered (the test's own deadline only keeps a failure from hanging).
	for {
		if _, err := sse.Next(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("the revoked widget's SSE ended with %v, want its end", err)
			}
			break
		}
	}
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("the revoked widget's stream ended with %v, want its end", err)
	}
	if after, _ := get(t, ann.C, in.URL+"/settings"); !strings.Contains(after, "revoked") {
		t.Errorf("the settings page does not say the widget was revoked")
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", "/embed/rooms/lobby" + q}, {"GET", "/stream/rooms/lobby" + q}, {"GET", "/embed/live" + q},
		{"POST", "/embed/rooms/lobby/messages"},
	} {
		var resp *http.Response
		var body string
		if tc.method == "POST" {
			resp, body = postForm(t, c, in.URL+tc.path, url.Values{"token": {tok}, "name": {"Visitor"}, "content": {"after revoke"}})
		} else {
			resp, body = fetchPage(t, c, in.URL+tc.path)
		}
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
			t.Errorf("%s %s with a revoked token: %d %.200s; want 401 saying it was revoked", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	if _, body := fetchPage(t, c, in.URL+"/api/rooms/lobby/messages"); strings.Contains(body, "after revoke") {
		t.Errorf("a revoked widget posted")
	}
}

// TestWidgetTokensFromTheCommandLine: beacon embed create stores the token
// it makes, embed list shows it, embed revoke refuses it from then on and
// ends its open connections on the running server.
func TestWidgetTokensFromTheCommandLine(t *testing.T) {
	in := start(t, "", "")
	out, _ := runCLI(t, "embed", "create", "--widget", "activity", "--origin", "http://127.0.0.1:9", "--db", in.DB, "--base", in.URL)
	tok := strings.Split(out, "\n")[1]
	q := "?token=" + url.QueryEscape(tok)
	list, _ := runCLI(t, "embed", "list", "--db", in.DB)
	m := regexp.MustCompile(`(?m)^(\d+)\s+activity\s`).FindStringSubmatch(list)
	if m == nil || !strings.Contains(list, "http://127.0.0.1:9") || !strings.Contains(list, "cli") {
		t.Fatalf("embed list:\n%s\nwant the activity widget, its origin and its maker (the CLI)", list)
	}
	sse := openStream(t, in.URL+"/embed/live"+q, "")
	if b, err := sse.Next(); err != nil || !isPositionBlock(b) {
		t.Fatalf("the widget's SSE began with %+v %v", b, err)
	}
	runCLI(t, "embed", "revoke", m[1], "--db", in.DB)
	// The server notices a revocation made by another process within
	// seconds; the stream's own deadline (a minute) only bounds a failure.
	for {
		if _, err := sse.Next(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("the revoked widget's SSE ended with %v, want its end", err)
			}
			break
		}
	}
	if r, body := fetchPage(t, streamClient(t), in.URL+"/embed/activity"+q); r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Errorf("a widget revoked from the CLI: %d %.200s; want 401", r.StatusCode, body)
	}
	list, _ = runCLI(t, "embed", "list", "--db", in.DB)
	if !strings.Contains(list, "revoked") {
		t.Errorf("embed list after revoke:\n%s", list)
	}
	for _, bad := range [][]string{{"embed", "revoke"}, {"embed", "revoke", "x"}, {"embed", "revoke", "999"}, {"embed", "burn"}} {
		if err := run(t.Context(), append(bad, "--db", in.DB), testEnv, io.Discard, io.Discard); err == nil {
			t.Errorf("beacon %v: no error", bad)
		}
	}
}

// TestWidgetTokensWithoutID: a token made before widget tokens had ids
// cannot be revoked, so it is refused with a page that says what to do.
func TestWidgetTokensWithoutID(t *testing.T) {
	in := startEmbed(t)
	c := streamClient(t)
	for _, u := range []string{"/embed/metrics?token=" + legacyMetricsToken, "/stream/metrics?token=" + legacyMetricsToken,
		"/embed/live?token=" + legacyMetricsToken, "/embed/rooms/lobby?token=" + legacyPostingToken} {
		r, body := peek(t, c, in.URL+u)
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "before") || !strings.Contains(body, "make a new one") {
			t.Errorf("GET %s: %d %.300s; want 401 saying it was made before revocation existed", u, r.StatusCode, body)
		}
	}
	r, body := postForm(t, c, in.URL+"/embed/rooms/lobby/messages", url.Values{"token": {legacyPostingToken}, "name": {"Old"}, "content": {"old token"}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("posting with a token without id: %d %.200s; want 401", r.StatusCode, body)
	}
}

// TestDashboardForMembers: with --dashboard members (the default) the
// dashboard, its topics and (unless guests may post) the rooms need a
// sign-in; widgets keep working by token; the server panel is an admin's.
func TestDashboardForMembers(t *testing.T) {
	in := start(t, "", "", "--guests=false", "--dashboard", "members")
	c := noRedirects(newJar(t))
	for _, p := range []string{"/", "/rooms/lobby"} {
		resp, _ := fetchPage(t, c, in.URL+p)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape(p) {
			t.Errorf("signed out, GET %s: %d to %q; want 303 to sign in", p, resp.StatusCode, loc)
		}
	}
	for _, topics := range []string{views.TopicMetrics, views.TopicChart, views.TopicActivity, "rooms", views.TopicRoom("lobby"), views.TopicPresence("lobby")} {
		resp, body := peek(t, c, liveURL(in.URL, topics))
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "sign in") {
			t.Errorf("signed out, /live?topics=%s: %d %.200s; want 401 saying to sign in", topics, resp.StatusCode, body)
		}
	}
	if resp, body := fetchPage(t, c, in.URL+"/api/rooms/lobby/messages"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed out, room history: %d %.200s; want 401", resp.StatusCode, body)
	}
	for _, p := range []string{"/login", "/signup", "/healthz"} {
		if _, status := get(t, c, in.URL+p); status != http.StatusOK {
			t.Errorf("signed out, GET %s: %d, want 200", p, status)
		}
	}

	ann := signUp(t, in.URL, "ann") // admin
	bob := signUp(t, in.URL, "bob") // member
	annDash, _ := get(t, ann.C, in.URL+"/")
	bobDash, status := get(t, bob.C, in.URL+"/")
	if status != http.StatusOK {
		t.Fatalf("a member's dashboard: %d", status)
	}
	for _, figure := range []string{"Goroutines", "Live connections", "Response time p95", "Requests/s"} {
		if !strings.Contains(annDash, figure) {
			t.Errorf("the admin's dashboard lacks %q", figure)
		}
		if strings.Contains(bobDash, figure) {
			t.Errorf("a member's dashboard shows the server's %q", figure)
		}
	}
	st := userStream(t, in.URL, bob, "")
	if b, err := st.Next(); err != nil || !isPositionBlock(b) {
		t.Errorf("a member's live connection: %+v %v", b, err)
	}
	st.Close()
	// The server panel's topics are an admin's.
	day, _ := views.ChartRangeNamed("24h")
	for _, topic := range []string{views.TopicServerMetrics, views.TopicServerChartRange(views.DefaultChartRange()), views.TopicServerChartRange(day)} {
		if resp, body := peek(t, bob.C, liveURL(in.URL, topic)); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "admin") {
			t.Errorf("a member reading %s: %d %.200s; want 403", topic, resp.StatusCode, body)
		}
		if resp, body := peek(t, c, liveURL(in.URL, topic)); resp.StatusCode != http.StatusForbidden {
			t.Errorf("signed out, reading %s: %d %.200s; want 403", topic, resp.StatusCode, body)
		}
		if resp, _ := peek(t, ann.C, liveURL(in.URL, topic)); resp.StatusCode != http.StatusOK {
			t.Errorf("the admin reading %s: %d, want 200", topic, resp.StatusCode)
		}
	}

	// Widgets keep working: their token is their credential.
	_, _, tok := mintWidget(t, in.URL, bob, url.Values{"widget": {"activity"}, "origins": {"http://127.0.0.1:1"}, "ttl": {"1h"}})
	if r, body := fetchPage(t, c, in.URL+"/embed/activity?token="+url.QueryEscape(tok)); r.StatusCode != http.StatusOK {
		t.Errorf("a widget in members mode: %d %.200s", r.StatusCode, body)
	}

	// With guests, rooms stay open to signed-out visitors; the dashboard does not.
	guests := start(t, "", "", "--guests", "--dashboard", "members")
	gc := noRedirects(newJar(t))
	if _, status := get(t, gc, guests.URL+"/rooms/lobby"); status != http.StatusOK {
		t.Errorf("with --guests, a signed-out room page: %d, want 200", status)
	}
	if resp, _ := fetchPage(t, gc, guests.URL+"/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("with --guests, the signed-out dashboard: %d, want 303", resp.StatusCode)
	}

	// Public: anyone sees the dashboard, but not the server panel.
	pub := start(t, "", "", "--dashboard", "public")
	page, status := get(t, newJar(t), pub.URL+"/")
	if status != http.StatusOK || strings.Contains(page, "Goroutines") {
		t.Errorf("--dashboard public, signed out: %d, server figures shown %v; want 200 without them", status, strings.Contains(page, "Goroutines"))
	}
	st = openStream(t, liveURL(pub.URL, views.TopicMetrics+","+views.TopicActivity), "")
	if b, err := st.Next(); err != nil || !isPositionBlock(b) {
		t.Errorf("--dashboard public, signed-out /live: %+v %v", b, err)
	}
}

// TestSignupClosed: with --signup closed the first account may still sign
// up (someone must be admin); after that /signup says an admin makes
// accounts, and beacon user create does.
func TestSignupClosed(t *testing.T) {
	in := start(t, "", "", "--signup", "closed")
	signUp(t, in.URL, "ann")
	c := noRedirects(newJar(t))
	if page, status := get(t, c, in.URL+"/signup"); status != http.StatusForbidden || !strings.Contains(page, "an admin must create accounts") ||
		strings.Contains(page, `action="/signup"`) {
		t.Errorf("the closed sign-up page: %d; want 403 saying an admin makes accounts, and no form", status)
	}
	csrf := csrfOf(t, c, in.URL+"/login")
	resp, body := postForm(t, c, in.URL+"/signup", url.Values{"_csrf": {csrf}, "name": {"mallory"}, "password": {"password-of-mallory"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "an admin must create accounts") {
		t.Errorf("a second sign-up with --signup closed: %s %.300s; want 403 saying an admin makes accounts", resp.Status, body)
	}
	out, _ := runCLI(t, "user", "create", "carol", "--db", in.DB)
	password := strings.TrimSpace(out)
	if len(password) < 16 {
		t.Fatalf("user create printed %q, want a generated password", out)
	}
	csrf = csrfOf(t, c, in.URL+"/login")
	resp, body = postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {"carol"}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signing in with the generated password: %s %.200s", resp.Status, body)
	}
	carol := signedIn(t, in.URL, "carol", c)
	if resp, _ := tokenForm(t, in.URL, carol, "notify"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an account made with user create is a member, but could make a notify token: %s", resp.Status)
	}
	if err := run(t.Context(), []string{"user", "create", "carol", "--db", in.DB}, testEnv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("user create with a taken name: %v", err)
	}

	// A password from stdin (its first line); a bad one changes nothing.
	var out2, errOut strings.Builder
	if err := runUser(t.Context(), []string{"create", "dave", "--password-stdin", "--db", in.DB}, testEnv,
		strings.NewReader("dave's own password\nnot this line\n"), &out2, &errOut); err != nil || out2.Len() != 0 {
		t.Fatalf("user create --password-stdin: %v, printed %q", err, out2.String())
	}
	c = noRedirects(newJar(t))
	csrf = csrfOf(t, c, in.URL+"/login")
	if resp, _ := postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {"dave"}, "password": {"dave's own password"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("signing in with the password from stdin: %s", resp.Status)
	}
	err := runUser(t.Context(), []string{"create", "erin", "--password-stdin", "--db", in.DB}, testEnv, strings.NewReader("short\n"), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("a short password from stdin: %v, want an error naming the password", err)
	}
	if out, _ := runCLI(t, "user", "list", "--db", in.DB); strings.Contains(out, "erin") || !strings.Contains(out, "dave") {
		t.Errorf("user list after a refused create:\n%s", out)
	}
}

// TestAccessSettings: the dashboard is for members and sign-up open unless
// said otherwise; anything else is refused naming the setting.
func TestAccessSettings(t *testing.T) {
	c, err := newConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil || c.Dashboard != "members" || c.Signup != "open" {
		t.Fatalf("defaults: dashboard %q, signup %q, %v; want members and open", c.Dashboard, c.Signup, err)
	}
	env := map[string]string{"BEACON_DASHBOARD": "public", "BEACON_SIGNUP": "closed"}
	c, err = newConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.Dashboard != "public" || c.Signup != "closed" {
		t.Fatalf("from the environment: dashboard %q, signup %q, %v", c.Dashboard, c.Signup, err)
	}
	for _, args := range [][]string{{"--dashboard", "everyone"}, {"--signup", "invite"}} {
		if _, err := newConfig(args, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v, want an error naming the setting", args, err)
		}
	}
}
