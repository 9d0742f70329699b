package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beacon-live/beacon/live"
)

// sseBlock is one block of an SSE stream: the fields between two blank
// lines, as the server wrote them. Unlike a browser's EventSource, the reader
// returns every block, also those with no data (Beacon's id-only position
// block, retry hints, heartbeats), because the tests assert on them.
type sseBlock struct {
	ID       string // value of the id field; meaningful when HasID
	HasID    bool
	Event    string // event name; "" for an unnamed message
	Data     string // data lines joined with "\n"
	HasData  bool
	Retry    int // milliseconds; meaningful when HasRetry
	HasRetry bool
	Comments int    // comment lines (heartbeats)
	Topic    string // the "topic" field of a shared connection (?shared=1)
}

// sseStream reads one SSE response line by line. It is a test helper, not a
// general client: it understands "\n" and "\r\n" line endings (Beacon never
// writes a bare "\r"), and keeps the spec's "last event id" the way a
// browser does: the id of every complete block, also one without data,
// moves it; a block cut off by the end of the stream moves nothing (the
// r3labs client gets this wrong, see TestResumeWithoutLossR3labs).
type sseStream struct {
	Resp   *http.Response
	br     *bufio.Reader
	LastID string // the id of the last complete block that had one
}

// dialSSE opens url as an SSE stream. lastID, when not empty, is sent as
// Last-Event-ID. A non-200 answer or a content type other than
// text/event-stream is an error that quotes the body.
func dialSSE(ctx context.Context, c *http.Client, url, lastID string) (*sseStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s (Content-Type %q): %s", url, resp.Status, resp.Header.Get("Content-Type"), body)
	}
	return &sseStream{Resp: resp, br: bufio.NewReader(resp.Body)}, nil
}

// Close closes the response body, which ends the connection.
func (s *sseStream) Close() error { return s.Resp.Body.Close() }

// Next returns the next block. At the end of the stream it returns io.EOF
// when the stream ended between blocks, io.ErrUnexpectedEOF when it ended
// inside one (the spec says such a block is discarded, and so does Next), or
// the transport's error.
func (s *sseStream) Next() (sseBlock, error) {
	var b sseBlock
	lines := 0
	for {
		line, err := s.br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && (lines > 0 || line != "") {
				err = io.ErrUnexpectedEOF
			}
			return sseBlock{}, err
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if lines == 0 {
				continue // blank lines between blocks dispatch nothing
			}
			if b.HasID {
				s.LastID = b.ID
			}
			return b, nil
		}
		lines++
		if line[0] == ':' {
			b.Comments++
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			if !strings.ContainsRune(value, 0) {
				b.ID, b.HasID = value, true
			}
		case "event":
			b.Event = value
		case "topic":
			b.Topic = value
		case "data":
			if b.HasData {
				b.Data += "\n"
			}
			b.Data += value
			b.HasData = true
		case "retry":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 {
				b.Retry, b.HasRetry = n, true
			}
		}
	}
}

// NextEvent returns the next block that carries data or an event name,
// skipping id-only blocks (whose ids still move LastID), retry hints and
// heartbeats.
func (s *sseStream) NextEvent() (sseBlock, error) {
	for {
		b, err := s.Next()
		if err != nil || b.HasData || b.Event != "" {
			return b, err
		}
	}
}

// activityItem matches the list item of one activity in an event's HTML.
var activityItem = regexp.MustCompile(`<li id="act-(\d+)"`)

// itemPositions returns the positions of the activity items in an HTML
// fragment, in document order.
func itemPositions(html string) []int64 {
	var out []int64
	for _, m := range activityItem.FindAllStringSubmatch(html, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, n)
	}
	return out
}

// mustParseID splits an SSE id made by live.FormatID, or fails the test.
func mustParseID(t testing.TB, id string) (epoch string, pos int64) {
	t.Helper()
	epoch, pos, ok := live.ParseID(id)
	if !ok || epoch == "" {
		t.Fatalf("SSE id %q is not <epoch>-<position>", id)
	}
	return epoch, pos
}

// liveURL is the /live URL of base for topics, with extra query parameters
// as key, value pairs.
func liveURL(base, topics string, kv ...string) string {
	q := url.Values{"topics": {topics}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return base + "/live?" + q.Encode()
}

// streamClient is an HTTP client for SSE streams: no keep-alive (a closed
// stream closes its connection, so no idle connection or goroutine outlives
// a test) and no overall timeout (streams are long).
func streamClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true, MaxIdleConnsPerHost: -1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// postActivity posts one activity as a form and returns the position the
// server stored it at.
func postActivity(c *http.Client, base, text string) (int64, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/activity", strings.NewReader(url.Values{"text": {text}}.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("POST /api/activity %q: %s: %s", text, resp.Status, body)
	}
	m := regexp.MustCompile(`"position":(\d+)`).FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("POST /api/activity %q: no position in %s", text, body)
	}
	return strconv.ParseInt(string(m[1]), 10, 64)
}

// metricValue reads one sample of the server's /metrics, e.g.
// `beacon_live_connections{transport="sse"}`; a missing sample reads as 0.
func metricValue(c *http.Client, base, sample string) (float64, error) {
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	for line := range bytes.Lines(body) {
		rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(sample+" "))
		if ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
		}
	}
	return 0, nil
}

// waitFor calls cond every few milliseconds until it returns true, and fails
// the test with cond's last explanation if that has not happened within
// timeout. It is for conditions that nothing announces (a gauge, a goroutine
// count); the interval only paces the polling and is not part of any
// assertion.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("%s: not within %v: %s", what, timeout, why)
		case <-tick.C:
		}
	}
}
