package main

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beacon-live/beacon/cluster"
)

// In a cluster the command line writes through the log (--nats): with
// --signup closed it is how accounts are made; roles, API and widget
// tokens and their revocation reach every instance; an instance's own
// database file still refuses writes, saying how to make them; and a NATS
// that holds no Beacon log is refused and left without one.
func TestClusterCommandLine(t *testing.T) {
	members := clusterArgs(t, 3)
	in := make([]*instance, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { in[i] = start(t, m.db, "", append(m.args, "--signup", "closed")...) })
	}
	wg.Wait()
	nats := members[1].natsURL(t)

	// The first account, made through B's NATS, signs in on A.
	out, _ := runCLI(t, "user", "create", "ann", "--nats", nats)
	password := strings.TrimSpace(out)
	c := noRedirects(newJar(t))
	waitFor(t, 10*time.Second, "ann, made on the command line, signs in on A", func() (bool, string) {
		csrf := csrfOf(t, c, in[0].URL+"/login")
		resp, body := postForm(t, c, in[0].URL+"/login", url.Values{"_csrf": {csrf}, "name": {"ann"}, "password": {password}})
		return resp.StatusCode == http.StatusSeeOther, resp.Status + " " + body
	})
	ann := signedIn(t, in[0].URL, "ann", c)

	// A second account and its promotion, seen by A's own database file.
	runCLI(t, "user", "create", "bob", "--nats", nats)
	if _, errOut := runCLI(t, "user", "admin", "bob", "--nats", nats); !strings.Contains(errOut, "bob is now an admin") {
		t.Errorf("user admin bob said %q", errOut)
	}
	waitFor(t, 10*time.Second, "A's database lists bob as an admin", func() (bool, string) {
		out, _ := runCLI(t, "user", "list", "--db", in[0].DB)
		return regexp.MustCompile(`(?m)^\d+\s+bob\s+admin\s`).MatchString(out), out
	})
	if out, _ := runCLI(t, "user", "list", "--nats", nats); !regexp.MustCompile(`(?m)^\d+\s+ann\s+admin\s[\s\S]*^\d+\s+bob\s+admin\s`).MatchString(out) {
		t.Errorf("user list --nats:\n%s", out)
	}

	// A token made through the cluster works on A; revoked through it, A
	// refuses it.
	tok, _ := runCLI(t, "token", "create", "--scope", "notify", "--user", "ann", "--name", "pager", "--nats", nats)
	tok = strings.TrimSpace(tok)
	note := map[string]string{"user": "ann", "title": "from the pager"}
	waitFor(t, 10*time.Second, "the token made through the cluster works on A", func() (bool, string) {
		status, body := apiPost(t, in[0].URL, "/api/notifications", tok, note)
		return status == http.StatusCreated, body
	})
	list, _ := runCLI(t, "token", "list", "--nats", nats)
	id := regexp.MustCompile(`(?m)^(\d+)\s+ann\s+pager\s`).FindStringSubmatch(list)
	if id == nil {
		t.Fatalf("token list --nats lacks the pager token:\n%s", list)
	}
	runCLI(t, "token", "revoke", id[1], "--nats", nats)
	waitFor(t, 10*time.Second, "A refuses the token revoked through the cluster", func() (bool, string) {
		status, body := apiPost(t, in[0].URL, "/api/notifications", tok, note)
		return status == http.StatusUnauthorized, body
	})
	// A widget token made through the cluster is signed with the cluster's
	// secret (made once through the log): C serves it; revoked, it refuses.
	out, _ = runCLI(t, "embed", "create", "--widget", "metrics", "--origin", "http://127.0.0.1:9", "--nats", nats)
	wtok := strings.Split(out, "\n")[1]
	widgetURL := in[2].URL + "/embed/metrics?token=" + url.QueryEscape(wtok)
	waitFor(t, 10*time.Second, "C serves the widget made through the cluster", func() (bool, string) {
		resp, body := fetchPage(t, streamClient(t), widgetURL)
		return resp.StatusCode == http.StatusOK, resp.Status + " " + body
	})
	list, _ = runCLI(t, "embed", "list", "--nats", nats)
	wid := regexp.MustCompile(`(?m)^(\d+)\s+metrics\s`).FindStringSubmatch(list)
	if wid == nil {
		t.Fatalf("embed list --nats lacks the metrics widget:\n%s", list)
	}
	runCLI(t, "embed", "revoke", wid[1], "--nats", nats)
	waitFor(t, 10*time.Second, "C refuses the widget revoked through the cluster", func() (bool, string) {
		resp, body := fetchPage(t, streamClient(t), widgetURL)
		return resp.StatusCode == http.StatusUnauthorized, resp.Status + " " + body
	})
	if _, status := get(t, ann.C, in[0].URL+"/notifications"); status != http.StatusOK {
		t.Errorf("ann's session on A after the commands: %d", status)
	}

	// An instance's database file refuses a write that does not come
	// through the log, and says how to make it; it changes nothing.
	_, errOut, status := runStatus(t, "user", "create", "mallory", "--db", in[0].DB)
	if status == 0 || !strings.Contains(errOut, "--nats") {
		t.Errorf("user create on an instance's database: status %d, %q; want a refusal naming --nats", status, errOut)
	}
	if out, _ := runCLI(t, "user", "list", "--nats", nats); strings.Contains(out, "mallory") {
		t.Errorf("a refused write made an account:\n%s", out)
	}

	// A NATS without a Beacon log: refused at once, and none is made.
	quiet := slog.New(slog.DiscardHandler)
	srv, err := cluster.StartServer(cluster.ServerConfig{Name: "bare", StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: freeAddr(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	for range 2 {
		_, errOut, status = runStatus(t, "user", "list", "--nats", srv.ClientURL())
		if status == 0 || !strings.Contains(errOut, "no Beacon log") {
			t.Errorf("user list on a NATS with no Beacon log: status %d, %q", status, errOut)
		}
	}
	client, err := cluster.Dial(t.Context(), cluster.ClientConfig{URLs: []string{srv.ClientURL()}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.OpenLog(t.Context(), cluster.LogConfig{Existing: true}); !errors.Is(err, cluster.ErrNoLog) {
		t.Errorf("after the refused commands the bare NATS holds a log: %v", err)
	}
}

// An instance lost for good is replaced by a new one under its
// --nats-name, with a new NATS store and database (docs/cluster.md): the
// new one starts from the cluster's state and takes the lost one's place
// in the log's group of three, so the log still takes writes when another
// of the original three stops. Were it a stranger to the group, the one
// left of the original three could not.
func TestClusterReplaceLostInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("three instances with NATS: not in -short")
	}
	members := clusterArgs(t, 3)
	in := make([]*instance, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { in[i] = start(t, m.db, "", m.args...) })
	}
	wg.Wait()
	sayMany(t, in[0].Addr, "lobby", "ann", 5)

	// C's machine is gone: its process, its NATS store and its database.
	in[2].Stop(t)
	lost := members[2]
	store := ""
	for i, a := range lost.args {
		if a == "--nats-store" {
			store = lost.args[i+1]
		}
	}
	for _, p := range []string{store, lost.db, lost.db + "-wal", lost.db + "-shm"} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	sayMany(t, in[0].Addr, "lobby", "bob", 5) // two of three take writes
	nats := members[0].natsURL(t)
	server := func(name, state string) func() (bool, string) {
		return func() (bool, string) {
			out, _ := runCLI(t, "cluster", "status", "--nats", nats)
			return regexp.MustCompile(`(?m)^` + name + `\s+\S+\s+` + state + `\s`).MatchString(out), out
		}
	}
	waitFor(t, time.Minute, "cluster status to show b3 offline", server("b3", "offline"))

	// Its replacement: the same name and addresses, nothing else.
	fresh := t.TempDir()
	args := slices.Clone(lost.args)
	args[slices.Index(args, "--nats-store")+1] = filepath.Join(fresh, "nats")
	in[2] = start(t, filepath.Join(fresh, "beacon.db"), "", args...)
	want, err := fetchRoomHistory(in[0].URL, "lobby", 500)
	if err != nil {
		t.Fatal(err)
	}
	sameHistory(t, "lobby", want, in[2])
	waitFor(t, time.Minute, "cluster status to show the replacement current", server("b3", "current"))

	// B stops: A and the replacement are two of the log's three.
	in[1].Stop(t)
	if err := sayManyErr(t, in[2].Addr, "lobby", "cat", 5); err != nil {
		t.Fatalf("with B stopped, A and the replacement took no write: %v", err)
	}
	if want, err = fetchRoomHistory(in[2].URL, "lobby", 500); err != nil || len(want) != 15 {
		t.Fatalf("the replacement's history holds %d messages (%v), want 15", len(want), err)
	}
	sameHistory(t, "lobby", want, in[0])
}
