package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beacon-live/beacon/db"
	"github.com/beacon-live/beacon/live"
	"github.com/beacon-live/beacon/views"
)

// Tests of Beacon's data at rest and at start: file modes, the secret, a
// damaged database, start-up errors.

// TestDatabaseIsPrivate: the database holds the widget secret, password
// hashes and private notifications: it, its -wal and its -shm are the
// owner's only from the first start.
func TestDatabaseIsPrivate(t *testing.T) {
	in := start(t, "", "")
	if _, err := postActivity(streamClient(t), in.URL, "written"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{in.DB, in.DB + "-wal", in.DB + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", filepath.Base(name), fi.Mode().Perm())
		}
	}
}

// TestSecretIsNotAFlagValue: a secret on the command line is visible to
// every local user; --secret is refused with the two ways that are not,
// and the refusal does not repeat the secret.
func TestSecretIsNotAFlagValue(t *testing.T) {
	secret := strings.Repeat("5e", 32)
	for _, args := range [][]string{
		{"--secret", secret},
		{"-secret=" + secret},
		{"embed", "create", "--widget", "metrics", "--secret", secret},
	} {
		args = append(args, "--db", filepath.Join(t.TempDir(), "b.db"))
		var err error
		if args[0] == "embed" {
			err = run(t.Context(), args, testEnv, io.Discard, io.Discard)
		} else {
			err = runOnce(t, args...)
		}
		if err == nil || !strings.Contains(err.Error(), "BEACON_SECRET") || !strings.Contains(err.Error(), "--secret-file") {
			t.Errorf("run %q: %v, want a refusal pointing to BEACON_SECRET and --secret-file", args[0], err)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("run %q: the refusal repeats the secret: %v", args[0], err)
		}
	}
}

// TestSecretFromFileOrEnvironment: the secret comes from BEACON_SECRET or
// from a file that only its owner may read, not from both.
func TestSecretFromFileOrEnvironment(t *testing.T) {
	secret := strings.Repeat("5e", 32)
	private := secretFile(t, secret, 0o600)
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		refusal string // empty: accepted
	}{
		{"file", []string{"--secret-file", private}, nil, ""},
		{"file from the environment", nil, map[string]string{"BEACON_SECRET_FILE": private}, ""},
		{"environment", nil, map[string]string{"BEACON_SECRET": secret}, ""},
		{"file readable by others", []string{"--secret-file", secretFile(t, secret, 0o644)}, nil,
			"can be read by other users (mode 0644): make it its owner's only"},
		{"missing file", []string{"--secret-file", filepath.Join(t.TempDir(), "none")}, nil, "no such file"},
		{"too short", []string{"--secret-file", secretFile(t, "short", 0o600)}, nil, "at least 32 bytes"},
		{"both", []string{"--secret-file", private}, map[string]string{"BEACON_SECRET": secret}, "not both"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newConfig(tt.args, env(tt.env), io.Discard)
			switch {
			case tt.refusal == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.refusal == "" && hex.EncodeToString(c.Secret) != secret:
				t.Fatalf("secret %x, want %s", []byte(c.Secret), secret)
			case tt.refusal != "" && (err == nil || !strings.Contains(err.Error(), tt.refusal)):
				t.Fatalf("got %v, want a refusal saying %q", err, tt.refusal)
			}
		})
	}
}

// damagedDatabase makes a database of a few hundred pages with n
// activities, stopped cleanly, and returns its path and the number of a
// leaf page of the events table in the middle of the log.
func damagedDatabase(t *testing.T, n int) (path string, leaf int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "beacon.db")
	store, err := db.Open(t.Context(), path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := store.AddActivity(t.Context(), strings.Repeat("activity ", 10)+time.Duration(i).String(), "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var root int
	err = raw.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'events'`).Scan(&root)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Down the b-tree through the middle child of each interior page
	// (https://sqlite.org/fileformat2.html#b_tree_pages).
	size := int(binary.BigEndian.Uint16(file[16:18]))
	for leaf = root; ; {
		p := file[(leaf-1)*size : leaf*size]
		if p[0] == 0x0d { // a table leaf
			return path, leaf
		}
		if p[0] != 0x05 {
			t.Fatalf("page %d is not a table b-tree page", leaf)
		}
		cells := int(binary.BigEndian.Uint16(p[3:5]))
		cell := int(binary.BigEndian.Uint16(p[12+2*(cells/2):]))
		leaf = int(binary.BigEndian.Uint32(p[cell:]))
	}
}

// overwrite writes data over the file at path, from offset.
func overwrite(t *testing.T, path string, offset int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, offset); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedDatabase: a damaged page or a last page cut in half stops the
// start, naming the file and what is wrong. With --skip-check Beacon serves
// what it can read, and a stream that resumes across the damaged page is
// told to come back (and the log says why), instead of ending empty.
func TestDamagedDatabase(t *testing.T) {
	const n = 1500
	garbled, leaf := damagedDatabase(t, n)
	overwrite(t, garbled, int64(leaf-1)*4096, []byte(strings.Repeat("\xa5", 512)))
	cut, _ := damagedDatabase(t, n)
	fi, err := os.Stat(cut)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(cut, fi.Size()-2048); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{garbled, cut} {
		err := runOnce(t, "--db", path)
		if err == nil || !strings.Contains(err.Error(), "database file is damaged: "+path+": ") ||
			!strings.Contains(err.Error(), "--skip-check") {
			t.Fatalf("start on a damaged file: %v\nwant a refusal naming %s, what the check found, and --skip-check", err, path)
		}
		t.Logf("refused: %v", err)
	}

	in := start(t, garbled, "", "--skip-check")
	epoch, head := epochOf(t, in.URL)
	if head != n {
		t.Fatalf("head %d, want %d", head, n)
	}
	st := openStream(t, liveURL(in.URL, views.TopicActivity), live.FormatID(epoch, 1))
	var last sseBlock
	for {
		b, err := st.Next()
		if err != nil {
			break
		}
		last = b
	}
	if !last.HasRetry || last.Event != views.EventRetry {
		t.Fatalf("a resume across the damaged page ended with %+v, want a retry hint", last)
	}
	waitFor(t, 10*time.Second, "an error line in the log", func() (bool, string) {
		logs := in.Logs()
		return strings.Contains(logs, "level=ERROR") && strings.Contains(logs, "database file is damaged"), logs
	})
}

// TestStartErrorsSayWhereAndWhat: a database that cannot be made is
// reported as what it is, with the path at fault. (Permissions do not bind
// root, as CI runs; a path under a regular file fails for everyone.)
func TestStartErrorsSayWhereAndWhat(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "beacon.db")
	err := runOnce(t, "--db", path)
	if want := "cannot create " + path + ": " + file + " is not a directory"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start: %v\nwant it to say: %s", err, want)
	}
}

// runOnce runs Beacon with args on a free port and, if it starts, stops it
// at once; it returns what run returned.
func runOnce(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	listening := writerFunc(func(p []byte) (int, error) { cancel(); return len(p), nil })
	return run(ctx, append([]string{"--addr", "127.0.0.1:0", "--log-level", "error"}, args...), testEnv, listening, io.Discard)
}

// writerFunc is an io.Writer made of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
