package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestPasswordRoundTrip(t *testing.T) {
	h := HashPassword("correct horse")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not the PHC form", h)
	}
	if err := CheckPassword(h, "correct horse"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := CheckPassword(h, "correct horse "); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v, want ErrMismatch", err)
	}
	if h2 := HashPassword("correct horse"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestCheckPasswordRefusesBadHashes(t *testing.T) {
	good := HashPassword("pw")
	parts := strings.Split(good, "$")
	for name, h := range map[string]string{
		"empty":        "",
		"bcrypt":       "$2a$10$abcdefghijklmnopqrstuv",
		"version":      strings.Replace(good, "v=19", "v=16", 1),
		"huge memory":  strings.Join(append(append([]string{}, parts[:3]...), "m=4194304,t=2,p=1", parts[4], parts[5]), "$"),
		"many passes":  strings.Join(append(append([]string{}, parts[:3]...), "m=19456,t=99,p=1", parts[4], parts[5]), "$"),
		"extra param":  strings.Join(append(append([]string{}, parts[:3]...), "m=19456,t=2,p=1,x=1", parts[4], parts[5]), "$"),
		"salt not b64": strings.Join(append(append([]string{}, parts[:4]...), "!!!", parts[5]), "$"),
		"short key":    strings.Join(append(append([]string{}, parts[:5]...), "AAAA"), "$"),
	} {
		if err := CheckPassword(h, "pw"); err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("%s: CheckPassword(%q) = %v, want a format error", name, h, err)
		}
	}
}

func FuzzCheckPassword(f *testing.F) {
	f.Add(HashPassword("pw"), "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "")
	f.Fuzz(func(t *testing.T, hash, password string) {
		p, err := parseHash(hash)
		if err != nil {
			if CheckPassword(hash, password) == nil {
				t.Fatalf("unparseable hash %q accepted", hash)
			}
			return
		}
		if p.memory > 64<<10 || p.time > 4 {
			return // valid, and only slow: not what this target looks for
		}
		CheckPassword(hash, password) // must not panic
	})
}

func TestSecret(t *testing.T) {
	a, b := Secret(TokenPrefix), Secret(TokenPrefix)
	if a == b || !strings.HasPrefix(a, "bcn_") || len(a) != 4+43 {
		t.Fatalf("secrets %q %q", a, b)
	}
	if !Equal(a, a) || Equal(a, b) {
		t.Fatal("Equal")
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes("notify, ingest:metrics notify")
	if err != nil || strings.Join(got, " ") != "notify ingest:metrics" {
		t.Fatalf("ParseScopes = %v, %v", got, err)
	}
	for _, bad := range []string{"", " , ", "admin", "notify,admin"} {
		if _, err := ParseScopes(bad); err == nil {
			t.Errorf("ParseScopes(%q) accepted", bad)
		}
	}
}

// TestConcurrentChecks: many checks at once (more than the slots) all get
// their right answer.
func TestConcurrentChecks(t *testing.T) {
	h := HashPassword("pw")
	errs := make(chan error, 3*cap(slots))
	for i := range cap(errs) {
		go func() {
			pw := "pw"
			if i%2 == 1 {
				pw = "nope"
			}
			err := CheckPassword(h, pw)
			if (i%2 == 0) != (err == nil) {
				errs <- fmt.Errorf("check %d (%q): %v", i, pw, err)
				return
			}
			errs <- nil
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(slots) != 0 {
		t.Fatalf("%d slots still held", len(slots))
	}
}
