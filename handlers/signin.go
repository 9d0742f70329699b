package handlers

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/beacon-live/beacon/limit"
	"github.com/beacon-live/beacon/names"
)

// Sign-in throttling. One address gets pairBurst wrong passwords for one
// name, then one more per pairEvery: an attacker throttles itself, and the
// owner at another address is not locked out. All addresses together get
// nameBurst wrong passwords for one name, then one per nameEvery: a ceiling
// that many addresses cannot pass either. An address gets ipBurst failures
// of any names (and sign-ups), then one per ipEvery.
//
// A token is taken from each before the password is checked, and given back
// when it matches, so only failures count but concurrent guesses cannot all
// pass a look made before any of them failed. Only one password of a name
// is checked at a time: another attempt meanwhile is refused at once.
const (
	pairBurst = 10
	pairEvery = time.Minute
	nameBurst = 100
	nameEvery = 10 * time.Second
	ipBurst   = 50
	ipEvery   = 10 * time.Second

	// busyWait is the Retry-After of an attempt refused because another
	// one for the same name is being checked (a check takes ~30 ms).
	busyWait = time.Second
)

// maxSignInName is the longest sign-in name looked at. Longer ones are
// refused before any lookup or throttle key: no account has such a name,
// and a request must not make the server keep megabytes as a key.
const maxSignInName = names.MaxBytes

// signInThrottle decides whether a sign-in gets its password checked.
type signInThrottle struct {
	pair *limit.Keyed // failures per name and address
	name *limit.Keyed // failures per name, from every address
	addr *limit.Keyed // failures per address, of any name; sign-ups take from it too

	mu       sync.Mutex
	checking map[string]bool // guarded by mu: name keys whose password is being checked
}

func newSignInThrottle(addr *limit.Keyed) *signInThrottle {
	return &signInThrottle{
		pair:     limit.New(1/pairEvery.Seconds(), pairBurst),
		name:     limit.New(1/nameEvery.Seconds(), nameBurst),
		addr:     addr,
		checking: map[string]bool{},
	}
}

// signInOutcome is how a checked sign-in ended.
type signInOutcome int

const (
	// signInUnchecked: the check could not be made (the store failed);
	// nothing counts.
	signInUnchecked signInOutcome = iota
	// signInFailed: a wrong name or password; the tokens stay taken.
	signInFailed
	// signInMatched: the tokens come back, and the address's failures for
	// the name are forgotten.
	signInMatched
)

// signInRefusal says why a sign-in was not checked, and when to try again.
type signInRefusal struct {
	Wait time.Duration
	Busy bool // another attempt for the name is being checked
}

// begin asks to check a password for the name whose key is name, from addr,
// at now. When it is refused, nothing was taken. Otherwise the caller must
// call end exactly once, with the outcome, after the check.
func (t *signInThrottle) begin(name, addr string, now time.Time) (end func(signInOutcome, time.Time), refused *signInRefusal) {
	h := sha256.Sum256([]byte(name)) // keys of a fixed size, whatever the name
	nameKey := string(h[:16])
	pairKey := nameKey + addr

	t.mu.Lock()
	if t.checking[nameKey] {
		t.mu.Unlock()
		return nil, &signInRefusal{Wait: busyWait, Busy: true}
	}
	t.checking[nameKey] = true
	t.mu.Unlock()
	release := func() {
		t.mu.Lock()
		delete(t.checking, nameKey)
		t.mu.Unlock()
	}

	// Taken in order, given back if a later one refuses: no other attempt
	// for this name runs meanwhile, and the per-address limit is only ever
	// made stricter for a moment.
	if ok, wait := t.pair.Allow(pairKey, now); !ok {
		release()
		return nil, &signInRefusal{Wait: wait}
	}
	if ok, wait := t.name.Allow(nameKey, now); !ok {
		t.pair.Return(pairKey, now)
		release()
		return nil, &signInRefusal{Wait: wait}
	}
	if ok, wait := t.addr.Allow(addr, now); !ok {
		t.name.Return(nameKey, now)
		t.pair.Return(pairKey, now)
		release()
		return nil, &signInRefusal{Wait: wait}
	}
	return func(o signInOutcome, now time.Time) {
		switch o {
		case signInUnchecked:
			t.pair.Return(pairKey, now)
			t.name.Return(nameKey, now)
			t.addr.Return(addr, now)
		case signInMatched:
			t.pair.Reset(pairKey)
			t.name.Return(nameKey, now)
			t.addr.Return(addr, now)
		}
		release()
	}, nil
}
