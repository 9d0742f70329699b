//go:build unix

package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// child is Beacon running as a separate process, the real binary.
type child struct {
	cmd    *exec.Cmd
	out    *lockedWriter // stdout and stderr
	exited chan struct{} // closed when the process has exited and its output is drained
	err    error         // how it exited; set before exited is closed
}

// buildBeacon builds the program, without the race detector, into a
// directory of the test's.
func buildBeacon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "beacon")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startChild runs the binary on addr and db, waits until it answers
// /healthz, and kills it when the test ends.
func startChild(t *testing.T, bin, addr, db string, flags ...string) *child {
	t.Helper()
	args := append([]string{"--addr", addr, "--db", db, "--log-level", "warn",
		"--live-rate", "0", "--api-rate", "0", "--guests"}, flags...)
	c := &child{cmd: exec.Command(bin, args...), out: &lockedWriter{b: &strings.Builder{}}, exited: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out // exec copies both until the process exits; Wait waits for that
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		c.kill()
		if t.Failed() {
			t.Logf("beacon at %s (%v) wrote:\n%s", addr, c.err, c.output())
		}
	})
	hc := roomHTTP()
	deadline := time.NewTimer(roomWait)
	defer deadline.Stop()
	retry := time.NewTicker(20 * time.Millisecond)
	defer retry.Stop()
	for {
		resp, err := hc.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case <-c.exited:
			t.Fatalf("beacon exited before it served: %v\n%s", c.err, c.output())
		case <-deadline.C:
			t.Fatalf("beacon did not answer /healthz within %v: %v\n%s", roomWait, err, c.output())
		case <-retry.C:
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (c *child) kill() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile; exited says when it is gone
	<-c.exited
}

func (c *child) output() string {
	c.out.mu.Lock()
	defer c.out.mu.Unlock()
	return c.out.b.String()
}

// freeLoopback returns a loopback address whose port was free a moment ago.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestRoomSurvivesSIGKILL kills the server while messages flow and restarts
// it on the same database and port: no message that any client saw is lost,
// and every client, resuming after the last id it saw, ends with exactly
// the room's history: none missing, none twice.
func TestRoomSurvivesSIGKILL(t *testing.T) {
	began := time.Now()
	bin := buildBeacon(t)
	t.Logf("built in %v", time.Since(began).Round(time.Millisecond))
	db := filepath.Join(t.TempDir(), "beacon.db")
	addr := freeLoopback(t)
	base := "http://" + addr
	// The rate limit is raised as in TestRoomOrderForEveryone: it is not
	// this test's subject.
	flags := []string{"--message-rate", "1000", "--message-burst", "1000"}
	server := startChild(t, bin, addr, db, flags...)

	const room, senders, each, killAfter = "kill", 3, 200, 150
	cs := make([]*chatClient, senders)
	for i := range cs {
		cs[i] = newChatClient(t, addr, room, fmt.Sprintf("client%d", i), true)
	}

	// Each client sends its messages one at a time: the next goes when the
	// last came back or the connection ended (it is then lost or stored;
	// either way the history says). While disconnected, it waits for its
	// client to be back.
	var wg sync.WaitGroup
	sendErrs := make(chan error, senders)
	for _, c := range cs {
		wg.Go(func() {
			for j := range each {
				content := fmt.Sprintf("%s message %03d", c.user, j)
				c.mu.Lock()
				ends, connects := len(c.ends), c.connects
				c.mu.Unlock()
				if err := c.say(content); err != nil {
					err = c.await("to be connected again", func(c *chatClient) bool { return c.conn != nil && c.connects > connects })
					if err != nil {
						sendErrs <- err
						return
					}
					continue
				}
				err := c.await(content+" to come back", func(c *chatClient) bool { return c.seen[content] > 0 || len(c.ends) > ends })
				if err != nil {
					sendErrs <- err
					return
				}
			}
		})
	}
	senderFailure := func() {
		wg.Wait()
		close(sendErrs)
		for err := range sendErrs {
			t.Error(err)
		}
	}

	// SIGKILL once messages flow, and wait for every client to see the
	// connection go.
	total := func() int {
		n := 0
		for _, c := range cs {
			c.mu.Lock()
			n += len(c.msgs)
			c.mu.Unlock()
		}
		return n
	}
	for _, killAt := range []int{150, 600, 1050} { // three kills, at different points of the flow
		pollRoom(t, "messages to flow", func() (bool, string) { return total() >= killAt, fmt.Sprintf("%d received", total()) })
		server.kill()
		var ee *exec.ExitError
		if !errors.As(server.err, &ee) || ee.Exited() {
			t.Fatalf("beacon ended with %v, want killed by a signal", server.err)
		}
		seen := make([][]chatFrame, len(cs))
		for i, c := range cs {
			// Redialing fails while the server is down, so no connection
			// means the old one has ended.
			c.waitFor(t, "the connection to end", func(c *chatClient) bool { return c.conn == nil })
			seen[i] = c.messages()
		}
		t.Logf("killed with %d messages received across %d clients", total(), len(cs))

		server = startChild(t, bin, addr, db, flags...)

		// Everything any client saw before the kill is in the database.
		stored := make(map[int64]chatFrame)
		for _, m := range roomHistory(t, base, room, 500) {
			stored[m.Position] = m
		}
		for i, msgs := range seen {
			for _, m := range msgs {
				if s, ok := stored[m.Position]; !ok || s.Content != m.Content || s.User != m.User {
					t.Errorf("%s saw %v before the kill; after the restart the database has %v", cs[i].user, m, s)
				}
			}
		}
	}

	senderFailure()
	history := roomHistory(t, base, room, 500)
	if len(history) == 0 {
		t.Fatal("no history")
	}
	head := history[len(history)-1].Position
	for _, c := range cs {
		c.waitFor(t, fmt.Sprintf("message #%d", head), func(c *chatClient) bool { return c.lastPos >= head })
		if err := sameMessages(c.messages(), history); err != nil {
			t.Errorf("%s: what it received across the restart differs from the history: %v", c.user, err)
		}
		c.mu.Lock()
		for _, w := range c.welcomes {
			if w.Resynced {
				t.Errorf("%s was resynced (%+v): its last id was not in the log after the restart", c.user, w)
			}
		}
		t.Logf("%s: %d messages over %d connections", c.user, len(c.msgs), c.connects)
		c.mu.Unlock()
		if p := c.problems(); len(p) > 0 {
			t.Errorf("%s: %v", c.user, p)
		}
	}
	// Each sender's messages are stored in the order sent, none twice; a
	// message lost in the kill is one the sender never saw come back.
	for _, c := range cs {
		prev := -1
		for _, m := range history {
			if m.User != c.user {
				continue
			}
			var j int
			if _, err := fmt.Sscanf(m.Content, c.user+" message %d", &j); err != nil || j <= prev {
				t.Errorf("%s's messages are stored out of order or twice: %q after %d", c.user, m.Content, prev)
			}
			prev = j
		}
	}
	t.Logf("%d messages stored", len(history))
}
