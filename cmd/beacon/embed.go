package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/handlers"
	"github.com/beacon-live/beacon/widget"
)

var (
	embedGroup = group{name: "embed", about: `  beacon embed create --widget metrics|chart|activity|room [--room NAME] [--post] [--origin URL]... [--ttl 24h] [--db FILE | --nats URL]
  beacon embed list [--db FILE | --nats URL]
  beacon embed revoke ID [--db FILE | --nats URL]

Widget tokens: what an iframe on another site (or a page with no script,
through /stream/) shows of Beacon. beacon embed COMMAND --help says more.

` + clusterNote}
	embedCreate = command{name: "embed create", synopsis: "--widget metrics|chart|activity|room [--room NAME] [--post] [--origin URL]... [--ttl 24h] [--db FILE | --nats URL]",
		about: `Stores a widget token in the database (it is listed and revocable there) and
prints it, signed with the server's secret, with the snippets to paste.
`}
	embedList = command{name: "embed list", synopsis: "[--db FILE | --nats URL]",
		about: "Lists every widget token made, here or on /settings.\n"}
	embedRevoke = command{name: "embed revoke", synopsis: "ID [--db FILE | --nats URL]",
		about: "Revokes the widget token ID: the server refuses it from then on and closes its open\nconnections within seconds.\n"}
)

// runEmbed runs "beacon embed create|list|revoke".
func runEmbed(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name, args, err := embedGroup.pick(args, stdout, "create", "list", "revoke")
	if err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	var cmd command
	switch name {
	case "create":
		return runEmbedCreate(ctx, args, getenv, stdout)
	case "list":
		cmd = embedList
	case "revoke":
		cmd = embedRevoke
	default:
		return usagef("embed", "embed: unknown command %q", name)
	}
	fs := cmd.flags()
	target := storeFlags(fs, getenv, "the server's SQLite database file")
	rest, err := cmd.parseArgs(fs, args, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	var do func(*db.Store) error
	if name == "list" {
		if len(rest) > 0 {
			return usagef(cmd.name, "embed list: unexpected argument %q", rest[0])
		}
		do = func(store *db.Store) error { return listWidgets(ctx, store, stdout) }
	} else {
		if len(rest) != 1 {
			return usagef(cmd.name, "embed revoke: give the ID of one widget token, as beacon embed list shows it")
		}
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || id < 1 {
			return usagef(cmd.name, "embed revoke: %q is not a widget token ID: IDs are the numbers beacon embed list shows", rest[0])
		}
		do = func(store *db.Store) error {
			err := store.RevokeWidgetToken(ctx, 0, id, time.Now())
			if errors.Is(err, db.ErrNotFound) {
				return fmt.Errorf("embed revoke: no working widget token has ID %d (see beacon embed list)", id)
			}
			if err == nil {
				fmt.Fprintf(stderr, "Widget token %d revoked.\n", id)
			}
			return err
		}
	}
	return withStore(ctx, target, do)
}

// listWidgets prints every widget token of store, newest first.
func listWidgets(ctx context.Context, store *db.Store, stdout io.Writer) error {
	widgets, err := store.WidgetTokens(ctx, 0, math.MaxInt32)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWIDGET\tROOM\tPOST\tORIGINS\tBY\tEXPIRES\tSTATE")
	now := time.Now()
	for _, w := range widgets {
		room, post, origins, by, state := "-", "no", "(server's list)", "cli", "active"
		if w.Room != "" {
			room = w.Room
		}
		if w.Post {
			post = "yes"
		}
		if len(w.Origins) > 0 {
			origins = strings.Join(w.Origins, ",")
		}
		if w.UserName != "" {
			by = w.UserName
		}
		switch {
		case !w.Revoked.IsZero():
			state = "revoked " + w.Revoked.Format(time.RFC3339)
		case !now.Before(w.Expires):
			state = "expired"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", w.ID, w.Widget, room, post, origins, by, w.Expires.Format(time.RFC3339), state)
	}
	return tw.Flush()
}

// runEmbedCreate runs "beacon embed create": it stores a widget token, signs
// it with the server's secret (from BEACON_SECRET, --secret-file or the
// database, like the server) and prints it with the snippets to paste.
func runEmbedCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := embedCreate
	fs := cmd.flags()
	var (
		c          widget.Claims
		origins    originList
		secretFile string
		ttl        time.Duration
		base       string
	)
	fs.StringVar(&c.Widget, "widget", "", "the widget: "+strings.Join(widget.Kinds, ", "))
	fs.StringVar(&c.Room, "room", "", "the room of a room widget")
	fs.BoolVar(&c.Post, "post", false, "let visitors post to the room (as guests)")
	fs.Var(&origins, "origin", "an origin that may frame the widget, e.g. https://example.com (repeat, or separate by commas); none leaves it to BEACON_EMBED_ORIGINS")
	fs.DurationVar(&ttl, "ttl", 30*24*time.Hour, "how long the token works")
	target := storeFlags(fs, getenv, "the server's SQLite database, which keeps the token (and whose secret signs it)")
	fs.StringVar(&secretFile, "secret-file", getenv("BEACON_SECRET_FILE"), "file holding the server's secret, if it is not the database's (env BEACON_SECRET_FILE; or the secret itself in BEACON_SECRET)")
	fs.StringVar(&base, "base", envOr(getenv, "BEACON_PUBLIC_URL", "http://"+envOr(getenv, "BEACON_ADDR", "127.0.0.1:8080")),
		"the URL people's browsers reach Beacon at (default: BEACON_PUBLIC_URL, else http:// and BEACON_ADDR)")
	if err := refuseSecretFlag(args); err != nil {
		return usagef(cmd.name, "embed create: %v", err)
	}
	rest, err := cmd.parseArgs(fs, args, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef(cmd.name, "embed create: unexpected argument %q", rest[0])
	}
	base, err = handlers.ParsePublicURL(base)
	if err != nil {
		return usagef(cmd.name, "embed create: --base: %v", err)
	}
	secret, err := loadSecret(getenv, secretFile)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		return usagef(cmd.name, "embed create: --ttl must be positive")
	}
	c.Origins = origins
	c.Expires = time.Now().Add(ttl).Unix()
	if err := c.Validate(); err != nil {
		return usagef(cmd.name, "embed create: %v", err)
	}
	var token string
	if err := withStore(ctx, target, func(store *db.Store) (err error) {
		token, err = storeAndSign(ctx, store, []byte(secret), &c)
		return err
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token (expires %s):\n%s\n\n", time.Unix(c.Expires, 0).UTC().Format(time.RFC3339), token)
	fmt.Fprintf(stdout, "live widget:\n%s\n\n", widget.IFrame(base, "/embed", token, c))
	fmt.Fprintf(stdout, "without JavaScript:\n%s\n", widget.IFrame(base, "/stream", token, c))
	return nil
}

// storeAndSign stores the widget token of c (made on the command line),
// sets its id and signs it with secret, or the database's when secret is
// nil.
func storeAndSign(ctx context.Context, store *db.Store, secret []byte, c *widget.Claims) (string, error) {
	var err error
	if secret == nil {
		if secret, err = store.Secret(ctx); err != nil {
			return "", err
		}
	}
	if len(secret) < widget.MinSecret { // before storing a token nothing could sign
		return "", fmt.Errorf("the server secret must be at least %d bytes", widget.MinSecret)
	}
	w, err := store.CreateWidgetToken(ctx, db.WidgetToken{Widget: c.Widget, Room: c.Room, Post: c.Post,
		Origins: c.Origins, Expires: time.Unix(c.Expires, 0)})
	if err != nil {
		return "", err
	}
	c.ID = w.ID
	return widget.Sign(secret, *c)
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// serverSecret returns the secret that signs widget tokens: the configured
// one, else the database's (made on first use).
func serverSecret(ctx context.Context, configured []byte, store *db.Store) ([]byte, error) {
	if configured != nil {
		return configured, nil
	}
	s, err := store.Secret(ctx)
	if err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	return s, nil
}

// secretValue is the server secret: 64+ hex digits (32+ bytes), or any
// other text of 32 bytes or more, used as it is.
type secretValue []byte

func (s *secretValue) String() string {
	if s == nil || len(*s) == 0 {
		return ""
	}
	return "(set)" // never print a secret
}

// refuseSecretFlag refuses --secret VALUE, which Beacon once took: a
// command line is visible to every local user (ps, /proc/PID/cmdline).
func refuseSecretFlag(args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "secret" {
			return errors.New("--secret is not accepted: a command line is visible to every user of the machine " +
				"(ps, /proc/PID/cmdline); put the secret in the environment variable BEACON_SECRET, " +
				"or in a file readable only by Beacon's user and pass --secret-file PATH (BEACON_SECRET_FILE)")
		}
	}
	return nil
}

// loadSecret returns the server secret from BEACON_SECRET or from the file
// at path (one of them, not both), or nil when neither is given. The file
// must be its owner's only (like ssh's keys): a secret others can read
// signs their widget tokens too. Surrounding white space is ignored.
func loadSecret(getenv func(string) string, path string) (secretValue, error) {
	env := getenv("BEACON_SECRET")
	var s secretValue
	switch {
	case env != "" && path != "":
		return nil, errors.New("the secret comes from BEACON_SECRET or --secret-file (BEACON_SECRET_FILE), not both")
	case env != "":
		if err := s.Set(strings.TrimSpace(env)); err != nil {
			return nil, fmt.Errorf("BEACON_SECRET: %w", err)
		}
	case path != "":
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return nil, fmt.Errorf("secret file %s can be read by other users (mode %04o): make it its owner's only (chmod 600 %s)",
				path, perm, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("secret file: %w", err)
		}
		if err := s.Set(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("secret file %s: %w", path, err)
		}
	}
	return s, nil
}

func (s *secretValue) Set(v string) error {
	if b, err := hex.DecodeString(v); err == nil && len(b) >= widget.MinSecret {
		*s = b
		return nil
	}
	if len(v) < widget.MinSecret {
		return fmt.Errorf("the secret must be at least %d bytes (e.g. 64 hex digits from `openssl rand -hex 32`)", widget.MinSecret)
	}
	*s = []byte(v)
	return nil
}

// originList is a flag of origins that may frame widgets, separated by
// commas or spaces, or given again; "*" means any.
type originList []string

func (o *originList) String() string { return strings.Join(*o, ",") }

func (o *originList) Set(v string) error {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if f == "*" {
			*o = append(*o, f)
			continue
		}
		origin, err := widget.ParseOrigin(f)
		if err != nil {
			return err
		}
		*o = append(*o, origin)
	}
	return nil
}
