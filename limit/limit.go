package limit

import (
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

const (
	// maxKeys caps the keys one Keyed tracks, so a flood of random keys costs
	// a bounded amount of memory (see the package doc for what happens at it).
	maxKeys = 100_000

	// minSweepAfter is the least time between two sweeps for time: often
	// enough that Len falls soon after traffic does, rare enough to cost
	// nothing.
	minSweepAfter = time.Minute

	// maxWindow bounds burst/rate, so that now plus a bucket's refill time
	// always fits in int64 nanoseconds. Nobody means a longer limit.
	maxWindow = 10 * 365 * 24 * time.Hour
)

// Keyed limits events per key (an IP address, an account name) with one token
// bucket per key.
//
// A bucket is stored as one number, the time at which it will be full again
// (the "theoretical arrival time" of GCRA): taking a token pushes it one
// interval later, and a token is there while it is at most burst-1 intervals
// ahead of now. That is exact integer arithmetic, a key costs one map entry,
// and a key whose time has passed is full, so it can be forgotten.
type Keyed struct {
	interval int64 // nanoseconds per token; 0 disables the limiter
	window   int64 // burst*interval: how far ahead of now a full time may run
	after    int64 // sweep when this much of now has passed since the last sweep
	max      int   // the most keys tracked; a field so tests can lower it

	mu     sync.Mutex
	full   map[string]int64 // guarded by mu: key → Unix nanoseconds when its bucket is full again
	misses int              // guarded by mu: lookups of unknown keys since the last sweep
	swept  int64            // guarded by mu: now at the last sweep
}

// New returns a limiter that allows burst events at once per key and refills
// at rate per second. rate <= 0 disables it (Allow always allows), so a config
// can turn a limit off without a nil check at every caller. burst < 1 is taken
// as 1, and burst/rate is capped at ten years.
func New(rate float64, burst int) *Keyed {
	k := &Keyed{max: maxKeys}
	if !(rate > 0) { // also NaN
		return k
	}
	iv := math.Round(float64(time.Second) / rate)
	k.interval = int64(min(max(iv, 1), float64(maxWindow)))
	k.window = k.interval * min(int64(max(burst, 1)), int64(maxWindow)/k.interval)
	k.after = max(k.window, int64(minSweepAfter))
	k.full = make(map[string]int64)
	return k
}

// Allow takes one token for key at now and reports whether it was there; when
// not, wait is how long until one will be. A refusal takes nothing, so a
// client that keeps retrying early is not pushed further back.
func (k *Keyed) Allow(key string, now time.Time) (ok bool, wait time.Duration) {
	return k.take(key, now, true)
}

// Peek reports like Allow without taking a token (for sign-in: refuse before
// checking a password, and only take on failure).
func (k *Keyed) Peek(key string, now time.Time) (ok bool, wait time.Duration) {
	return k.take(key, now, false)
}

// take is Allow when consume is set, Peek when not. Peek still sweeps, and
// counts its misses toward the next sweep, so that at the cap both give the
// same answer.
func (k *Keyed) take(key string, now time.Time, consume bool) (bool, time.Duration) {
	if k.interval == 0 {
		return true, 0
	}
	t := now.UnixNano()
	k.mu.Lock()
	defer k.mu.Unlock()
	if t-k.swept >= k.after {
		k.sweep(t)
	}
	full, known := k.full[key]
	if !known {
		k.misses++
		if k.misses > len(k.full)/2 {
			k.sweep(t)
		}
		if len(k.full) >= k.max {
			return false, time.Duration(k.interval)
		}
	}
	next := max(full, t) + k.interval
	if wait := next - t - k.window; wait > 0 {
		return false, time.Duration(wait)
	}
	if consume {
		k.full[key] = next
	}
	return true, 0
}

// sweep forgets every key whose bucket is full at now. It costs O(keys), so it
// runs only when take finds it due (see the package doc).
func (k *Keyed) sweep(now int64) {
	for key, full := range k.full {
		if full <= now {
			delete(k.full, key)
		}
	}
	k.misses = 0
	k.swept = now
}

// Return gives back one token that Allow took for key, for a limit that
// counts only some outcomes but must take its token before the outcome is
// known (sign-in: take, check the password, give back on success). It never
// makes a bucket fuller than full, and an unknown key is left alone. A key
// that is full again is forgotten at once.
func (k *Keyed) Return(key string, now time.Time) {
	if k.interval == 0 {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	full, ok := k.full[key]
	if !ok {
		return
	}
	if full -= k.interval; full <= now.UnixNano() {
		delete(k.full, key)
	} else {
		k.full[key] = full
	}
}

// Reset forgets key (e.g. after a successful sign-in), giving it a full bucket.
func (k *Keyed) Reset(key string) {
	k.mu.Lock()
	delete(k.full, key)
	k.mu.Unlock()
}

// Len returns how many keys are tracked (for tests and metrics). Idle keys
// count until the next sweep.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.full)
}

// IPKey returns the key for a client: the IP of an "ip:port" RemoteAddr (a
// bare IP is accepted too), or for IPv6 its /64 prefix, since one client
// usually owns a whole /64 and could otherwise use a fresh address per
// request. IPv4-mapped IPv6 addresses count as IPv4 and zones are dropped.
// Input that cannot be parsed is returned as it is, so it still limits
// something rather than nothing.
func IPKey(remoteAddr string) string {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		ip = ap.Addr()
	} else if ip, err = netip.ParseAddr(remoteAddr); err != nil {
		return remoteAddr
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// RetryAfter returns wait as an HTTP Retry-After value: whole seconds,
// rounded up so a client that obeys it finds a token, and at least "1",
// because "0" invites an immediate retry.
func RetryAfter(wait time.Duration) string {
	s := int64(wait / time.Second)
	if wait%time.Second > 0 {
		s++
	}
	return strconv.FormatInt(max(s, 1), 10)
}
