package main

import (
	"io"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1048576", 1 << 20}, {"512B", 512}, {"64KiB", 64 << 10}, {"64kb", 64_000},
		{"300MB", 300_000_000}, {"300MiB", 300 << 20}, {"1.5GiB", 3 << 29}, {"2GB", 2_000_000_000}, {" 1 GiB ", 1 << 30},
	} {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "-1", "MiB", "12 parsecs", "1e400", "9999999999GiB", "1.5", "0x10", "NaN"} {
		if n, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, n)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "300MiB", "1.5GiB", "2GB", "64kb", "1e3MB", "-5", "9223372036854775807B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("parseSize(%q) = %d: a size is never negative", s, n)
		}
		if err != nil && n != 0 {
			t.Fatalf("parseSize(%q) = %d with error %v", s, n, err)
		}
	})
}

// TestMemoryLimitSetting: --memory-limit (BEACON_MEMORY_LIMIT) reads a size
// with its unit, refuses what is not one (naming the setting) or is too
// small to run in, and run sets the Go runtime's soft limit from it (and
// puts back the one it found when it returns).
func TestMemoryLimitSetting(t *testing.T) {
	c, err := newConfig(nil, func(k string) string {
		if k == "BEACON_MEMORY_LIMIT" {
			return "256MiB"
		}
		return ""
	}, io.Discard)
	if err != nil || c.MemoryLimit != 256<<20 {
		t.Fatalf("BEACON_MEMORY_LIMIT=256MiB: %d, %v", c.MemoryLimit, err)
	}
	for _, bad := range []string{"lots", "1MiB"} {
		_, err := newConfig([]string{"--memory-limit", bad}, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "memory-limit") {
			t.Errorf("--memory-limit %s gave %v, want an error naming the setting", bad, err)
		}
	}
	if c, err := newConfig(nil, func(string) string { return "" }, io.Discard); err != nil || c.MemoryLimit != 0 {
		t.Fatalf("default memory limit %d, %v; want 0 (none)", c.MemoryLimit, err)
	}

	before := debug.SetMemoryLimit(-1)
	in := start(t, "", "", "--memory-limit", "300MiB")
	if got := debug.SetMemoryLimit(-1); got != 300<<20 {
		t.Errorf("runtime memory limit %d while running with --memory-limit 300MiB", got)
	}
	in.Stop(t)
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("runtime memory limit %d after run returned, want the one before, %d", got, before)
	}
}
