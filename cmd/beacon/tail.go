package main

import (
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
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
	topics, err := cmd.parseArgs(fs, args, stdout)
	if err != nil {
		return c, err
	}
	u, err := url.Parse(strings.TrimSpace(c.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return c, usagef(cmd.name, "tail: --url %q must be an http:// or https:// URL, e.g. http://127.0.0.1:8080", c.URL)
	}
	c.URL = strings.TrimSuffix(u.String(), "/")
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

// runTail runs "beacon tail".
func runTail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	_, err := parseTail(args, getenv, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.New("tail: not written yet")
}
