package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHugeFormRefusedUnread: a 40 MB form posted to /login without a CSRF
// token is answered 413 without being read: the server's allocations do
// not grow by anything like the body's size. Before the limit, the form
// parser behind the CSRF check read 10 MB of it into memory (and 8 such
// requests took the process from 32 to 933 MB).
func TestHugeFormRefusedUnread(t *testing.T) {
	in := start(t, "", "")
	conn, err := net.Dial("tcp", in.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute)) //nolint:errcheck // a safety net, not a timing
	const size = 40 << 20

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n", in.Addr, size)
	var sent atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("a"), 64<<10)
		copy(chunk, "name=")
		for sent.Load() < size {
			n, err := conn.Write(chunk[:min(len(chunk), size-int(sent.Load()))])
			sent.Add(int64(n))
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a 40 MB form: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "64 KiB") {
		t.Fatalf("a 40 MB form: %d %s; want 413 naming the 64 KiB limit", resp.StatusCode, body)
	}
	// The server closes the connection rather than read the rest: the
	// client's writes fail.
	if err := <-wrote; err == nil {
		t.Fatalf("the server read all %d bytes of a refused body", size)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Fatalf("refusing the form allocated %d KiB (%d KiB of the body were sent); want far less than the body", grew>>10, sent.Load()>>10)
	}
	t.Logf("sent %d KiB before the server closed; allocated %d KiB", sent.Load()>>10, (after.TotalAlloc-before.TotalAlloc)>>10)
}

// TestProxyHeaderAllLines: behind a proxy that appends its own
// X-Forwarded-For line, a client that sends a new address of its own every
// time still meets its API limit: its key is the proxy's entry, not the
// first line. Before, Header.Get read only the client's line.
func TestProxyHeaderAllLines(t *testing.T) {
	in := start(t, "", "", "--proxy-header", "X-Forwarded-For", "--api-rate", "0.01", "--api-burst", "2")
	var codes []int
	for i := range 3 {
		req, err := http.NewRequest("POST", in.URL+"/api/activity", strings.NewReader(`{"text":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Add("X-Forwarded-For", fmt.Sprintf("6.6.6.%d", i)) // what the client claims
		req.Header.Add("X-Forwarded-For", "203.0.113.7")              // what the proxy saw
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[201 201 429]" {
		t.Fatalf("statuses %v: want the third request from 203.0.113.7 refused whatever the client claims", codes)
	}
}

// TestMetricsListener: with --metrics-addr, /metrics and /healthz are
// served on that listener and not on the main one.
func TestMetricsListener(t *testing.T) {
	in := start(t, "", "", "--metrics-addr", "127.0.0.1:0")
	if in.MetricsURL == "" {
		t.Fatal("beacon did not say where its metrics listener is")
	}
	for _, path := range []string{"/metrics", "/healthz"} {
		if body, status := getBody(t, in.URL+path); status != http.StatusNotFound {
			t.Errorf("main listener GET %s: %d, want 404: %.200s", path, status, body)
		}
	}
	if body, status := getBody(t, in.MetricsURL+"/metrics"); status != http.StatusOK || !strings.Contains(body, "beacon_") {
		t.Errorf("metrics listener GET /metrics: %d %.200s", status, body)
	}
	if body, status := getBody(t, in.MetricsURL+"/healthz"); status != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("metrics listener GET /healthz: %d %s", status, body)
	}
	if body, status := getBody(t, in.MetricsURL+"/"); status != http.StatusNotFound {
		t.Errorf("metrics listener GET /: %d, want 404: %.200s", status, body)
	}
}

// getBody GETs url and returns its body and status.
func getBody(t testing.TB, url string) (string, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body), resp.StatusCode
}
