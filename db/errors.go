package db

import (
	"errors"
	"strings"
)

// Reason returns what a person is told about err, an error of the store:
// for a sentinel the store wraps with a reason (ErrInvalid, ErrExists:
// fmt.Errorf("%w: reason", ErrInvalid)), that reason, e.g. "name \"ann\" is
// taken"; for a bare sentinel, its own words without the package prefix;
// for any other error, "".
func Reason(err error) string {
	for _, sentinel := range []error{ErrInvalid, ErrExists, ErrNotFound, ErrClosed} {
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
