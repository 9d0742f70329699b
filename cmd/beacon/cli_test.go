package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// runStatus runs a beacon command line with an empty environment and
// returns what it printed and the status main would exit with.
func runStatus(t testing.TB, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errOut strings.Builder
	err := run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
	if err != nil {
		// What main prints.
		errOut.WriteString("beacon: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), exitStatus(err)
}

// TestCLIHelp: every command and subcommand answers -h, --help and help
// on stdout with status 0, and says nothing on stderr.
func TestCLIHelp(t *testing.T) {
	commands := [][]string{{}, {"token"}, {"token", "create"}, {"token", "list"}, {"token", "revoke"},
		{"embed"}, {"embed", "create"}, {"embed", "list"}, {"embed", "revoke"},
		{"user"}, {"user", "list"}, {"user", "create"}, {"user", "admin"}, {"user", "member"}, {"tail"},
		{"cluster"}, {"cluster", "status"}}
	for _, cmd := range commands {
		forms := [][]string{append(append([]string{}, cmd...), "-h"), append(append([]string{}, cmd...), "--help"),
			append([]string{"help"}, cmd...)}
		if len(cmd) == 1 {
			forms = append(forms, []string{cmd[0], "help"})
		}
		for _, args := range forms {
			out, errOut, status := runStatus(t, args...)
			if status != 0 || errOut != "" || !strings.Contains(out, "Usage") {
				t.Errorf("beacon %s: status %d, stderr %q, stdout %.200q; want the usage on stdout and status 0",
					strings.Join(args, " "), status, errOut, out)
			}
		}
	}

	top, _, _ := runStatus(t, "--help")
	for _, sub := range []string{"token", "embed", "user", "tail", "cluster", "--version"} {
		if !regexp.MustCompile(`(?m)^\s+beacon ` + regexp.QuoteMeta(sub) + `\b.*\S\s{2,}\S`).MatchString(top) {
			t.Errorf("beacon --help does not list %q with a line saying what it does:\n%s", sub, top)
		}
	}
	for cmd, flags := range map[string][]string{
		"token create": {"-scope", "-name", "-user", "-db"},
		"token list":   {"-db"},
		"user create":  {"-password-stdin", "-db"},
		"embed create": {"-widget", "-room", "-post", "-origin", "-ttl", "-db"},
		"tail":         {"-url", "-token", "-json"},
	} {
		out, _, _ := runStatus(t, append(strings.Fields(cmd), "--help")...)
		for _, f := range flags {
			if !strings.Contains(out, "  "+f) {
				t.Errorf("beacon %s --help does not list %s:\n%s", cmd, f, out)
			}
		}
	}
	if out, _, _ := runStatus(t, "token", "create", "--help"); strings.Contains(out, "-password-stdin") || strings.Contains(out, "-widget") {
		t.Errorf("beacon token create --help lists another command's flags:\n%s", out)
	}
}

// TestCLIUsageErrors: a command line that cannot be understood exits 2,
// with one "beacon:" prefix and a hint where to look.
func TestCLIUsageErrors(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "beacon.db")
	for _, args := range [][]string{
		{"--no-such-flag"}, {"--queue", "many"}, {"--retention", "0"}, {"surprise"},
		{"token"}, {"token", "burn"}, {"token", "create", "--db", dbPath}, {"token", "create", "--scope", "admin", "--db", dbPath},
		{"token", "revoke", "x", "--db", dbPath}, {"token", "revoke", "--db", dbPath}, {"token", "list", "--bogus"}, {"token", "list", "extra"},
		{"user"}, {"user", "promote"}, {"user", "admin", "--db", dbPath}, {"user", "create", "a b", "--db", dbPath},
		{"embed"}, {"embed", "burn"}, {"embed", "create", "--widget", "nope", "--db", dbPath}, {"embed", "revoke", "x", "--db", dbPath},
		{"tail"}, {"tail", "--url", "ftp://x", "activity"}, {"tail", "--bogus"},
		{"cluster"}, {"cluster", "grow"}, {"cluster", "status"}, {"cluster", "status", "--nats", "http://x"}, {"cluster", "status", "extra"},
	} {
		_, errOut, status := runStatus(t, args...)
		if status != 2 {
			t.Errorf("beacon %s: status %d, want 2 (a usage error); stderr %q", strings.Join(args, " "), status, errOut)
		}
		if strings.Contains(errOut, "beacon: beacon") {
			t.Errorf("beacon %s: %q says beacon twice", strings.Join(args, " "), errOut)
		}
		if !strings.Contains(errOut, "--help") {
			t.Errorf("beacon %s: %q does not say where to read the usage", strings.Join(args, " "), errOut)
		}
	}
	if _, err := os.Stat(dbPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a usage error made the database %s: %v", dbPath, err)
	}
}

// TestVersion: beacon --version says which build it is.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		out, errOut, status := runStatus(t, arg)
		if status != 0 || errOut != "" || !strings.HasPrefix(out, "beacon ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("beacon %s: status %d, stdout %q, stderr %q; want \"beacon <version> … %s\"", arg, status, out, errOut, runtime.Version())
		}
	}
}

// TestCLIRefusesMissingDatabase: the management commands refuse a
// database file that is not there (a typo, or the wrong directory) instead
// of making an empty one the server never reads.
func TestCLIRefusesMissingDatabase(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "elsewhere.db")
	for _, args := range [][]string{
		{"token", "list"}, {"token", "create", "--scope", "notify"}, {"token", "revoke", "1"},
		{"embed", "list"}, {"embed", "revoke", "1"}, {"embed", "create", "--widget", "metrics"},
		{"user", "list"}, {"user", "create", "zoe"}, {"user", "admin", "zoe"},
	} {
		_, errOut, status := runStatus(t, append(args, "--db", missing)...)
		if status != 1 || !strings.Contains(errOut, missing) || !strings.Contains(errOut, "--db") {
			t.Errorf("beacon %s --db %s: status %d, stderr %q; want 1, naming the file and --db", strings.Join(args, " "), missing, status, errOut)
		}
		if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("beacon %s made %s", strings.Join(args, " "), missing)
		}
	}
	// BEACON_DB is named when it is where the path came from.
	var errOut strings.Builder
	err := run(t.Context(), []string{"user", "list"}, func(k string) string {
		if k == "BEACON_DB" {
			return missing
		}
		return ""
	}, io.Discard, &errOut)
	if err == nil || !strings.Contains(err.Error(), missing) || exitStatus(err) != 1 {
		t.Errorf("BEACON_DB=%s beacon user list: %v (status %d)", missing, err, exitStatus(err))
	}
}

// TestTokenListAndRevokeEveryToken: the command line lists every API
// token, a person's with its owner's name, and revokes any of them.
func TestTokenListAndRevokeEveryToken(t *testing.T) {
	in := start(t, "", "")
	ann := signUp(t, in.URL, "ann") // the first account: an admin
	annTok := createToken(t, in.URL, ann, "notify")
	runCLI(t, "user", "create", "bob", "--db", in.DB)
	deployTok, _ := runCLI(t, "token", "create", "--scope", "ingest:activity", "--user", "ann", "--name", "deploys", "--db", in.DB)
	deployTok = strings.TrimSpace(deployTok)

	out, _ := runCLI(t, "token", "list", "--db", in.DB)
	for _, want := range []string{`(?m)^\d+\s+ann\s+test notify\s+notify\s`, `(?m)^\d+\s+ann\s+deploys\s+ingest:activity\s`, `(?m)^\d+\s+\(server\)\s+bootstrap\s`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("token list does not match %s:\n%s", want, out)
		}
	}
	id := regexp.MustCompile(`(?m)^(\d+)\s+ann\s+test notify\s`).FindStringSubmatch(out)
	if id == nil {
		t.FailNow()
	}
	if status, body := apiPost(t, in.URL, "/api/notifications", annTok, map[string]string{"user": "ann", "title": "before"}); status != http.StatusCreated {
		t.Fatalf("ann's token before it is revoked: %d %s", status, body)
	}
	runCLI(t, "token", "revoke", id[1], "--db", in.DB)
	if status, body := apiPost(t, in.URL, "/api/notifications", annTok, map[string]string{"user": "ann", "title": "after"}); status != http.StatusUnauthorized {
		t.Errorf("ann's token revoked from the command line: %d %s, want 401", status, body)
	}
	if status, body := apiPost(t, in.URL, "/api/activity", deployTok, map[string]string{"text": "made for ann on the command line"}); status != http.StatusCreated {
		t.Errorf("a token made with --user ann: %d %s", status, body)
	}
	out, _ = runCLI(t, "token", "list", "--db", in.DB)
	if !regexp.MustCompile(`(?m)^` + id[1] + `\s+ann\s+test notify\s.*revoked`).MatchString(out) {
		t.Errorf("token list after revoking %s:\n%s", id[1], out)
	}
	// A member may not be given a token with a scope only admins' tokens
	// have; an unknown owner is named.
	for args, want := range map[string]string{
		"token create --scope notify --user bob":    "admin",
		"token create --scope notify --user nobody": "nobody",
	} {
		_, errOut, status := runStatus(t, append(strings.Fields(args), "--db", in.DB)...)
		if status == 0 || !strings.Contains(errOut, want) {
			t.Errorf("beacon %s: status %d, %q; want a refusal naming %q", args, status, errOut, want)
		}
	}
}
