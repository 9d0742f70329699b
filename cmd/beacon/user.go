package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/beacon-live/beacon/auth"
	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/handlers"
)

var (
	userGroup = group{name: "user", about: `  beacon user list [--db FILE | --nats URL]
  beacon user create NAME [--password-stdin] [--db FILE | --nats URL]
  beacon user admin NAME [--db FILE | --nats URL]
  beacon user member NAME [--db FILE | --nats URL]

Accounts of the server's database. Changes take effect at the account's next
request, on a running server too. beacon user COMMAND --help says more.

` + clusterNote}
	userList   = command{name: "user list", synopsis: "[--db FILE | --nats URL]", about: "Lists every account with its role.\n"}
	userCreate = command{name: "user create", synopsis: "NAME [--password-stdin] [--db FILE | --nats URL]",
		about: `Makes an account (a member; the first account of a database is the admin).
With --password-stdin its password is the first line of stdin; else one is
made and printed once.
`}
	userAdmin = command{name: "user admin", synopsis: "NAME [--db FILE | --nats URL]",
		about: `Makes NAME an admin: it may make ingest and notify tokens and widgets that
visitors post from, and sees the server panel.
`}
	userMember = command{name: "user member", synopsis: "NAME [--db FILE | --nats URL]",
		about: "Makes NAME a member again (not the last admin).\n"}
)

// runUser runs "beacon user list|create|admin|member". stdin is where
// create --password-stdin reads the password.
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	name, args, err := userGroup.pick(args, stdout, "list", "create", "admin", "member")
	if err != nil {
		if errors.Is(err, errHelp) {
			return nil
		}
		return err
	}
	cmd := map[string]command{"list": userList, "create": userCreate, "admin": userAdmin, "member": userMember}[name]
	if cmd.name == "" {
		return usagef("user", "user: unknown command %q", name)
	}
	fs := cmd.flags()
	target := storeFlags(fs, getenv, "the server's SQLite database file")
	var fromStdin *bool
	if name == "create" {
		fromStdin = fs.Bool("password-stdin", false, "read the new account's password from the first line of stdin")
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
	case "list":
		if len(rest) > 0 {
			return usagef(cmd.name, "user list: unexpected argument %q", rest[0])
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
			return usagef(cmd.name, "user create: give the new account's name")
		}
		password, generated := "", !*fromStdin
		if generated {
			password = auth.Secret("")
		} else {
			line, err := bufio.NewReader(io.LimitReader(stdin, 4<<10)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("user create: read the password from stdin: %w", err)
			}
			password = strings.TrimRight(line, "\r\n")
		}
		name, err := handlers.CheckAccount(rest[0], password)
		if err != nil {
			return usagef(cmd.name, "user create: %v", err)
		}
		do = func(store *db.Store) error {
			u, err := store.CreateUser(ctx, name, auth.HashPassword(password))
			if errors.Is(err, db.ErrExists) {
				return fmt.Errorf("user create: the name %s is taken", name)
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
			return usagef(cmd.name, "user %s: give the name of one account, as beacon user list shows it", name)
		}
		role := map[string]string{"admin": db.RoleAdmin, "member": db.RoleMember}[name]
		do = func(store *db.Store) error {
			u, err := store.SetRole(ctx, rest[0], role)
			switch {
			case errors.Is(err, db.ErrNotFound):
				return fmt.Errorf("user %s: no account is called %q (see beacon user list)", name, rest[0])
			case errors.Is(err, db.ErrLastAdmin):
				return fmt.Errorf("user member: %s is the last admin; make another account admin first", rest[0])
			case err != nil:
				return err
			}
			fmt.Fprintf(stderr, "%s is now %s.\n", u.Name, map[string]string{db.RoleAdmin: "an admin", db.RoleMember: "a member"}[u.Role])
			return nil
		}
	}
	return withStore(ctx, target, do)
}
