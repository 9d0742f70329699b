package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/handlers"
)

const userUsage = `Usage:
  beacon user list [--db FILE]
  beacon user create NAME [--password-stdin] [--db FILE]
  beacon user admin NAME [--db FILE]
  beacon user member NAME [--db FILE]

create makes an account (a member; the first account of a database is the
admin): with --password-stdin its password is the first line of stdin, else
one is made and printed once. admin makes an account an admin: it may make
ingest and notify tokens and widgets that visitors post from, and sees the
server panel. member takes that away (not from the last admin). Changes take
effect at the account's next request, on a running server too.
`

// runUser runs "beacon user list|create|admin|member". stdin is where
// create --password-stdin reads the password.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, userUsage)
		if len(args) == 0 {
			return errors.New("beacon user: name a command: list, create, admin or member")
		}
		return nil
	}
	cmd := args[0]
	fs := flag.NewFlagSet("beacon user "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	dbPath := fs.String("db", envOr(getenv, "BEACON_DB", "beacon.db"), "SQLite database file (env BEACON_DB)")
	fromStdin := fs.Bool("password-stdin", false, "read the new account's password from the first line of stdin")
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	var do func(*db.Store) error
	switch cmd {
	case "list":
		if len(rest) > 0 {
			return fmt.Errorf("beacon user list: unexpected argument %q", rest[0])
		}
		do = func(store *db.Store) error {
			users, err := store.Users(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED")
			for _, u := range users {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", u.ID, u.Name, u.Role, u.At.Format(time.RFC3339))
			}
			return tw.Flush()
		}
	case "create":
		if len(rest) != 1 {
			return errors.New("beacon user create: give the new account's name")
		}
		password, generated := "", !*fromStdin
		if generated {
			password = auth.Secret("")
		} else {
			line, err := bufio.NewReader(io.LimitReader(stdin, 4<<10)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("beacon user create: read the password from stdin: %w", err)
			}
			password = strings.TrimRight(line, "\r\n")
		}
		name, err := handlers.CheckAccount(rest[0], password)
		if err != nil {
			return fmt.Errorf("beacon user create: %w", err)
		}
		do = func(store *db.Store) error {
			u, err := store.CreateUser(ctx, name, auth.HashPassword(password))
			if errors.Is(err, db.ErrExists) {
				return fmt.Errorf("beacon user create: the name %s is taken", name)
			}
			if err != nil {
				return err
			}
			if generated {
				fmt.Fprintln(stdout, password)
				fmt.Fprintf(stderr, "Account %d (%s, %s) made; its password is above. Copy it now: it is not shown again.\n", u.ID, u.Name, u.Role)
			} else {
				fmt.Fprintf(stderr, "Account %d (%s, %s) made.\n", u.ID, u.Name, u.Role)
			}
			return nil
		}
	case "admin", "member":
		if len(rest) != 1 {
			return fmt.Errorf("beacon user %s: give the name of one account (see beacon user list)", cmd)
		}
		role := map[string]string{"admin": db.RoleAdmin, "member": db.RoleMember}[cmd]
		do = func(store *db.Store) error {
			u, err := store.SetRole(ctx, rest[0], role)
			switch {
			case errors.Is(err, db.ErrNotFound):
				return fmt.Errorf("beacon user %s: no account is called %q (see beacon user list)", cmd, rest[0])
			case errors.Is(err, db.ErrLastAdmin):
				return fmt.Errorf("beacon user member: %s is the last admin; make another account admin first", rest[0])
			case err != nil:
				return err
			}
			fmt.Fprintf(stderr, "%s is now %s.\n", u.Name, map[string]string{db.RoleAdmin: "an admin", db.RoleMember: "a member"}[u.Role])
			return nil
		}
	default:
		fmt.Fprint(stderr, userUsage)
		return fmt.Errorf("beacon user: unknown command %q", cmd)
	}
	store, err := db.Open(ctx, *dbPath, db.Options{})
	if err != nil {
		return err
	}
	return errors.Join(do(store), store.Close())
}

// parseInterleaved parses fs from args where flags may come before or
// after the arguments (revoke 3 --db x), and returns the arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
