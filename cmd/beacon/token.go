package main

import (
	"context"
	"errors"
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

// tokenCommands is "beacon token": API tokens, made, listed and revoked on
// the server's database.
var (
	tokenGroup = group{name: "token", about: `  beacon token create --scope SCOPES [--user NAME] [--name NAME] [--db FILE | --nats URL]
  beacon token list [--db FILE | --nats URL]
  beacon token revoke ID [--db FILE | --nats URL]

API tokens let programs call Beacon: the API routes their scopes allow
(` + strings.Join(auth.AllScopes, ", ") + `). The token is printed once; the database
keeps only its hash. beacon token COMMAND --help says more.

` + clusterNote}
	tokenCreate = command{name: "token create", synopsis: "--scope SCOPES [--user NAME] [--name NAME] [--db FILE | --nats URL]",
		about: `Makes an API token and prints it once (the database keeps only its hash).
A server token (no --user) may use its scopes for anyone: notify any user.
With --user it is that account's, as if made on its /settings page: it acts
as that account (chat posts under its name, read sees its notifications),
and the scopes only admins' tokens carry (` + adminScopes() + `) need the account
to be an admin, now and whenever the token is used.
`}
	tokenList = command{name: "token list", synopsis: "[--db FILE | --nats URL]",
		about: "Lists every API token: the server's and every account's, with its owner, scopes and state.\n"}
	tokenRevoke = command{name: "token revoke", synopsis: "ID [--db FILE | --nats URL]",
		about: "Revokes the token ID (see beacon token list), whoever owns it: a running server refuses it\nat once and closes the live connections it holds within seconds.\n"}
)

// adminScopes lists the scopes only an admin's token may carry.
func adminScopes() string {
	var out []string
	for _, sc := range auth.AllScopes {
		if auth.NeedsAdmin(sc) {
			out = append(out, sc)
		}
	}
	return strings.Join(out, ", ")
}

// runToken runs "beacon token create|list|revoke".
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	name, args, err := tokenGroup.pick(args, stdout, "create", "list", "revoke")
	if err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	var cmd command
	switch name {
	case "create":
		cmd = tokenCreate
	case "list":
		cmd = tokenList
	case "revoke":
		cmd = tokenRevoke
	default:
		return usagef("token", "token: unknown command %q", name)
	}
	fs := cmd.flags()
	target := storeFlags(fs, getenv, "the server's SQLite database file")
	var scope, label, owner *string
	if name == "create" {
		scope = fs.String("scope", "", "the token's scopes, separated by commas: "+strings.Join(auth.AllScopes, ", "))
		label = fs.String("name", "", "what the token is for (default: cli and the date)")
		owner = fs.String("user", "", "the account the token belongs to and acts as (default: none, a server token)")
	}
	rest, err := cmd.parseArgs(fs, args, stdout)
	if errors.Is(err, errHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	var do func(*db.Store) error
	switch name {
	case "create":
		scopes, err := auth.ParseScopes(*scope)
		if err != nil {
			return usagef(cmd.name, "token create: --scope: %v", err)
		}
		if len(rest) > 0 {
			return usagef(cmd.name, "token create: unexpected argument %q", rest[0])
		}
		if *label == "" {
			*label = "cli " + time.Now().UTC().Format("2006-01-02 15:04")
		}
		do = func(store *db.Store) error {
			var userID int64
			if *owner != "" {
				u, err := store.UserByName(ctx, *owner)
				if errors.Is(err, db.ErrNotFound) {
					return fmt.Errorf("token create: no account is called %q (see beacon user list)", *owner)
				}
				if err != nil {
					return err
				}
				for _, sc := range scopes {
					if auth.NeedsAdmin(sc) && !u.Admin() {
						return fmt.Errorf("token create: scope %s needs an admin's token, and %s is a member (beacon user admin %s makes them one)", sc, u.Name, u.Name)
					}
				}
				userID = u.ID
			}
			tok := auth.Secret(auth.TokenPrefix)
			t, err := store.CreateToken(ctx, userID, *label, tok, scopes)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, tok)
			whose := "a server token"
			if *owner != "" {
				whose = "acting as " + *owner
			}
			fmt.Fprintf(stderr, "Token %d (%s), %s, scopes %s. Copy it now: it is not shown again.\n",
				t.ID, t.Name, whose, strings.Join(t.Scopes, ", "))
			return nil
		}
	case "list":
		if len(rest) > 0 {
			return usagef(cmd.name, "token list: unexpected argument %q", rest[0])
		}
		do = func(store *db.Store) error {
			tokens, err := store.AllTokens(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tOWNER\tNAME\tSCOPES\tCREATED\tLAST USED\tSTATE")
			for _, t := range tokens {
				owner, used, state := "(server)", "never", "active"
				if t.UserID != 0 {
					owner = t.OwnerName
				}
				if !t.LastUsed.IsZero() {
					used = t.LastUsed.Format(time.RFC3339)
				}
				if !t.Revoked.IsZero() {
					state = "revoked " + t.Revoked.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, owner, t.Name, strings.Join(t.Scopes, ","),
					t.At.Format(time.RFC3339), used, state)
			}
			return tw.Flush()
		}
	case "revoke":
		if len(rest) != 1 {
			return usagef(cmd.name, "token revoke: give the ID of one token, as beacon token list shows it")
		}
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || id < 1 {
			return usagef(cmd.name, "token revoke: %q is not a token ID: IDs are the numbers beacon token list shows", rest[0])
		}
		do = func(store *db.Store) error {
			err := store.RevokeAnyToken(ctx, id, time.Now())
			if errors.Is(err, db.ErrNotFound) {
				return fmt.Errorf("token revoke: no working token has ID %d (see beacon token list)", id)
			}
			if err == nil {
				fmt.Fprintf(stderr, "Token %d revoked.\n", id)
			}
			return err
		}
	}
	return withStore(ctx, target, do)
}
