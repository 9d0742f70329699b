package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/db"
)

// bootstrapEnv names the variable whose value becomes a server token with
// every scope when Beacon starts: the first token, before anyone can sign in.
const bootstrapEnv = "BEACON_BOOTSTRAP_TOKEN"

// bootstrap makes tok the server token "bootstrap" with every scope.
func bootstrap(ctx context.Context, store *db.Store, tok string) error {
	if len(tok) < 20 {
		return fmt.Errorf("%s must be at least 20 characters (make one with: beacon token create --scope notify)", bootstrapEnv)
	}
	if err := store.SetServerToken(ctx, "bootstrap", tok, auth.AllScopes); err != nil {
		return fmt.Errorf("%s: %w", bootstrapEnv, err)
	}
	return nil
}

const tokenUsage = `Usage:
  beacon token create --scope SCOPES [--name NAME] [--db FILE]
  beacon token list [--db FILE]
  beacon token revoke ID [--db FILE]

Server tokens may call every API route their scopes allow, for any user.
Scopes: ` + "ingest:metrics, ingest:activity, notify" + ` (comma-separated).
The token is printed once; the database keeps only its hash.
`

// runToken runs "beacon token create|list|revoke".
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, tokenUsage)
		if len(args) == 0 {
			return errors.New("beacon token: name a command: create, list or revoke")
		}
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("beacon token "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	dbPath := fs.String("db", "beacon.db", "SQLite database file (env BEACON_DB)")
	scope := fs.String("scope", "", "scopes of the new token, comma-separated")
	name := fs.String("name", "", "what the token is for (default: cli <date>)")
	// Flags may come before or after the arguments (revoke 3 --db x).
	var rest []string
	for args = args[1:]; ; {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if v := getenv("BEACON_DB"); v != "" && !set["db"] {
		*dbPath = v
	}

	var do func(*db.Store) error
	switch cmd {
	case "create":
		scopes, err := auth.ParseScopes(*scope)
		if err != nil {
			return fmt.Errorf("beacon token create: --scope: %w", err)
		}
		if len(rest) > 0 {
			return fmt.Errorf("beacon token create: unexpected argument %q", rest[0])
		}
		if *name == "" {
			*name = "cli " + time.Now().UTC().Format("2006-01-02 15:04")
		}
		do = func(store *db.Store) error {
			tok := auth.Secret(auth.TokenPrefix)
			t, err := store.CreateToken(ctx, 0, *name, tok, scopes)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, tok)
			fmt.Fprintf(stderr, "Token %d (%s), scopes %s. Copy it now: it is not shown again.\n",
				t.ID, t.Name, strings.Join(t.Scopes, ", "))
			return nil
		}
	case "list":
		do = func(store *db.Store) error {
			tokens, err := store.Tokens(ctx, 0)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATE")
			for _, t := range tokens {
				used, state := "never", "active"
				if !t.LastUsed.IsZero() {
					used = t.LastUsed.Format(time.RFC3339)
				}
				if !t.Revoked.IsZero() {
					state = "revoked " + t.Revoked.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, strings.Join(t.Scopes, ","),
					t.At.Format(time.RFC3339), used, state)
			}
			return tw.Flush()
		}
	case "revoke":
		if len(rest) != 1 {
			return errors.New("beacon token revoke: give the ID of one token (see beacon token list)")
		}
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || id < 1 {
			return fmt.Errorf("beacon token revoke: %q is not a token ID", rest[0])
		}
		do = func(store *db.Store) error {
			err := store.RevokeToken(ctx, 0, id, time.Now())
			if errors.Is(err, db.ErrNotFound) {
				return fmt.Errorf("no active server token has ID %d (see beacon token list)", id)
			}
			if err == nil {
				fmt.Fprintf(stderr, "Token %d revoked.\n", id)
			}
			return err
		}
	default:
		fmt.Fprint(stderr, tokenUsage)
		return fmt.Errorf("beacon token: unknown command %q", cmd)
	}
	store, err := db.Open(ctx, *dbPath, db.Options{})
	if err != nil {
		return err
	}
	return errors.Join(do(store), store.Close())
}
