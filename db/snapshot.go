package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// FileState is what a database file says about the log it holds, read
// without changing it: whether it exists, the newest position of its own
// events (Head), the last position of a cluster's log it applied
// (Applied, 0 for none) and its epoch.
type FileState struct {
	Exists  bool
	Head    int64
	Applied int64
	Epoch   string
}

// Fresh reports whether the file holds nothing a log wrote: a new instance.
func (f FileState) Fresh() bool { return !f.Exists || (f.Head == 0 && f.Applied == 0) }

// Inspect reads the state of the database file at path, which need not
// exist; it creates nothing and changes nothing.
func Inspect(ctx context.Context, path string) (FileState, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return FileState{}, nil
	}
	r, err := sql.Open("sqlite3", dsn(path, "mode=ro&_busy_timeout=5000"))
	if err != nil {
		return FileState{}, fmt.Errorf("db: inspect %s: %w", path, err)
	}
	defer r.Close()
	f := FileState{Exists: true}
	var version int
	if err := r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return FileState{}, fmt.Errorf("db: inspect %s: %w", path, asUnavailable(err))
	}
	if version == 0 {
		return f, nil // an empty file: Open makes the schema
	}
	err = r.QueryRowContext(ctx, `SELECT `+headSQL+`, COALESCE((SELECT value FROM meta WHERE key = 'epoch'), '')`).
		Scan(&f.Head, &f.Epoch)
	if err == nil {
		f.Applied, err = appliedPosition(r)
	}
	if err != nil {
		return FileState{}, fmt.Errorf("db: inspect %s: %w", path, asUnavailable(err))
	}
	return f, nil
}

// Snapshot writes a copy of the database into a new file in dir (VACUUM
// INTO: one consistent read, compacted) and returns its path and the last
// position of the shared log it holds. The caller removes the file.
func (s *Store) Snapshot(ctx context.Context, dir string) (path string, applied int64, err error) {
	f, err := os.CreateTemp(dir, "beacon-snapshot-*.db")
	if err != nil {
		return "", 0, fmt.Errorf("db: snapshot: %w", err)
	}
	path = f.Name()
	f.Close()
	os.Remove(path) // VACUUM INTO makes the file, and refuses one that exists
	if _, err := s.r.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return "", 0, fmt.Errorf("db: snapshot: %w", s.readErr(err))
	}
	st, err := Inspect(ctx, path)
	if err != nil {
		os.Remove(path)
		return "", 0, err
	}
	return path, st.Applied, nil
}

// Restore makes the database file at path the snapshot r (written by
// Snapshot on some instance): it is written beside path, synced, and put in
// its place in one rename, with the old file's -wal and -shm removed, so a
// crash leaves the old file or the new one, never half of either. No Store
// may have path open.
func Restore(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".restore-*")
	if err != nil {
		return fmt.Errorf("db: restore %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("db: restore %s: %w", path, err)
	}
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("db: restore %s: %w", path, err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("db: restore %s: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("db: restore %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("db: restore %s: %w", path, err)
	}
	return nil
}
