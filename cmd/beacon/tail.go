package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/r3labs/sse/v2"
	"golang.org/x/net/html"
	"gopkg.in/cenkalti/backoff.v1"
)

var tailCommand = command{name: "tail", synopsis: "[--url URL] [--token TOKEN] [--json] TOPIC...",
	about: `Follows live topics from a terminal: one line per event, as it happens, until
Ctrl-C. A text line is the event's time, its topic and its text:

  14:03:07 activity Deployed v1.2.3

--json prints one JSON object per line instead. After a dropped connection or
a server restart it comes back and resumes where it stopped: nothing missed,
nothing twice (when the server could not replay the gap, it says so and
prints the topic's current state).

Topics: metrics, chart, activity, rooms, room:NAME, presence:NAME,
typing:NAME, user:ID (your notifications), server-metrics, server-chart.
A token with scope read reads what its owner may read (make one on
/settings, or with beacon token create --scope read --user NAME).
`}

// tailConfig is what beacon tail was asked to follow.
type tailConfig struct {
	URL    string // the server's base URL, without a trailing slash
	Token  string // an API token with scope read, or ""
	JSON   bool
	Idle   time.Duration // reconnect after this long without a byte
	Topics []string
}

// parseTail reads beacon tail's command line.
func parseTail(args []string, getenv func(string) string, stdout io.Writer) (tailConfig, error) {
	cmd := tailCommand
	fs := cmd.flags()
	var c tailConfig
	fs.StringVar(&c.URL, "url", envOr(getenv, "BEACON_URL", "http://127.0.0.1:8080"), "the server's URL (env BEACON_URL)")
	fs.StringVar(&c.Token, "token", getenv("BEACON_TOKEN"), "an API token with scope read (env BEACON_TOKEN, which ps does not show)")
	fs.BoolVar(&c.JSON, "json", false, "print one JSON object per event instead of a line of text")
	fs.DurationVar(&c.Idle, "idle", time.Minute, "reconnect when the server sends nothing, not even a heartbeat, for this long (its --heartbeat is 15s)")
	topics, err := cmd.parseArgs(fs, args, stdout)
	if err != nil {
		return c, err
	}
	u, err := url.Parse(strings.TrimSpace(c.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return c, usagef(cmd.name, "tail: --url %q must be an http:// or https:// URL, e.g. http://127.0.0.1:8080", c.URL)
	}
	c.URL = strings.TrimSuffix(u.String(), "/")
	if c.Idle < time.Second {
		return c, usagef(cmd.name, "tail: --idle must be at least 1s")
	}
	for _, t := range topics {
		for _, f := range strings.Split(t, ",") {
			if f = strings.TrimSpace(f); f != "" {
				c.Topics = append(c.Topics, f)
			}
		}
	}
	if len(c.Topics) == 0 {
		return c, usagef(cmd.name, "tail: name at least one topic, e.g. beacon tail activity room:ops")
	}
	return c, nil
}

// runTail runs "beacon tail": it follows the topics until ctx ends (Ctrl-C),
// then returns nil. It fails only when the server refuses (a bad topic, a
// missing or revoked token: retrying would not help).
func runTail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseTail(args, getenv, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	f := &follower{cfg: cfg, client: &http.Client{Transport: tr}, out: stdout, note: stderr}
	return f.run(ctx)
}

// Reconnection delays of beacon tail when the server gave no retry hint:
// from tailRetryMin, doubling to tailRetryMax, each jittered.
const (
	tailRetryMin = 500 * time.Millisecond
	tailRetryMax = 30 * time.Second
)

// follower is one beacon tail: it follows topics with r3labs/sse's client,
// one connection at a time, and owns everything that client gets wrong:
//
//   - Reconnecting. The client is given no backoff of its own (StopBackOff,
//     bound to the context), so it makes one attempt and returns; the
//     follower waits (the server's retry hint when it sent one, else a
//     jittered doubling delay) and makes a new one. So a cancelled context
//     ends everything at once, and nothing retries after it (the client's
//     default backoff goes on for 15 minutes after its context ends).
//   - Clean ends. The client returns nil when the server ends a stream
//     (a restart): that is a drop like any other, and the follower comes
//     back.
//   - Retry hints, which the client hands over and does not use.
//   - The resume point. The client stores the id of whatever it hands
//     over, also an event cut off by a drop. The follower asks for the
//     program format (live/program.go), where every event carries its id in
//     its JSON data: it accepts only an event whose data is a whole JSON
//     object, keeps the id of the last one it accepted, and gives each new
//     connection that id (a new client each time).
//   - Silence. A server that vanished without closing the connection sends
//     no heartbeat: after cfg.Idle without a byte the follower drops the
//     connection and reconnects.
//
// Everything runs on the goroutine that called run, except the client's
// reader, which ends with each connection.
type follower struct {
	cfg    tailConfig
	client *http.Client
	out    io.Writer // events
	note   io.Writer // what happens to the connection

	lastID string        // resume point: the id of the last whole event or position block
	hint   time.Duration // the server's last retry hint, until used
	fresh  bool          // no position block yet on this connection
}

// errRefused is a refusal by the server that retrying would not change.
type errRefused struct{ msg string }

func (e *errRefused) Error() string { return e.msg }

// run follows until ctx ends.
func (f *follower) run(ctx context.Context) error {
	delay := tailRetryMin
	for {
		got, err := f.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var refused *errRefused
		if errors.As(err, &refused) {
			return fmt.Errorf("tail: %w", err)
		}
		if got {
			delay = tailRetryMin
		}
		wait := jitter(delay)
		if f.hint > 0 {
			wait, f.hint = f.hint, 0
		} else {
			delay = min(2*delay, tailRetryMax)
		}
		why := "the server ended the stream"
		if err != nil {
			why = err.Error()
		}
		fmt.Fprintf(f.note, "beacon tail: %s; reconnecting in %v\n", why, wait.Round(time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// jitter spreads d over [d/2, d], so many tails do not come back at once.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// connect makes one connection and follows it until it ends. got says
// whether the server answered with a stream.
func (f *follower) connect(ctx context.Context) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.fresh = true
	q := url.Values{"topics": {strings.Join(f.cfg.Topics, ",")}, "format": {"json"}}
	cl := sse.NewClient(f.cfg.URL + "/live?" + q.Encode())
	cl.Connection = f.client
	cl.ReconnectStrategy = backoff.WithContext(&backoff.StopBackOff{}, ctx)
	if f.cfg.Token != "" {
		cl.Headers["Authorization"] = "Bearer " + f.cfg.Token
	}
	if f.lastID != "" {
		cl.LastEventID.Store([]byte(f.lastID))
	}
	cl.ResponseValidator = func(_ *sse.Client, resp *http.Response) error {
		if err := checkStream(resp); err != nil {
			resp.Body.Close() // the client leaves it open on a refusal
			return err
		}
		got = true
		return nil
	}
	// A server that went away without a word sends no heartbeat either.
	idle := time.AfterFunc(f.cfg.Idle, cancel)
	defer idle.Stop()
	silent := false
	err = cl.SubscribeRawWithContext(ctx, func(ev *sse.Event) {
		idle.Reset(f.cfg.Idle)
		f.handle(ev)
	})
	if !idle.Stop() && ctx.Err() != nil {
		silent = true
	}
	if silent {
		return got, fmt.Errorf("nothing from the server for %v, not even a heartbeat", f.cfg.Idle)
	}
	return got, err
}

// checkStream accepts a live stream and explains anything else: a refusal
// that will not change is an errRefused with the server's reason, a busy
// or failing server (429, 5xx) an error to retry after its Retry-After.
func checkStream(resp *http.Response) error {
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e struct{ Error, Field string }
	why := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		why = e.Error
		if e.Field != "" {
			why = e.Field + ": " + why
		}
	}
	if len(why) > 300 {
		why = why[:300] + "…"
	}
	msg := fmt.Sprintf("%s answered %s: %s", resp.Request.URL.Redacted(), resp.Status, why)
	switch {
	case resp.StatusCode == http.StatusOK:
		return &errRefused{msg: fmt.Sprintf("%s is not a Beacon server's live stream (Content-Type %q)", resp.Request.URL.Redacted(), resp.Header.Get("Content-Type"))}
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode >= 500:
		return errors.New(msg)
	}
	return &errRefused{msg: msg}
}

// programEvent is the data of an event in the program format.
type programEvent struct {
	ID    string          `json:"id,omitempty"`
	Topic string          `json:"topic,omitempty"`
	At    time.Time       `json:"at,omitzero"`
	HTML  string          `json:"html,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// Named events of a live stream that are not a topic's.
const (
	eventResync = "beacon:resync"
	eventRetry  = "beacon:retry"
)

// handle takes one event from the client.
func (f *follower) handle(ev *sse.Event) {
	if len(ev.Retry) > 0 {
		if ms, err := strconv.ParseInt(string(ev.Retry), 10, 32); err == nil && ms >= 0 {
			f.hint = time.Duration(ms) * time.Millisecond
		}
	}
	pe, ok := parseProgramEvent(ev.Data)
	if !ok {
		return // a heartbeat, the retry event, or an event cut off by a drop
	}
	if string(ev.Event) == eventResync {
		fmt.Fprintln(f.note, "beacon tail: the server could not replay what happened while away (a new database, or too long ago); what follows is the current state")
	}
	if pe.Topic != "" {
		f.print(pe)
	} else if f.fresh {
		// Every stream starts with its position, after it subscribed:
		// from here on nothing is missed.
		fmt.Fprintf(f.note, "beacon tail: following %s on %s\n", strings.Join(f.cfg.Topics, ", "), f.cfg.URL)
		f.fresh = false
	}
	if pe.ID != "" {
		f.lastID = pe.ID
	}
}

// parseProgramEvent decodes an event's data. It accepts only a whole
// event: data that is one JSON object, with an id (a log event, a position
// block) or a topic (a state frame, a snapshot). A heartbeat, the retry
// event, or the part of an event that a drop cut off is not one: the
// client hands such a part over as an event, but it is not a whole JSON
// object (the data is one line, and a JSON object ends with its last
// byte). The id that counts is the one in the data, never the id field:
// the client takes even a cut-off event's id as its own.
func parseProgramEvent(data []byte) (programEvent, bool) {
	var pe programEvent
	if len(data) == 0 || data[0] != '{' || json.Unmarshal(data, &pe) != nil || (pe.ID == "" && pe.Topic == "") {
		return programEvent{}, false
	}
	return pe, true
}

// print writes one event: a line of text, or a JSON object.
func (f *follower) print(pe programEvent) {
	at := pe.At
	if at.IsZero() {
		at = time.Now()
	}
	text := textContent(pe.HTML)
	if f.cfg.JSON {
		line, err := json.Marshal(struct {
			programEvent
			At   time.Time `json:"at"`
			Text string    `json:"text"`
		}{pe, at, text})
		if err == nil {
			fmt.Fprintf(f.out, "%s\n", line)
		}
		return
	}
	fmt.Fprintf(f.out, "%s %s %s\n", at.Local().Format(time.TimeOnly), pe.Topic, text)
}

// textContent is the text of an HTML fragment without its markup, on one
// line: white space collapsed, and without what is not the fragment's
// text (the time, which the line starts with; scripts, styles, buttons; a
// chart's drawing). What a fragment updates elsewhere on the page
// (hx-swap-oob: the bell's count beside a notification) is left out too,
// unless it is all the fragment holds.
func textContent(fragment string) string {
	if t := fragmentText(fragment, false); t != "" {
		return t
	}
	return fragmentText(fragment, true)
}

func fragmentText(fragment string, oob bool) string {
	var words []string
	z := html.NewTokenizer(strings.NewReader(fragment))
	var open []bool // for each open element: whether its text is left out
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.Join(words, " ")
		case html.StartTagToken:
			name, hasAttr := z.TagName()
			out := skipped[string(name)] || (len(open) > 0 && open[len(open)-1])
			for hasAttr && !out && !oob {
				var key []byte
				key, _, hasAttr = z.TagAttr()
				out = string(key) == "hx-swap-oob"
			}
			if !voidElements[string(name)] {
				open = append(open, out)
			}
		case html.EndTagToken:
			if len(open) > 0 {
				open = open[:len(open)-1]
			}
		case html.TextToken:
			if len(open) == 0 || !open[len(open)-1] {
				words = append(words, strings.Fields(string(z.Text()))...)
			}
		}
	}
}

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// skipped are the elements whose text a tail line leaves out.
var skipped = map[string]bool{"time": true, "script": true, "style": true, "template": true, "button": true, "svg": true}
