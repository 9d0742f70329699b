package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/beacon-live/beacon/db"
)

// The command line's conventions: help (-h, --help, help) is asked for, so
// it goes to stdout and exits 0; a command line that cannot be understood
// is a usageError, which main reports on stderr with status 2; anything
// that fails later exits 1. main adds the one "beacon:" prefix.

// usageError is a command line that does not say what to do: an unknown
// command or flag, a missing or malformed argument, a setting out of
// range. main exits with status 2 for it, as flag-parsing programs do.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef makes a usageError; help names the command whose --help to read.
func usagef(help, format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...) + " (see beacon " + strings.TrimSpace(help+" --help") + ")"}
}

// exitStatus is the status main exits with after run returned err.
func exitStatus(err error) int {
	var u *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &u):
		return 2
	}
	return 1
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// errHelp is what parseArgs returns once it has printed a command's help:
// the command then returns nil.
var errHelp = errors.New("help printed")

// command is one leaf of the command line: "token create", "tail".
type command struct {
	name     string // after "beacon "
	synopsis string // its arguments, after the name
	about    string // what it does, a paragraph or more
}

// flags returns the command's flag set. It prints nothing itself: parseArgs
// prints help to stdout and reports errors once, through main.
func (c command) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("beacon "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// help writes the command's usage and every flag of fs to w.
func (c command) help(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: beacon %s %s\n\n%s", c.name, c.synopsis, c.about)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// parseArgs parses args into fs, flags before or after the arguments
// (revoke 3 --db x), and returns the arguments. Asked for help (-h, --help,
// or "help" as the only argument) it prints the command's help to stdout
// and returns errHelp; a flag it does not know, or a bad value, is a
// usageError naming the command.
func (c command) parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	if len(args) == 1 && args[0] == "help" {
		c.help(stdout, fs)
		return nil, errHelp
	}
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.help(stdout, fs)
				return nil, errHelp
			}
			return nil, usagef(c.name, "%s: %v", c.name, err)
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// group is a command with subcommands ("token", "embed", "user"): its help
// lists them, and its name alone or an unknown subcommand is a usage error.
type group struct {
	name  string
	about string // the subcommands, a line each, and what they share
}

// pick returns the subcommand that args name and the arguments after it,
// or "" after printing the group's help (asked for), or a usage error.
func (g group) pick(args []string, stdout io.Writer, known ...string) (string, []string, error) {
	switch {
	case len(args) == 0:
		return "", nil, usagef(g.name, "%s: name a command: %s", g.name, orList(known))
	case isHelp(args[0]):
		if len(args) > 1 && args[0] == "help" {
			// "beacon token help create" is "beacon token create --help".
			return args[1], []string{"--help"}, nil
		}
		fmt.Fprintf(stdout, "Usage:\n%s", g.about)
		return "", nil, errHelp
	}
	for _, k := range known {
		if args[0] == k {
			return k, args[1:], nil
		}
	}
	return "", nil, usagef(g.name, "%s: unknown command %q; the commands are %s", g.name, args[0], orList(known))
}

// orList joins words as "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// topUsage is beacon --help's first part; the server's flags follow it.
const topUsage = `Usage:
  beacon [flags]            serve Beacon (the flags are below)
  beacon token …            make, list and revoke API tokens
  beacon embed …            make, list and revoke widget tokens
  beacon user …             list and make accounts; make them admins or members
  beacon tail …             follow live topics from a terminal, one line per event
  beacon cluster status     a cluster's log and the servers that keep it
  beacon help [COMMAND]     this text, or a command's (also: beacon COMMAND --help)
  beacon --version          the version, and the revision it was built from

Beacon serves live, server-rendered HTML. token, embed and user work on the
server's database (--db, or BEACON_DB), beside a running server, or on a
cluster's log (--nats); tail needs only its URL and an API token.

Every setting of the server is a flag or an environment variable:

`

// version is beacon --version's line: the module's version (or "(devel)"
// when built from a checkout), the VCS revision and time it was built
// from when the build recorded them, and the Go version.
func version() string {
	v, extra := "(unknown)", []string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		var rev, at, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = ", with uncommitted changes"
				}
			}
		}
		if rev != "" {
			extra = append(extra, "revision "+rev+" ("+strings.TrimPrefix(at+modified, ", ")+")")
		}
	}
	extra = append(extra, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
	return "beacon " + v + ", " + strings.Join(extra, ", ")
}

// dbFlag binds --db to fs, with BEACON_DB, else beacon.db, as its default.
func dbFlag(fs *flag.FlagSet, getenv func(string) string, usage string) *string {
	return fs.String("db", envOr(getenv, "BEACON_DB", "beacon.db"), usage+" (env BEACON_DB)")
}

// openExisting opens the server's database at path for a management
// command. A file that is not there is refused, naming it: making an empty
// database would only hide a mistyped path or the wrong directory (and a
// token stored there works nowhere).
func openExisting(ctx context.Context, path string) (*db.Store, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("there is no database %s: point --db (or BEACON_DB) at the server's database file; "+
			"a server makes its database when it first starts", path)
	}
	store, err := db.Open(ctx, path, db.Options{})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return store, nil
}

// clusterNote ends the help of the commands that take --nats.
const clusterNote = `In a cluster, give --nats the NATS its instances share (an instance's embedded
server listens on nats://127.0.0.1:4222 unless --nats-listen says otherwise):
the command then reads the cluster's state and writes through its log, to
every instance at once. An instance's database file refuses other writes.
`

// storeTarget is what a management command works on: the server's
// database (--db), or, in a cluster, the log its instances share, reached
// through NATS (--nats).
type storeTarget struct {
	db   *string
	nats natsFlag
}

// storeFlags binds --db and --nats to fs, with BEACON_DB and BEACON_NATS
// as their defaults.
func storeFlags(fs *flag.FlagSet, getenv func(string) string, usage string) *storeTarget {
	t := &storeTarget{db: dbFlag(fs, getenv, usage)}
	t.nats.bind(fs, getenv, "in a cluster: the NATS its instances share, nats://host:port, comma-separated "+
		"(env BEACON_NATS); the command then reads and writes through the cluster's log, not --db")
	return t
}

// bind makes f the --nats flag of fs, BEACON_NATS its default.
func (f *natsFlag) bind(fs *flag.FlagSet, getenv func(string) string, usage string) {
	if v := getenv("BEACON_NATS"); v != "" {
		f.envErr, f.fromEnv = f.urls.Set(v), true
	}
	fs.Var(f, "nats", usage)
}

// natsFlag is --nats: a flag given replaces BEACON_NATS.
type natsFlag struct {
	urls    urlList
	fromEnv bool
	envErr  error // BEACON_NATS did not parse: said when it is used
}

func (f *natsFlag) String() string { return f.urls.String() }

func (f *natsFlag) Set(v string) error {
	if f.fromEnv {
		f.urls, f.fromEnv, f.envErr = nil, false, nil
	}
	return f.urls.Set(v)
}

// withStore runs do on what t names, and closes it: the existing database
// at --db, or, with --nats, a database that follows the cluster's log.
func withStore(ctx context.Context, t *storeTarget, do func(*db.Store) error) error {
	if t.nats.envErr != nil {
		return fmt.Errorf("BEACON_NATS: %w", t.nats.envErr)
	}
	if len(t.nats.urls) > 0 {
		return withClusterStore(ctx, t.nats.urls, do)
	}
	store, err := openExisting(ctx, *t.db)
	if err != nil {
		return err
	}
	return errors.Join(do(store), store.Close())
}
