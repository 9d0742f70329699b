package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/beacon-live/beacon/views"
)

// misconfiguredProxy serves a reverse proxy to in on a loopback port, with
// rewrite applied to every request on its way to Beacon: how a proxy
// configured without docs/deploy.md looks to Beacon.
func misconfiguredProxy(t *testing.T, in *instance, rewrite func(pr *httputil.ProxyRequest)) string {
	t.Helper()
	target, _ := url.Parse(in.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	srv := &http.Server{Handler: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			rewrite(pr)
		},
		Transport: tr,
		ErrorLog:  nil,
	}}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return "http://" + ln.Addr().String()
}

// TestBrowserRefusedSocketSaysWhy: a room page whose WebSocket the server
// refuses shows why, painted by the message form, instead of
// "Reconnecting…" for ever; the two classic reverse proxy mistakes, a Host
// without the browser's port and an upgrade that is not passed on, each
// get their reason.
func TestBrowserRefusedSocketSaysWhy(t *testing.T) {
	in := rbStart(t)
	// The proxy sends Beacon's own address as Host (as nginx does with the
	// upstream's name, or $host without the port): pages load, but the
	// socket's Origin is not the origin Beacon believes it has.
	wrongHost := misconfiguredProxy(t, in, func(*httputil.ProxyRequest) {})
	// The proxy passes Host but drops the upgrade (nginx without
	// proxy_set_header Upgrade/Connection).
	noUpgrade := misconfiguredProxy(t, in, func(pr *httputil.ProxyRequest) {
		pr.Out.Host = pr.In.Host
		pr.Out.Header.Del("Upgrade")
		pr.Out.Header.Del("Connection")
	})

	browser := newBrowserPage(t)
	for _, tc := range []struct {
		name, base string
		says       []string
		state      string
	}{
		{"a Host without the port", wrongHost, []string{"refused", "Origin", wrongHost, in.URL, "docs/deploy.md"}, "offline"},
		{"no upgrade", noUpgrade, []string{"did not get through", "upgrade"}, "reconnecting"},
	} {
		tab := newChatTab(t, browser, "ann")
		tab.visit(tc.base + "/rooms/lobby")
		tab.chooseName("ann")
		var shown struct {
			Text    string
			Box     bool
			State   string
			Visible bool
		}
		tab.waitFor(tc.name+": the reason by the message form",
			rb(`(() => { const e = document.getElementById(`+jsValue("chat-error")+`); const r = e && e.getBoundingClientRect();
				return e && text(e) !== '' && {text: text(e), box: r.width > 0 && r.height > 0, visible: visible(e), state: indicator().dataset.state}; })()`), &shown)
		for _, w := range tc.says {
			if !strings.Contains(shown.Text, w) {
				t.Errorf("%s: the page says %q; want it to say %q", tc.name, shown.Text, w)
			}
		}
		if !shown.Box || !shown.Visible {
			t.Errorf("%s: the reason %q is in the page but not painted (box %v, visible %v)", tc.name, shown.Text, shown.Box, shown.Visible)
		}
		if shown.State != tc.state {
			t.Errorf("%s: the indicator is %q, want %q", tc.name, shown.State, tc.state)
		}
		t.Logf("%s: the page says %q", tc.name, shown.Text)
		tab.close()
	}
}

// TestSocketCheck: what a room page asks when its socket does not open.
// The check is judged as the upgrade was (the origin the page names, the
// session, the room) and never opens a socket; a plain request that is no
// check says the upgrade did not reach the server.
func TestSocketCheck(t *testing.T) {
	t.Parallel()
	in := start(t, "", "", "--guests=false", "--dashboard", "members")
	ann := signUp(t, in.URL, "ann")
	check := func(c *http.Client, path, origin string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, in.URL+path, nil)
		req.Header.Set("Accept", "application/json")
		if origin != "" {
			req.Header.Set(views.HeaderSocketCheck, origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, path, origin string
		c                  *http.Client
		status             int
		says               string
	}{
		{"the page's own origin", "/rooms/lobby/ws", in.URL, ann.C, http.StatusOK, `"ok":true`},
		{"a foreign origin", "/rooms/lobby/ws", "http://evil.example", ann.C, http.StatusForbidden, "evil.example"},
		{"signed out", "/rooms/lobby/ws", in.URL, http.DefaultClient, http.StatusUnauthorized, "sign in"},
		{"a bad room", "/rooms/a%20b/ws", in.URL, ann.C, http.StatusBadRequest, "room"},
		{"no check, no upgrade", "/rooms/lobby/ws", "", ann.C, http.StatusBadRequest, "without its upgrade"},
	} {
		if status, body := check(tc.c, tc.path, tc.origin); status != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s; want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
}
