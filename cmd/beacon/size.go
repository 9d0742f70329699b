package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// sizeUnits are the units a size may carry, lower-cased: SI (kB = 1000) and
// binary (KiB = 1024).
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

var sizeSyntax = regexp.MustCompile(`^([0-9]+)(?:\.([0-9]+))?\s*([A-Za-z]*)$`)

// parseSize reads a size in bytes: a whole or decimal number and a unit
// (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB, in any case; none means bytes),
// e.g. 300MiB or 1.5GB. It is never negative.
func parseSize(s string) (int64, error) {
	m := sizeSyntax.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: write a number and a unit, e.g. 512MiB or 2GB", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[3])]
	if !ok {
		return 0, fmt.Errorf("%q: unknown unit %q (B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)", s, m[3])
	}
	whole, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || whole > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	n := whole * unit
	if m[2] != "" {
		frac, _ := strconv.ParseFloat("0."+m[2], 64) // digits only: it parses
		part := frac * float64(unit)
		if part != math.Trunc(part) {
			return 0, fmt.Errorf("%q is not a whole number of bytes", s)
		}
		if n > math.MaxInt64-int64(part) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n += int64(part)
	}
	return n, nil
}

// byteSize is a flag holding a size in bytes, written with its unit.
type byteSize int64

func (b *byteSize) String() string {
	if b == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*b), 10)
}

func (b *byteSize) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

// minMemoryLimit is the smallest --memory-limit accepted: below it the
// collector would run all the time, even for an idle server.
const minMemoryLimit = 32 << 20
