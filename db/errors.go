package db

import (
	"errors"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// Reason returns what a person is told about err, an error of the store:
// for ErrUnavailable, why ("database full"); for a sentinel the store wraps
// with a reason (ErrInvalid, ErrExists: fmt.Errorf("%w: reason",
// ErrInvalid)), that reason, e.g. "name \"ann\" is taken"; for a bare
// sentinel, its own words without the package prefix; for any other error,
// "".
func Reason(err error) string {
	var u *unavailableError
	if errors.As(err, &u) {
		return u.reason
	}
	for _, sentinel := range []error{ErrInvalid, ErrExists, ErrNotFound, ErrClosed, ErrUnavailable, ErrDamaged} {
		if !errors.Is(err, sentinel) {
			continue
		}
		if e := wrapperOf(err, sentinel); e != nil {
			if r, ok := strings.CutPrefix(e.Error(), sentinel.Error()+": "); ok && r != "" {
				return r
			}
		}
		return strings.TrimPrefix(sentinel.Error(), "db: ")
	}
	return ""
}

// wrapperOf returns the error in err's chain that wraps sentinel directly
// (fmt.Errorf("%w: reason", sentinel)), or nil.
func wrapperOf(err, sentinel error) error {
	for err != nil {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next := u.Unwrap()
			if next == sentinel {
				return err
			}
			err = next
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if e == sentinel {
					return err
				}
				if w := wrapperOf(e, sentinel); w != nil {
					return w
				}
			}
			return nil
		default:
			return nil
		}
	}
	return nil
}

// ErrUnavailable is returned, wrapped with the reason ("database full",
// "database is read-only", "disk I/O error", "database file is damaged"),
// when the file or the disk refuses a read or a write. Nothing was written;
// the same call may succeed once the cause is gone (space freed, the file
// made writable again). Reason returns the reason.
var ErrUnavailable = errors.New("db: database unavailable")

// ErrDamaged is returned by Open, wrapped with the file's name and the
// integrity check's first complaint, for a database file that is damaged.
var ErrDamaged = errors.New("db: database file is damaged")

// unavailableError is ErrUnavailable with its reason and SQLite's error.
type unavailableError struct {
	reason string
	err    error
}

func (e *unavailableError) Error() string {
	return ErrUnavailable.Error() + ": " + e.reason + " (" + e.err.Error() + ")"
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// asUnavailable returns err as ErrUnavailable if SQLite says the file or the
// disk refused (full, read-only, I/O error, damaged); any other error as it is.
func asUnavailable(err error) error {
	var se sqlite3.Error
	if !errors.As(err, &se) || errors.Is(err, ErrUnavailable) {
		return err
	}
	var reason string
	switch se.Code {
	case sqlite3.ErrFull:
		reason = "database full"
	case sqlite3.ErrReadonly:
		reason = "database is read-only"
	case sqlite3.ErrIoErr:
		reason = "disk I/O error"
	case sqlite3.ErrCorrupt, sqlite3.ErrNotADB:
		reason = "database file is damaged"
	case sqlite3.ErrCantOpen:
		reason = "database file cannot be opened"
	default:
		return err
	}
	return &unavailableError{reason: reason, err: err}
}
