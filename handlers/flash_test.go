package handlers

import (
	"strings"
	"testing"
	"time"
)

// TestFlashSealsForOneSessionAndKind: a flash opens only for the kind and
// session it was sealed for, only before it expires, and only under the
// server's own secret; a changed byte opens nothing.
func TestFlashSealsForOneSessionAndKind(t *testing.T) {
	k := newFlashKeys([]byte(strings.Repeat("s", 32)))
	now := time.Unix(1_800_000_000, 0)
	c := k.seal(flashAPIToken, "7", "bcn_secret", now.Add(flashTTL))
	if strings.Contains(c, "bcn_secret") {
		t.Fatalf("the cookie %q holds the token in the clear", c)
	}
	if v, ok := k.open(flashAPIToken, "7", c, now); !ok || v != "bcn_secret" {
		t.Errorf("open = %q %v, want the token", v, ok)
	}
	for _, tc := range []struct {
		name          string
		keys          flashKeys
		kind, session string
		cookie        string
		at            time.Time
	}{
		{"another session", k, flashAPIToken, "8", c, now},
		{"another kind", k, flashWidgetToken, "7", c, now},
		{"expired", k, flashAPIToken, "7", c, now.Add(flashTTL + time.Second)},
		{"another server", newFlashKeys([]byte(strings.Repeat("t", 32))), flashAPIToken, "7", c, now},
		{"a changed byte", k, flashAPIToken, "7", flipped(c, 20), now},
		{"empty", k, flashAPIToken, "7", "", now},
		{"not base64", k, flashAPIToken, "7", "%%%", now},
	} {
		if v, ok := tc.keys.open(tc.kind, tc.session, tc.cookie, tc.at); ok || v != "" {
			t.Errorf("%s: open = %q %v, want nothing", tc.name, v, ok)
		}
	}
}

// FuzzFlashOpen: whatever a browser sends as the flash cookie, opening it
// neither panics nor yields a value it did not seal.
func FuzzFlashOpen(f *testing.F) {
	k := newFlashKeys([]byte(strings.Repeat("s", 32)))
	now := time.Unix(1_800_000_000, 0)
	f.Add(k.seal(flashAPIToken, "7", "bcn_secret", now.Add(flashTTL)))
	f.Add("")
	f.Add("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, cookie string) {
		v, ok := k.open(flashAPIToken, "7", cookie, now)
		if ok && v != "bcn_secret" {
			t.Fatalf("open(%q) = %q: a value that was never sealed", cookie, v)
		}
	})
}

// flipped is s with its character at i replaced by another base64 one.
func flipped(s string, i int) string {
	other := byte('A')
	if s[i] == 'A' {
		other = 'B'
	}
	return s[:i] + string(other) + s[i+1:]
}
