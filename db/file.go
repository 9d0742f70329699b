package db

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// privateMode is the mode of the database file and, because SQLite gives
// them its mode, of its -wal and -shm: it holds password hashes, the
// server's secret and people's private notifications.
const privateMode fs.FileMode = 0o600

// sidecars are the files SQLite keeps beside a database in WAL mode.
var sidecars = []string{"-wal", "-shm"}

// prepareFile makes path ready for SQLite before it opens it, so that a
// problem is reported as what it is and where, not as SQLite's "unable to
// open database file". A missing database is created here, empty and 0600
// whatever the umask; an existing one loses any permission for the group
// and others, with its -wal and -shm (logged). created says whether this
// call made the file; existing lists the sidecars that were already there.
func prepareFile(path string, log *slog.Logger) (created bool, existing map[string]bool, err error) {
	existing = map[string]bool{}
	for _, s := range sidecars {
		if _, err := os.Lstat(path + s); err == nil {
			existing[s] = true
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, privateMode)
	if err == nil {
		// OpenFile's mode passed through the umask; this one does not.
		err = errors.Join(f.Chmod(privateMode), f.Close())
		if err != nil {
			os.Remove(path)
			return false, nil, fmt.Errorf("cannot create %s: %w", path, err)
		}
		return true, existing, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, nil, createError(path, err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		return false, nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if fi.IsDir() {
		return false, nil, fmt.Errorf("database %s is a directory, not a file", path)
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, syscall.EROFS):
		return false, nil, fmt.Errorf("database %s is on a read-only file system: Beacon needs to write it", path)
	case errors.Is(err, fs.ErrPermission):
		return false, nil, fmt.Errorf("database %s is read-only (mode %04o): Beacon needs to write it", path, fi.Mode().Perm())
	case err != nil:
		return false, nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	f.Close()
	if len(existing) < len(sidecars) {
		// SQLite will create its -wal and -shm beside the file.
		dir := filepath.Dir(path)
		probe, err := os.CreateTemp(dir, ".beacon-probe-*")
		if err != nil {
			return false, nil, fmt.Errorf("directory %s is not writable (%w): SQLite keeps its -wal and -shm files beside %s",
				dir, unwrapPath(err), path)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	for _, name := range append([]string{path}, path+sidecars[0], path+sidecars[1]) {
		fi, err := os.Stat(name)
		if err != nil || fi.Mode().Perm()&^privateMode == 0 {
			continue
		}
		mode := fi.Mode().Perm() & privateMode
		if err := os.Chmod(name, mode); err != nil {
			logger(log).Warn("the database is readable by other users; could not restrict it",
				"file", name, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()), "err", err)
			continue
		}
		logger(log).Warn("restricted the database to its owner: it holds password hashes and the server's secret",
			"file", name, "was", fmt.Sprintf("%04o", fi.Mode().Perm()), "now", fmt.Sprintf("%04o", mode))
	}
	return false, existing, nil
}

// createError says why path could not be created, naming the directory at fault.
func createError(path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		// Some ancestor is a file: name the deepest one that exists.
		for p := dir; ; p = filepath.Dir(p) {
			if fi, serr := os.Stat(p); serr == nil && !fi.IsDir() {
				return fmt.Errorf("cannot create %s: %s is not a directory", path, p)
			}
			if p == filepath.Dir(p) {
				break
			}
		}
		return fmt.Errorf("cannot create %s: a part of %s is not a directory", path, dir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot create %s: directory %s does not exist", path, dir)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("cannot create %s: directory %s is not writable (%w)", path, dir, unwrapPath(err))
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("cannot create %s: directory %s is on a read-only file system", path, dir)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("database %s is a directory, not a file", path)
	}
	return fmt.Errorf("cannot create %s: %w", path, unwrapPath(err))
}

// unwrapPath returns the reason of a *fs.PathError without the path, which
// the caller's message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// removeLeftovers removes what a failed Open made: the -wal and -shm that
// were not there before it, and the database file if it created it.
func removeLeftovers(path string, created bool, existing map[string]bool) {
	for _, s := range sidecars {
		if !existing[s] {
			os.Remove(path + s)
		}
	}
	if created {
		os.Remove(path)
	}
}

// logger returns log, or one that discards.
func logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
