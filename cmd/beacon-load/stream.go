package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"time"
)

// The zero-JavaScript widget stream (GET /stream/metrics?token=…): one
// chunked HTML document per viewer, the widget's head and first frame, then
// one more frame appended for every board tick, heartbeats as HTML comments,
// and at the end an element that reloads the frame.
const (
	streamPath = "/stream/metrics"
	// streamGauge counts Beacon's open widget streams.
	streamGauge = `beacon_live_connections{transport="stream"}`
	// loadSecret is the widget secret the tool gives Beacon and beacon
	// embed create (BEACON_SECRET): the same for every run.
	loadSecret = "beacon-load-widget-secret-0123456789abcdef"
	// streamOrigin is the origin the token lets frame the widget: a token
	// that names none is refused (403) by a Beacon without
	// BEACON_EMBED_ORIGINS.
	streamOrigin = "http://127.0.0.1"
	// beaconTick is Beacon's default --tick: how often its board publishes
	// the metrics panel, and so how often a stream gets a frame.
	beaconTick = time.Second
)

// Markers in a streamed widget document. Each ends at its only '>', so a
// reader that reads up to every '>' finds each one whole at the end of what
// it read.
var (
	frameMarker   = []byte(`<div class="frame">`)
	refreshMarker = []byte(`http-equiv="refresh"`) // the last element: the server ended the stream
	datetimeAttr  = []byte(`datetime="`)
)

// newStreamFleet returns a fleet of /stream/metrics viewers that show token.
func newStreamFleet(srv *server, token string) *fleet {
	f := newFleet(srv, "stream", 0)
	f.request = fmt.Appendf(nil, "GET %s?token=%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: beacon-load\r\nAccept: text/html\r\n\r\n",
		streamPath, token, srv.Addr)
	return f
}

// viewer is what one stream viewer saw. Every update frame shows the board
// as measured at some time (its <time datetime>); a frame is fresh when
// that is later than anything the viewer had, stale otherwise: the same
// state again, or an older one after a newer.
type viewer struct {
	frames int    // frames seen, the first included
	newest string // the newest datetime shown so far (RFC 3339 in UTC: text order is time order)
	timed  bool   // the current frame's datetime has been read
	// offset is the document's length so far; spanFrom is where the first
	// update frame began.
	offset, spanFrom int64
}

// readStream reads a viewer's document: the response's head, then the
// chunked body tag by tag. The handshake ends at the first frame.
func (c *sseClient) readStream(conn net.Conn) {
	defer close(c.done)
	defer conn.Close()
	resp := c.get(conn, streamPath, "text/html")
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	var v viewer
	err := readTags(resp.Body, func(tag []byte) { c.streamTag(&v, tag) })
	if v.frames > 1 {
		// Every update is flushed whole, and the tool closes a stream long
		// after its last one: what follows the first frame is updates (and
		// heartbeats) only.
		c.mu.Lock()
		c.spanned, c.spanFrames = v.offset-v.spanFrom, v.frames-1
		c.mu.Unlock()
	}
	c.end(err)
}

// readTags calls fn with every piece of r up to and including a '>', in a
// 4 KiB buffer that fn must not keep. A run of 4 KiB without '>' is text,
// which holds no marker, and is skipped.
func readTags(r io.Reader, fn func(tag []byte)) error {
	br := bufio.NewReaderSize(r, 4096)
	for {
		tag, err := br.ReadSlice('>')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(tag) > 0 {
			fn(tag)
		}
		if err != nil {
			return err
		}
	}
}

// streamTag counts what tag tells of the viewer's document.
func (c *sseClient) streamTag(v *viewer, tag []byte) {
	at := v.offset
	v.offset += int64(len(tag))
	switch {
	case bytes.HasSuffix(tag, frameMarker):
		v.frames++
		v.timed = false
		switch v.frames {
		case 1:
			c.setReady(nil)
		case 2:
			v.spanFrom = at + int64(len(tag)) - int64(len(frameMarker))
		}
	case bytes.Contains(tag, refreshMarker):
		c.mu.Lock()
		c.retries++
		c.mu.Unlock()
	case v.frames > 0 && !v.timed:
		i := bytes.Index(tag, datetimeAttr)
		if i < 0 {
			return
		}
		dt, _, _ := bytes.Cut(tag[i+len(datetimeAttr):], []byte(`"`))
		v.timed = true
		if v.frames == 1 {
			v.newest = string(dt)
			return
		}
		fresh := string(dt) > v.newest
		c.mu.Lock()
		c.got++
		if fresh {
			v.newest = string(dt)
			if c.got-c.stale == 1 {
				c.f.updated.Add(1)
			}
		} else {
			c.stale++
			if string(dt) < v.newest {
				c.older++
			}
		}
		c.lastAt = time.Now()
		c.mu.Unlock()
		c.f.received.Add(1)
	}
}

// streamTally sums what the viewers of f saw.
type streamTally struct {
	updates, stale, older, ended int
	noFresh                      int // viewers that saw no frame newer than their first
	spanned                      int64
	spanFrames                   int
}

func (f *fleet) streamTally() streamTally {
	var t streamTally
	for _, c := range f.clients {
		c.mu.Lock()
		t.updates += c.got
		t.stale += c.stale
		t.older += c.older
		t.ended += c.retries
		t.spanned += c.spanned
		t.spanFrames += c.spanFrames
		if c.got-c.stale == 0 {
			t.noFresh++
		}
		c.mu.Unlock()
	}
	return t
}

// runStream holds N viewers of /stream/metrics for -stream-hold, checks
// that every one was shown a newer board than it opened with and that none
// was dropped, reads the server's memory and goroutines per viewer, then
// closes them all and checks that the server's goroutines come back to
// their baseline.
func runStream(ctx context.Context, b *bench, srv *server) (*sample, error) {
	if srv.Kind == kindBeacon {
		srv.ConnGauge = streamGauge
	}
	s, n, hold := newSample(), b.cfg.StreamConns, b.cfg.StreamHold
	token := srv.WidgetToken
	switch {
	case srv.Kind == kindReference:
		token = "reference" // it takes any
	case token == "":
		return nil, errors.New("the stream scenario needs a widget token: with -target, make one there " +
			"(beacon embed create --widget metrics --origin " + streamOrigin + ") and pass it as -widget-token")
	}
	// The warm-up viewers are held until a tick reaches them: the board has
	// then been measured and published at least once, as on a server that
	// has been up a while, and the frame's write path has run.
	base, err := b.warmUpWith(ctx, srv, newStreamFleet(srv, token), func(f *fleet) {
		f.waitCount(ctx, &f.updated, int64(len(f.clients)), 15*time.Second)
	})
	if err != nil {
		return nil, err
	}
	stop := b.measure(srv, "stream")
	f := b.open(ctx, newStreamFleet(srv, token), n, s)
	defer f.closeAll()
	held := len(f.clients)
	b.progress("%d viewers open in %s; holding them %s", held, f.opened.Round(time.Millisecond), hold)
	cpu := b.cpuMeter(ctx, srv)
	delivered := f.received.Load()
	settle(ctx, hold)
	// Every viewer must be shown a newer board than the one it opened with:
	// normally within the hold; a busy machine gets a few more ticks.
	f.waitCount(ctx, &f.updated, int64(held), 15*time.Second)
	after, err := scrape(ctx, b.ctl, srv)
	cpu.per(ctx, s, "cpu_per_update", int(f.received.Load()-delivered))
	stop()
	if err != nil {
		return nil, err
	}
	checkHeld(f, s)
	f.closeAll() // the viewers' counts are final once their readers have ended
	t := f.streamTally()
	if g := after[srv.ConnGauge]; g != float64(held) {
		s.problem("the server counts %.0f streams; %d are open", g, held)
	}
	if t.noFresh > 0 {
		s.problem("%d of %d viewers were shown no newer board than their first within %s and 15s more", t.noFresh, held, hold)
	}
	if t.ended > 0 {
		s.problem("the server ended %d streams during the hold (the reload element)", t.ended)
	}
	per := func(series string) float64 { return (after[series] - base[series]) / float64(held) }
	s.set("held", float64(held))
	s.set("updated", float64(held-t.noFresh))
	s.set("hold_seconds", hold.Seconds())
	s.set("bytes_per_conn", per(seriesRSS))
	s.set("heap_per_conn", per(seriesHeapInuse))
	s.set("stack_per_conn", per(seriesStackInuse))
	s.set("goroutines_per_conn", per(seriesGoroutines))
	s.set("rss_before", base[seriesRSS])
	s.set("rss_after", after[seriesRSS])
	s.set("updates_per_viewer", float64(t.updates)/float64(held))
	s.set("stale_per_viewer", float64(t.stale)/float64(held))
	s.set("older_frames", float64(t.older))
	if t.spanFrames > 0 {
		s.set("frame_bytes", float64(t.spanned)/float64(t.spanFrames))
	}
	b.progress("%d viewers closed; waiting for the server to let go", held)
	end, err := b.letGo(ctx, srv, base, s)
	if err != nil {
		return nil, err
	}
	s.set("goroutines_base", base[seriesGoroutines])
	s.set("goroutines_after", end[seriesGoroutines])
	s.set("goroutines_delta", end[seriesGoroutines]-base[seriesGoroutines])
	s.set("rss_delta", end[seriesRSS]-base[seriesRSS])
	s.set("heap_delta", end[seriesHeapInuse]-base[seriesHeapInuse])
	return s, nil
}

// streamNote says how the stream scenario was set up, for the report.
func streamNote(c *config) string {
	if !slices.Contains(c.Scenarios, "stream") {
		return ""
	}
	return fmt.Sprintf("The STREAM rows hold %s viewers of the zero-JavaScript widget `%s?token=…` for %s (`-stream-hold`): one "+
		"chunked HTML document each, read tag by tag by the tool. Beacon gets a known `BEACON_SECRET`, and the tool signs a "+
		"metrics token (origin %s) with package `widget`; the board ticks every %s (Beacon's default `--tick`). A viewer is "+
		"updated when a frame shows a board measured later than the one it opened with (`<time datetime>`); a frame that shows "+
		"nothing newer is stale. The reference serves `%s` as a plain net/http handler: the same hub, the panel rendered once per "+
		"tick and appended to every document as a frame, one write and flush each; no token check, heartbeat, lifetime or "+
		"write deadline. After the hold every viewer is closed and the server's goroutines must come back to the baseline.",
		thousands(c.StreamConns), streamPath, c.StreamHold, streamOrigin, beaconTick, streamPath)
}

// waitCount waits until n reads want, or timeout.
func (f *fleet) waitCount(ctx context.Context, n *atomic.Int64, want int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for n.Load() < want {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(500 * time.Microsecond)
	}
	return true
}
