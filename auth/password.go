// Package auth holds Beacon's credentials: password hashes, the random
// secrets of sessions and API tokens, and token scopes. It knows nothing of
// HTTP or SQL.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's minimum for argon2id (19 MiB, 2 passes, one
// lane). A hash takes ~30 ms of one core; sign-in throttling, not the
// hash's cost, is what stops online guessing.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// slots bounds the argon2 computations running at once: each holds
// argonMemory (19 MiB), so a burst of sign-ins from many addresses (which
// the per-address throttle does not stop) would otherwise take memory in
// proportion. More than the cores would only share them anyway.
var slots = make(chan struct{}, 2*runtime.GOMAXPROCS(0))

// idKey is argon2.IDKey inside a slot.
func idKey(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	slots <- struct{}{}
	defer func() { <-slots }()
	return argon2.IDKey(password, salt, time, memory, threads, keyLen)
}

// ErrMismatch is returned by CheckPassword for a wrong password.
var ErrMismatch = errors.New("auth: wrong password")

// HashPassword returns the PHC string of password's argon2id hash with a new
// random salt: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(password string) string {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails
	key := idKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether password matches hash: nil, ErrMismatch, or
// an error for a hash it cannot read. Hashes made with other parameters
// (older or newer) are checked with their own.
func CheckPassword(hash, password string) error {
	p, err := parseHash(hash)
	if err != nil {
		return err
	}
	key := idKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	if subtle.ConstantTimeCompare(key, p.key) != 1 {
		return ErrMismatch
	}
	return nil
}

type argonParams struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// parseHash reads a PHC argon2id string, refusing parameters that would
// make checking a password a denial of service.
func parseHash(hash string) (argonParams, error) {
	var p argonParams
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, errors.New("auth: not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, fmt.Errorf("auth: unsupported argon2 version %q", parts[2])
	}
	_, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads)
	if err != nil || fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, p.threads) != parts[3] {
		return p, fmt.Errorf("auth: bad argon2 parameters %q", parts[3])
	}
	if p.memory < 8 || p.memory > 1<<18 || p.time < 1 || p.time > 16 || p.threads < 1 || p.threads > 16 {
		return p, fmt.Errorf("auth: argon2 parameters out of range %q", parts[3])
	}
	b64 := base64.RawStdEncoding
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, errors.New("auth: bad argon2 salt")
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, errors.New("auth: bad argon2 key")
	}
	return p, nil
}

// Secret returns a new random secret of 256 bits, URL-safe, with a prefix
// that says what it is ("bcn_" for API tokens makes leaked ones findable
// by secret scanners).
func Secret(prefix string) string {
	var b [32]byte
	rand.Read(b[:]) // never fails
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
