package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/beacon-live/beacon/views"
)

// newJar returns a client with its own cookie jar: one browser.
func newJar(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// noRedirects returns c changed to hand back redirects instead of following them.
func noRedirects(c *http.Client) *http.Client {
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrfOf loads page with c and returns the CSRF token of its forms.
func csrfOf(t testing.TB, c *http.Client, page string) string {
	t.Helper()
	body, status := get(t, c, page)
	m := csrfField.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		t.Fatalf("GET %s: %d, no CSRF field in %.300s", page, status, body)
	}
	return m[1]
}

// get returns the body and status of GET page.
func get(t testing.TB, c *http.Client, page string) (string, int) {
	t.Helper()
	resp, body := fetchPage(t, c, page)
	return body, resp.StatusCode
}

// postForm posts form to page with c and returns the answer, body read. It
// does not follow a redirect: the redirect is the answer.
func postForm(t testing.TB, c *http.Client, page string, form url.Values) (*http.Response, string) {
	t.Helper()
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := nc.PostForm(page, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// account is a signed-in browser of a test.
type account struct {
	Name string
	ID   int64
	C    *http.Client // its cookie jar holds the session
	CSRF string
}

var userTopic = regexp.MustCompile(`topics=user%3A(\d+)`)

// signUp makes an account through the sign-up form and returns its browser.
func signUp(t testing.TB, base, name string) *account { return authForm(t, base, "/signup", name) }

// signIn signs name in from a new browser.
func signIn(t testing.TB, base, name string) *account { return authForm(t, base, "/login", name) }

// authForm sends the form at path (sign-up or sign-in) for name from a new
// browser, with the password every test account has.
func authForm(t testing.TB, base, path, name string) *account {
	t.Helper()
	c := noRedirects(newJar(t))
	csrf := csrfOf(t, c, base+path)
	resp, body := postForm(t, c, base+path, url.Values{"_csrf": {csrf}, "name": {name}, "password": {"password-of-" + name}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("%s as %s: %s %.300s", path, name, resp.Status, body)
	}
	return signedIn(t, base, name, c)
}

// signedIn reads the account's id and CSRF token from its notifications page.
func signedIn(t testing.TB, base, name string, c *http.Client) *account {
	t.Helper()
	page, status := get(t, c, base+"/notifications")
	m := userTopic.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		t.Fatalf("%s's notifications page: %d %.300s", name, status, page)
	}
	id, _ := strconv.ParseInt(m[1], 10, 64)
	return &account{Name: name, ID: id, C: c, CSRF: csrfField.FindStringSubmatch(page)[1]}
}

// apiPost posts a JSON body to an API route with a bearer token ("" for
// none) and returns the status and body.
func apiPost(t testing.TB, base, path, token string, body any) (int, string) {
	t.Helper()
	js, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(string(js)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// notify sends user a notification with the test token and returns its position.
func notify(t testing.TB, base, user, title string) int64 {
	t.Helper()
	status, body := apiPost(t, base, "/api/notifications", testToken, map[string]string{"user": user, "title": title})
	var n struct{ Position int64 }
	if status != http.StatusCreated || json.Unmarshal([]byte(body), &n) != nil || n.Position == 0 {
		t.Fatalf("notify %s %q: %d %s", user, title, status, body)
	}
	return n.Position
}

// userStream opens a's live stream of its own topic (and the activity
// feed), resuming from lastID when it is not empty.
func userStream(t testing.TB, base string, a *account, lastID string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	st, err := dialSSE(ctx, a.C, liveURL(base, views.TopicActivity+","+views.TopicUser(a.ID)), lastID)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); cancel() })
	return st
}

var notificationItem = regexp.MustCompile(`id="notification-(\d+)"`)

// nextNotification reads st up to the next notification event and returns
// its position and its data.
func nextNotification(t testing.TB, st *sseStream) (int64, string) {
	t.Helper()
	for {
		b, err := st.NextEvent()
		if err != nil {
			t.Fatalf("stream ended before a notification: %v", err)
		}
		if m := notificationItem.FindStringSubmatch(b.Data); m != nil && strings.Contains(b.Data, "hx-partial") {
			_, pos := mustParseID(t, b.ID)
			if want, _ := strconv.ParseInt(m[1], 10, 64); want != pos {
				t.Fatalf("event id %s carries notification %d", b.ID, want)
			}
			return pos, b.Data
		}
	}
}

func TestAccountsSignUpInOut(t *testing.T) {
	in := start(t, "", "")
	ann := signUp(t, in.URL, "ann")

	// The name is taken in any case.
	c := noRedirects(newJar(t))
	csrf := csrfOf(t, c, in.URL+"/signup")
	resp, body := postForm(t, c, in.URL+"/signup", url.Values{"_csrf": {csrf}, "name": {"ANN"}, "password": {"another password"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "That name is taken.") {
		t.Errorf("sign up as ANN: %s, want 409 and a reason", resp.Status)
	}
	// Bad names and short passwords are refused with the reason.
	for _, f := range []url.Values{
		{"name": {"a b"}, "password": {"long enough"}},
		{"name": {"<script>"}, "password": {"long enough"}},
		{"name": {"bob"}, "password": {"short"}},
	} {
		f.Set("_csrf", csrf)
		resp, body := postForm(t, c, in.URL+"/signup", f)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `class="form-error"`) {
			t.Errorf("sign up %v: %s, want 400 with the reason", f, resp.Status)
		}
	}
	// A wrong password says so, and does not tell whether the name exists.
	csrf = csrfOf(t, c, in.URL+"/login")
	for _, name := range []string{"ann", "nobody"} {
		resp, body := postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {name}, "password": {"wrong password"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong name or password.") {
			t.Errorf("sign in as %s with a wrong password: %s", name, resp.Status)
		}
	}
	// ?next is followed on this site only.
	for next, want := range map[string]string{"/rooms/lobby": "/rooms/lobby", "//evil.example/x": "/", "https://evil.example": "/"} {
		csrf := csrfOf(t, c, in.URL+"/login") // signed in by the last round, the form carries the session's token
		resp, _ := postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {"ann"}, "password": {"password-of-ann"}, "next": {next}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("sign in with next=%s: %s to %q, want %q", next, resp.Status, resp.Header.Get("Location"), want)
		}
	}
	// The session cookie is HttpOnly and SameSite=Lax.
	c2 := noRedirects(newJar(t))
	csrf2 := csrfOf(t, c2, in.URL+"/login")
	resp, _ = postForm(t, c2, in.URL+"/login", url.Values{"_csrf": {csrf2}, "name": {"ann"}, "password": {"password-of-ann"}})
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "beacon_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie %+v, want HttpOnly and SameSite=Lax", session)
	}

	// Signing out ends the session and its live connections (closed before
	// the sign-out is answered): the cookie no longer signs anyone in.
	st := userStream(t, in.URL, ann, "")
	if b, err := st.Next(); err != nil || !isPositionBlock(b) {
		t.Fatalf("first block %+v %v", b, err)
	}
	resp, _ = postForm(t, ann.C, in.URL+"/logout", url.Values{"_csrf": {ann.CSRF}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %s", resp.Status)
	}
	for {
		if _, err := st.Next(); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Errorf("the stream of a signed-out session ended with %v", err)
			}
			break
		}
	}
	if _, status := get(t, ann.C, in.URL+"/notifications"); status != http.StatusSeeOther {
		t.Errorf("notifications after signing out: %d, want 303 to /login", status)
	}
}

// TestAuthorizationEdges: every way in that should be shut is, with a
// status and a body that say why, and changes nothing.
func TestAuthorizationEdges(t *testing.T) {
	in := start(t, "", "")
	ann, bob := signUp(t, in.URL, "ann"), signUp(t, in.URL, "bob")

	t.Run("another user's topic", func(t *testing.T) {
		for who, c := range map[string]*http.Client{"bob": bob.C, "a signed-out visitor": newJar(t)} {
			resp, err := c.Get(liveURL(in.URL, views.TopicUser(ann.ID)))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
				strings.Contains(string(body), "id:") || !strings.Contains(string(body), "private topic") {
				t.Errorf("%s reading ann's topic: %s %q: %.200s; want 403, no stream", who, resp.Status, resp.Header.Get("Content-Type"), body)
			}
		}
		// Not even hidden among public topics.
		resp, err := bob.C.Get(liveURL(in.URL, views.TopicActivity+","+views.TopicUser(ann.ID)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("bob asking for activity and ann's topic: %s, want 403", resp.Status)
		}
	})

	t.Run("revoked session", func(t *testing.T) {
		first := signIn(t, in.URL, "ann") // the browser whose session is revoked
		other := signIn(t, in.URL, "ann") // the one that revokes it
		st := userStream(t, in.URL, first, "")
		if b, err := st.Next(); err != nil || !isPositionBlock(b) {
			t.Fatalf("first block %+v %v", b, err)
		}
		sock, _, err := websocket.DefaultDialer.Dial(strings.Replace(in.URL, "http", "ws", 1)+"/rooms/lobby/ws",
			http.Header{"Cookie": {cookieHeader(t, first.C, in.URL)}, "Origin": {in.URL}})
		if err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		// Its id is on the other browser's settings page.
		page, _ := get(t, other.C, in.URL+"/settings")
		id := revokableSession(t, page)
		resp, body := postForm(t, other.C, in.URL+"/settings/sessions/"+id+"/revoke", url.Values{"_csrf": {other.CSRF}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke: %s %.200s", resp.Status, body)
		}
		// The issue asks for "within a second"; the stream is closed before
		// the revoke is answered, so a second is only a bound.
		ended := make(chan error, 1)
		go func() {
			for {
				if _, err := st.Next(); err != nil {
					ended <- err
					return
				}
			}
		}()
		select {
		case err := <-ended:
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("the revoked session's stream ended with %v, want its end", err)
			}
		case <-time.After(time.Second):
			t.Fatal("the revoked session's stream was still open a second after the revoke")
		}
		sock.SetReadDeadline(time.Now().Add(time.Second))
		for {
			if _, _, err := sock.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
					t.Errorf("the revoked session's socket ended with %v, want close 1008", err)
				}
				break
			}
		}
		// And it cannot come back.
		resp, err = first.C.Get(liveURL(in.URL, views.TopicUser(first.ID)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("the revoked session reconnecting: %s, want 403", resp.Status)
		}
		if _, status := get(t, other.C, in.URL+"/settings"); status != http.StatusOK {
			t.Errorf("the other session was signed out too: %d", status)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		notifyToken := createToken(t, in.URL, ann, "notify")
		metricsToken := createToken(t, in.URL, ann, "ingest:metrics")
		if status, body := apiPost(t, in.URL, "/api/notifications", notifyToken, map[string]string{"user": "ann", "title": "hi"}); status != http.StatusCreated {
			t.Fatalf("notify with a working token: %d %s", status, body)
		}
		// A person's token notifies only that person.
		if status, body := apiPost(t, in.URL, "/api/notifications", notifyToken, map[string]string{"user": "bob", "title": "hi"}); status != http.StatusForbidden {
			t.Errorf("ann's token notifying bob: %d %s, want 403", status, body)
		}
		for _, tt := range []struct {
			name, token, want string
			status            int
		}{
			{"no token", "", "Authorization: Bearer", 401},
			{"unknown token", "bcn_nope", "not known", 401},
			{"wrong scope", metricsToken, "lacks scope notify", 403},
		} {
			status, body := apiPost(t, in.URL, "/api/notifications", tt.token, map[string]string{"user": "ann", "title": "x"})
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%s: %d %s, want %d saying %q", tt.name, status, body, tt.status, tt.want)
			}
		}
		page, _ := get(t, ann.C, in.URL+"/settings")
		m := regexp.MustCompile(`action="/settings/tokens/(\d+)/revoke"`).FindAllStringSubmatch(page, -1)
		if len(m) != 2 {
			t.Fatalf("settings lists %d revokable tokens, want 2", len(m))
		}
		for _, id := range m {
			if resp, _ := postForm(t, ann.C, in.URL+"/settings/tokens/"+id[1]+"/revoke", url.Values{"_csrf": {ann.CSRF}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke token %s: %s", id[1], resp.Status)
			}
		}
		status, body := apiPost(t, in.URL, "/api/notifications", notifyToken, map[string]string{"user": "ann", "title": "x"})
		if status != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
			t.Errorf("a revoked token: %d %s, want 401 saying revoked", status, body)
		}
	})

	t.Run("form without its CSRF token", func(t *testing.T) {
		for _, f := range []url.Values{
			{"name": {"sneaky"}, "scope": {"notify"}},
			{"name": {"sneaky"}, "scope": {"notify"}, "_csrf": {bob.CSRF}},
		} {
			resp, body := postForm(t, ann.C, in.URL+"/settings/tokens", f)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
				t.Errorf("token form %v: %s %.200s, want 403 about CSRF", f, resp.Status, body)
			}
		}
		resp, _ := postForm(t, ann.C, in.URL+"/logout", url.Values{})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out without CSRF: %s, want 403", resp.Status)
		}
		if after, _ := get(t, ann.C, in.URL+"/settings"); strings.Contains(after, "sneaky") {
			t.Error("a refused form made a token")
		}
		if _, status := get(t, ann.C, in.URL+"/notifications"); status != http.StatusOK {
			t.Error("a refused sign-out signed ann out")
		}
	})

	t.Run("20 wrong passwords", func(t *testing.T) {
		c := noRedirects(newJar(t))
		csrf := csrfOf(t, c, in.URL+"/login")
		var codes []int
		for range 20 {
			resp, _ := postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {"bob"}, "password": {"not bob's password"}})
			codes = append(codes, resp.StatusCode)
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
		if codes[0] != http.StatusUnauthorized || codes[19] != http.StatusTooManyRequests {
			t.Fatalf("statuses of 20 wrong passwords: %v, want 401 first and 429 by the end", codes)
		}
		// Throttled means throttled: the right password waits too.
		resp, body := postForm(t, c, in.URL+"/login", url.Values{"_csrf": {csrf}, "name": {"bob"}, "password": {"password-of-bob"}})
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
			t.Errorf("the right password while throttled: %s, want 429", resp.Status)
		}
	})
}

// TestPerAddressLimits: new live connections and API requests from one
// address past their burst get 429 with Retry-After.
func TestPerAddressLimits(t *testing.T) {
	in := start(t, "", "", "--live-rate", "0.01", "--live-burst", "2", "--api-rate", "0.01", "--api-burst", "3")
	for i := range 2 {
		st := openStream(t, liveURL(in.URL, views.TopicActivity), "")
		if b, err := st.Next(); err != nil || !isPositionBlock(b) {
			t.Fatalf("stream %d: %+v %v", i, b, err)
		}
	}
	resp, err := http.Get(liveURL(in.URL, views.TopicActivity))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "too many new live connections") {
		t.Errorf("third stream: %s, Retry-After %q: %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	var codes []int
	for range 4 {
		status, _ := apiPost(t, in.URL, "/api/activity", testToken, map[string]string{"text": "x"})
		codes = append(codes, status)
	}
	if fmt.Sprint(codes) != "[201 201 201 429]" {
		t.Errorf("API statuses %v, want three 201 and a 429", codes)
	}
}

// TestNotificationsResumeWithoutLoss: notifications sent while a user is
// away are all there, in order, when they come back; and a user who keeps
// dropping and coming back while they are sent loses none and sees none
// twice.
func TestNotificationsResumeWithoutLoss(t *testing.T) {
	in := start(t, "", "")
	ann := signUp(t, in.URL, "ann")

	st := userStream(t, in.URL, ann, "")
	first := notify(t, in.URL, "ann", "before leaving")
	if pos, _ := nextNotification(t, st); pos != first {
		t.Fatalf("live notification at %d, want %d", pos, first)
	}
	last := st.LastID
	st.Close()

	var want []int64
	for i := range 25 {
		want = append(want, notify(t, in.URL, "ann", fmt.Sprintf("while away %d", i)))
	}
	st = userStream(t, in.URL, ann, last)
	for i, w := range want {
		pos, data := nextNotification(t, st)
		if pos != w || !strings.Contains(data, fmt.Sprintf("while away %d<", i)) {
			t.Fatalf("after coming back, notification %d is %d %q, want %d", i, pos, data, w)
		}
		if !strings.Contains(data, fmt.Sprintf(`data-unread="%d"`, i+2)) {
			t.Errorf("notification %d carries the wrong unread count: %q", i, data)
		}
	}
	last = st.LastID
	st.Close()

	// Now while online: a poster sends 150 while the reader drops after
	// every few and resumes from its last id.
	const total = 150
	sent := make(chan int64, total)
	go func() {
		defer close(sent)
		for i := range total {
			status, body := apiPost(t, in.URL, "/api/notifications", testToken, map[string]string{"user": "ann", "title": fmt.Sprintf("online %d", i)})
			var n struct{ Position int64 }
			if status != http.StatusCreated || json.Unmarshal([]byte(body), &n) != nil {
				t.Errorf("notify %d: %d %s", i, status, body)
				return
			}
			sent <- n.Position
		}
	}()
	var got []int64
	for drop := 1; len(got) < total; drop = drop%7 + 1 {
		st := userStream(t, in.URL, ann, last)
		for range drop {
			if len(got) == total {
				break
			}
			pos, _ := nextNotification(t, st)
			got = append(got, pos)
		}
		last = st.LastID
		st.Close()
	}
	var stored []int64
	for p := range sent {
		stored = append(stored, p)
	}
	if fmt.Sprint(got) != fmt.Sprint(stored) {
		t.Fatalf("while dropping and resuming, got %v\nwant %v", got, stored)
	}
}

// TestTokenCommand: beacon token create prints a token once; it works; the
// database holds only its hash; list and revoke manage it.
func TestTokenCommand(t *testing.T) {
	dbPath := t.TempDir() + "/beacon.db"
	start(t, dbPath, "").Stop(t) // the server makes the database; the command refuses to
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"token", "create", "--scope", "notify", "--db", dbPath}, testEnv, &out, &errOut); err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut.String())
	}
	token := strings.TrimSpace(out.String())
	if !regexp.MustCompile(`^bcn_[A-Za-z0-9_-]{43}$`).MatchString(token) || !strings.Contains(errOut.String(), "not shown again") {
		t.Fatalf("token create printed %q (stderr %q), want one bcn_ token", out.String(), errOut.String())
	}

	// The database holds its hash, and the token nowhere.
	raw, err := sql.Open("sqlite3", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	if err := raw.QueryRow(`SELECT hash FROM tokens WHERE scopes = 'notify'`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256([]byte(token)); string(stored) != string(sum[:]) {
		t.Errorf("stored %x, want the token's SHA-256", stored)
	}
	var found int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM tokens WHERE instr(CAST(hash AS TEXT), ?) OR instr(name, ?) OR instr(scopes, ?)`,
		token, token, token).Scan(&found); err != nil || found != 0 {
		t.Errorf("the token itself is in the database (%d rows, %v)", found, err)
	}
	raw.Close()

	in := start(t, dbPath, "")
	signUp(t, in.URL, "ann")
	if status, body := apiPost(t, in.URL, "/api/notifications", token, map[string]string{"user": "ann", "title": "from the CLI"}); status != http.StatusCreated {
		t.Fatalf("notify with the CLI's token: %d %s", status, body)
	}
	in.Stop(t)

	out.Reset()
	if err := run(t.Context(), []string{"token", "list", "--db", dbPath}, testEnv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "notify") || strings.Contains(out.String(), token) {
		t.Errorf("token list:\n%s", out.String())
	}
	id := regexp.MustCompile(`(?m)^(\d+)\s+\(server\)\s+cli `).FindStringSubmatch(out.String())
	if id == nil {
		t.Fatalf("no CLI token in the list:\n%s", out.String())
	}
	if err := run(t.Context(), []string{"token", "revoke", id[1], "--db", dbPath}, testEnv, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	in = start(t, dbPath, "")
	if status, _ := apiPost(t, in.URL, "/api/notifications", token, map[string]string{"user": "ann", "title": "x"}); status != http.StatusUnauthorized {
		t.Errorf("a revoked CLI token: %d, want 401", status)
	}
	for _, bad := range [][]string{{"token"}, {"token", "create"}, {"token", "create", "--scope", "admin"}, {"token", "revoke", "x"}, {"token", "burn"}} {
		if err := run(t.Context(), append(bad, "--db", dbPath), testEnv, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// createToken makes a token with scope on a's settings page and returns it.
func createToken(t testing.TB, base string, a *account, scope string) string {
	t.Helper()
	post, _ := postForm(t, a.C, base+"/settings/tokens", url.Values{"_csrf": {a.CSRF}, "name": {"test " + scope}, "scope": {scope}})
	resp, body := followRedirect(t, a.C, base, post) // the page shows the new token once
	m := regexp.MustCompile(`<code id="new-token">([^<]+)</code>`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("create token: %s %.300s", resp.Status, body)
	}
	return m[1]
}

// revokableSession returns the id of a session on a settings page that is
// not the page's own.
func revokableSession(t testing.TB, page string) string {
	t.Helper()
	m := regexp.MustCompile(`action="/settings/sessions/(\d+)/revoke"`).FindAllStringSubmatch(page, -1)
	if len(m) == 0 {
		t.Fatalf("no session to revoke on %.500s", page)
	}
	return m[0][1]
}

// cookieHeader is the Cookie header c sends to base.
func cookieHeader(t testing.TB, c *http.Client, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}
