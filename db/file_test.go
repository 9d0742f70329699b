package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// modes returns the permission bits of the database file, its -wal and its
// -shm ("-" for one that does not exist).
func modes(path string) map[string]string {
	m := map[string]string{}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		fi, err := os.Stat(path + suffix)
		if err != nil {
			m["db"+suffix] = "-"
			continue
		}
		m["db"+suffix] = fi.Mode().Perm().String()
	}
	return m
}

// TestOpenMakesPrivateFiles: the database holds password hashes, the
// server's secret and private notifications; it, its -wal and its -shm are
// its owner's only, whatever the umask.
func TestOpenMakesPrivateFiles(t *testing.T) {
	old := syscall.Umask(0) // the most permissive umask; restored below
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "beacon.db")
	s := openAt(t, path, Options{})
	if _, err := s.AddActivity(context.Background(), "x", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"db": "-rw-------", "db-wal": "-rw-------", "db-shm": "-rw-------"}
	if got := modes(path); !equalMaps(got, want) {
		t.Fatalf("modes %v, want %v", got, want)
	}
}

// TestOpenRestrictsAnExistingDatabase: a database made readable by others
// (by an older Beacon, or a copy) is restricted at start, and the log says so.
func TestOpenRestrictsAnExistingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "beacon.db")
	first := openAt(t, path, Options{}) // keeps the -wal and -shm there
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	second := openAt(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	want := map[string]string{"db": "-rw-------", "db-wal": "-rw-------", "db-shm": "-rw-------"}
	if got := modes(path); !equalMaps(got, want) {
		t.Fatalf("modes %v, want %v", got, want)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if !strings.Contains(logs.String(), "file="+path+suffix+" was=0644 now=0600") {
			t.Errorf("the log does not say that %s was restricted:\n%s", path+suffix, logs.String())
		}
	}
	for _, s := range []*Store{first, second} {
		if _, err := s.AddActivity(context.Background(), "both still write", "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpenSaysWhatIsWrongAndWhere: a database that cannot be made is
// reported as what it is, naming the file and the directory at fault, and
// nothing is left behind.
func TestOpenSaysWhatIsWrongAndWhere(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"under a file", filepath.Join(file, "sub", "beacon.db"),
			"cannot create " + filepath.Join(file, "sub", "beacon.db") + ": " + file + " is not a directory"},
		{"missing directory", filepath.Join(dir, "no", "such", "beacon.db"),
			"cannot create " + filepath.Join(dir, "no", "such", "beacon.db") + ": directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{"a directory", dir, "database " + dir + " is a directory, not a file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open: %v\nwant it to say: %s", err, tt.want)
			}
		})
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind in %s: %v", dir, entries)
	}
}

// skipAsRoot skips tests of file permissions, which do not bind root (CI
// runs as root; run these as another user to see them).
func skipAsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes whatever the permissions say")
	}
}

func TestOpenUnwritableDirectory(t *testing.T) {
	skipAsRoot(t)
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "beacon.db")
	_, err := Open(context.Background(), path, Options{})
	want := "cannot create " + path + ": directory " + dir + " is not writable (permission denied)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v\nwant it to say: %s", err, want)
	}
}

// TestOpenReadOnlyDatabase: a database Beacon cannot write is refused as
// such, and the failed start leaves no -wal or -shm beside it.
func TestOpenReadOnlyDatabase(t *testing.T) {
	skipAsRoot(t)
	path := filepath.Join(t.TempDir(), "beacon.db")
	s := openAt(t, path, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path, Options{})
	want := "database " + path + " is read-only (mode 0444): Beacon needs to write it"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open: %v\nwant it to say: %s", err, want)
	}
	if got := modes(path); got["db-wal"] != "-" || got["db-shm"] != "-" {
		t.Fatalf("a failed start left %v", got)
	}
}

// damagedCopies makes a database of a few hundred pages and returns its
// bytes (closed, so its WAL is in the file), and a copy with a leaf page of
// the events table, in the middle of the log, overwritten with garbage.
func damagedCopies(t *testing.T) (whole, garbled []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "whole.db")
	s := openAt(t, path, Options{})
	for range 2000 {
		if _, err := s.AddActivity(context.Background(), strings.Repeat("activity text ", 8), "", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	var root int
	if err := s.r.QueryRow(`SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'events'`).Scan(&root); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	leaf := middleLeaf(t, whole, root)
	garbled = append([]byte(nil), whole...)
	size := pageSize(whole)
	for i := range 512 {
		garbled[(leaf-1)*size+i] = 0xA5
	}
	return whole, garbled
}

func pageSize(file []byte) int { return int(binary.BigEndian.Uint16(file[16:18])) }

// middleLeaf walks a table's b-tree from its root page through the middle
// child of each interior page (https://sqlite.org/fileformat2.html#b_tree_pages)
// down to a leaf, and returns the leaf's page number.
func middleLeaf(t *testing.T, file []byte, page int) int {
	t.Helper()
	size := pageSize(file)
	for {
		p := file[(page-1)*size : page*size]
		switch p[0] {
		case 0x0d: // a table leaf
			return page
		case 0x05: // a table interior page: cell pointers after a 12-byte header
			cells := int(binary.BigEndian.Uint16(p[3:5]))
			cell := int(binary.BigEndian.Uint16(p[12+2*(cells/2):]))
			page = int(binary.BigEndian.Uint32(p[cell:]))
		default:
			t.Fatalf("page %d is not a table b-tree page (type %#x)", page, p[0])
		}
	}
}

// TestOpenRefusesADamagedFile: a page overwritten with garbage, or a last
// page cut in half, is found at start, unless the check is skipped.
func TestOpenRefusesADamagedFile(t *testing.T) {
	whole, garbled := damagedCopies(t)
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"a garbled page", garbled},
		{"half a last page", whole[:len(whole)-pageSize(whole)/2]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "beacon.db")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(context.Background(), path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a damaged file")
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path+": ") {
				t.Fatalf("Open: %v; want ErrDamaged naming %s and what the check found", err, path)
			}
			t.Logf("Open: %v", err)
			if got := modes(path); got["db-wal"] != "-" || got["db-shm"] != "-" {
				t.Errorf("a refused start left %v", got)
			}
		})
	}
	t.Run("skipping the check", func(t *testing.T) {
		// What can be read is served; a read across the damage says what
		// is wrong.
		path := filepath.Join(t.TempDir(), "beacon.db")
		if err := os.WriteFile(path, garbled, 0o600); err != nil {
			t.Fatal(err)
		}
		s := openAt(t, path, Options{SkipCheck: true})
		if _, _, err := s.Horizon(context.Background()); err != nil {
			t.Fatalf("Horizon reads the first and last pages only: %v", err)
		}
		if _, _, err := s.EventsAfter(context.Background(), []string{topicActivity}, 0, 100_000); !errors.Is(err, ErrUnavailable) ||
			Reason(err) != "database file is damaged" {
			t.Errorf("reading across the damage: %v (reason %q), want ErrUnavailable: database file is damaged", err, Reason(err))
		}
	})
}

// TestDiskFull: writes that find the disk full fail with ErrUnavailable
// ("database full") and change nothing; WriteError says so until a write
// succeeds, which happens by itself once there is room again.
func TestDiskFull(t *testing.T) {
	var limit atomic.Int64
	limit.Store(1 << 30)
	s := openTest(t, Options{PageLimit: func() int { return int(limit.Load()) }})
	ctx := context.Background()
	var pages int
	if err := s.r.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	limit.Store(int64(pages) + 2)
	var full error
	for i := 0; full == nil; i++ {
		if i == 10_000 {
			t.Fatal("10,000 writes fit in 2 more pages")
		}
		_, full = s.AddActivity(ctx, strings.Repeat("x", 500), "", time.Time{})
	}
	if !errors.Is(full, ErrUnavailable) || Reason(full) != "database full" {
		t.Fatalf("write to a full disk: %v (reason %q), want ErrUnavailable: database full", full, Reason(full))
	}
	if err := s.WriteError(); !errors.Is(err, ErrUnavailable) || Reason(err) != "database full" {
		t.Fatalf("WriteError with a full disk: %v", err)
	}
	_, head, _ := s.Horizon(ctx)
	if _, err := s.AddActivity(ctx, strings.Repeat("x", 500), "", time.Time{}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second write: %v", err)
	}
	if _, again, _ := s.Horizon(ctx); again != head {
		t.Fatalf("a refused write moved the head from %d to %d", head, again)
	}

	limit.Store(1 << 30) // space comes back
	if _, err := s.AddActivity(ctx, "room again", "", time.Time{}); err != nil {
		t.Fatalf("write once there is room: %v", err)
	}
	if err := s.WriteError(); err != nil {
		t.Fatalf("WriteError after a write succeeded: %v", err)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
