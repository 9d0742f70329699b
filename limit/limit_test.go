package limit

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is an arbitrary start; every test passes explicit times from it.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one call in a scripted sequence: at is the offset of now from t0.
type step struct {
	at   time.Duration
	op   string // "allow", "peek", "reset" or "return"
	key  string
	ok   bool
	wait time.Duration
}

func TestKeyed(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  float64
		burst int
		steps []step
	}{
		{"burst then refused", 2, 3, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, false, 500 * ms},
			{0, "allow", a, false, 500 * ms}, // a refusal takes nothing
		}},
		{"refill after the right time", 2, 3, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{499 * ms, "allow", a, false, 1 * ms},
			{500 * ms, "allow", a, true, 0},
			{500 * ms, "allow", a, false, 500 * ms},
			{1250 * ms, "allow", a, true, 0},
			{1250 * ms, "allow", a, false, 250 * ms},
		}},
		{"refill stops at burst", 2, 3, []step{
			{0, "allow", a, true, 0},
			{time.Hour, "allow", a, true, 0},
			{time.Hour, "allow", a, true, 0},
			{time.Hour, "allow", a, true, 0},
			{time.Hour, "allow", a, false, 500 * ms},
		}},
		{"slow rate waits", 0.1, 1, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, false, 10 * time.Second},
			{4 * time.Second, "allow", a, false, 6 * time.Second},
			{10 * time.Second, "allow", a, true, 0},
		}},
		{"keys are independent", 1, 1, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, false, time.Second},
			{0, "allow", b, true, 0},
			{0, "allow", b, false, time.Second},
		}},
		{"peek does not consume", 1, 2, []step{
			{0, "peek", a, true, 0},
			{0, "peek", a, true, 0},
			{0, "peek", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "peek", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "peek", a, false, time.Second},
			{0, "allow", a, false, time.Second},
			{time.Second, "peek", a, true, 0},
			{time.Second, "peek", a, true, 0},
			{time.Second, "allow", a, true, 0},
			{time.Second, "peek", a, false, time.Second},
		}},
		{"reset gives a full bucket", 1, 2, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, false, time.Second},
			{0, "reset", a, false, 0},
			{0, "peek", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, false, time.Second},
			{0, "reset", b, false, 0}, // an unknown key is no error
		}},
		{"return gives back one token", 1, 2, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, false, time.Second},
			{0, "return", a, false, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, false, time.Second},
			{0, "return", a, false, 0},
			{0, "return", a, false, 0},
			{0, "return", a, false, 0}, // never fuller than full
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{0, "allow", a, false, time.Second},
			{0, "return", b, false, 0}, // an unknown key is no error
			{0, "peek", b, true, 0},
		}},
		{"return after a refill", 1, 2, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, true, 0},
			{1500 * ms, "return", a, false, 0}, // one and a half back by now, one more returned: full
			{1500 * ms, "allow", a, true, 0},
			{1500 * ms, "allow", a, true, 0},
			{1500 * ms, "allow", a, false, time.Second},
		}},
		{"burst below one is one", 1, 0, []step{
			{0, "allow", a, true, 0},
			{0, "allow", a, false, time.Second},
		}},
		{"earlier now is stricter", 1, 1, []step{
			{time.Second, "allow", a, true, 0},
			{0, "allow", a, false, 2 * time.Second},
			{0, "peek", a, false, 2 * time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := New(tt.rate, tt.burst)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				var ok bool
				var wait time.Duration
				switch s.op {
				case "allow":
					ok, wait = k.Allow(s.key, now)
				case "peek":
					ok, wait = k.Peek(s.key, now)
				case "reset":
					k.Reset(s.key)
					continue
				case "return":
					k.Return(s.key, now)
					continue
				default:
					t.Fatalf("step %d: unknown op %q", i, s.op)
				}
				if ok != s.ok || wait != s.wait {
					t.Fatalf("step %d: %s(%q, t0+%v) = %v, %v; want %v, %v", i, s.op, s.key, s.at, ok, wait, s.ok, s.wait)
				}
			}
		})
	}
}

// TestReturnForgetsAFullBucket: a key given back its last token is full,
// so it is forgotten at once rather than at the next sweep.
func TestReturnForgetsAFullBucket(t *testing.T) {
	k := New(1, 3)
	k.Allow("a", t0)
	k.Allow("a", t0)
	k.Return("a", t0)
	if n := k.Len(); n != 1 {
		t.Fatalf("Len with one token out = %d, want 1", n)
	}
	k.Return("a", t0)
	if n := k.Len(); n != 0 {
		t.Errorf("Len with every token back = %d, want 0", n)
	}
}

func TestPeekStoresNothing(t *testing.T) {
	k := New(1, 1)
	for i := range 10 {
		if ok, _ := k.Peek(strconv.Itoa(i), t0); !ok {
			t.Fatalf("Peek(%d) refused a new key", i)
		}
	}
	if n := k.Len(); n != 0 {
		t.Errorf("Len after Peeks = %d, want 0", n)
	}
}

func TestResetForgetsKey(t *testing.T) {
	k := New(1, 1)
	k.Allow("a", t0)
	k.Allow("b", t0)
	k.Reset("a")
	if n := k.Len(); n != 1 {
		t.Errorf("Len after Reset = %d, want 1", n)
	}
}

func TestDisabled(t *testing.T) {
	for _, rate := range []float64{0, -1, math.NaN(), math.Inf(-1)} {
		k := New(rate, 1)
		for i := range 1000 {
			if ok, wait := k.Allow("a", t0); !ok || wait != 0 {
				t.Fatalf("New(%v, 1): Allow #%d = %v, %v; want true, 0", rate, i, ok, wait)
			}
			if ok, wait := k.Peek("a", t0); !ok || wait != 0 {
				t.Fatalf("New(%v, 1): Peek #%d = %v, %v; want true, 0", rate, i, ok, wait)
			}
		}
		k.Reset("a")
		if n := k.Len(); n != 0 {
			t.Errorf("New(%v, 1): Len = %d, want 0", rate, n)
		}
	}
}

// TestExtremeRates checks that absurd settings neither overflow nor disable
// the limit by accident.
func TestExtremeRates(t *testing.T) {
	tests := []struct {
		name    string
		rate    float64
		burst   int
		allowed int
		wait    time.Duration
	}{
		{"one per nanosecond", 1e9, 1, 1, time.Nanosecond},
		{"faster than nanoseconds", 1e12, 1, 1, time.Nanosecond},
		{"infinite", math.Inf(1), 1, 1, time.Nanosecond},
		{"once a millennium", 1 / (1000 * 365 * 24 * 3600.0), 1, 1, maxWindow},
		{"huge burst of slow tokens", 1e-6, math.MaxInt, int(maxWindow / 1e15), 1e15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := New(tt.rate, tt.burst)
			allowed := 0
			for {
				ok, wait := k.Allow("a", t0)
				if !ok {
					if allowed != tt.allowed || wait != tt.wait {
						t.Errorf("%d allowed, then wait %v; want %d, then %v", allowed, wait, tt.allowed, tt.wait)
					}
					return
				}
				if allowed++; allowed > 1e6 {
					t.Fatal("more than a million allowed at one instant")
				}
			}
		})
	}
}

func TestSweepAfterTime(t *testing.T) {
	k := New(1, 2) // full again 2s after the last token; swept at most every minute
	for i := range 100 {
		k.Allow(strconv.Itoa(i), t0)
	}
	// Idle, but not swept: a minute has not passed and no unknown key came.
	k.Allow("busy", t0.Add(59*time.Second))
	k.Allow("busy", t0.Add(59*time.Second))
	if n := k.Len(); n != 101 {
		t.Fatalf("Len before a minute = %d, want 101", n)
	}
	// A minute after the last sweep, any call sweeps. busy is not full, so it
	// keeps its state: one token back at t0+60s, not two.
	if ok, _ := k.Allow("busy", t0.Add(60*time.Second)); !ok {
		t.Fatal("busy refused its refilled token")
	}
	if n := k.Len(); n != 1 {
		t.Errorf("Len after a minute = %d, want 1", n)
	}
	if ok, wait := k.Allow("busy", t0.Add(60*time.Second)); ok || wait != time.Second {
		t.Errorf("busy lost its state in the sweep: Allow = %v, %v; want false, 1s", ok, wait)
	}
}

func TestSweepOnMisses(t *testing.T) {
	k := New(1, 1)
	const n = 1000
	for i := range n {
		k.Allow("old"+strconv.Itoa(i), t0)
	}
	if got := k.Len(); got != n {
		t.Fatalf("Len = %d, want %d", got, n)
	}
	// A second later the old keys are idle; well within a minute, new keys
	// alone make a sweep due.
	t1 := t0.Add(time.Second)
	for i := range n {
		if ok, _ := k.Allow("new"+strconv.Itoa(i), t1); !ok {
			t.Fatalf("new key %d refused", i)
		}
	}
	if got := k.Len(); got != n {
		t.Errorf("Len = %d, want %d (the old keys swept, the new ones kept)", got, n)
	}
}

func TestCap(t *testing.T) {
	k := New(1, 1)
	k.max = 4
	for i := range 4 {
		if ok, _ := k.Allow(strconv.Itoa(i), t0); !ok {
			t.Fatalf("key %d refused below the cap", i)
		}
	}
	// Full of keys that are not idle: a sweep frees nothing, new keys are
	// refused and wait one interval.
	for _, op := range []func(string, time.Time) (bool, time.Duration){k.Peek, k.Allow} {
		if ok, wait := op("new", t0); ok || wait != time.Second {
			t.Fatalf("new key at the cap = %v, %v; want false, 1s", ok, wait)
		}
	}
	if n := k.Len(); n != 4 {
		t.Fatalf("Len = %d, want 4", n)
	}
	// Tracked keys are unaffected.
	if ok, _ := k.Allow("0", t0.Add(time.Second)); !ok {
		t.Fatal("tracked key refused at the cap")
	}
	// Once keys go idle, a new key gets in after at most half a table of
	// misses, not only after a minute.
	t2 := t0.Add(2 * time.Second)
	tries := 1
	for ; ; tries++ {
		if ok, _ := k.Allow("new", t2); ok {
			break
		}
		if tries > k.max/2+1 {
			t.Fatalf("new key still refused after %d tries with idle keys", tries)
		}
	}
	if n := k.Len(); n != 1 {
		t.Errorf("Len = %d, want 1 (idle keys swept)", n)
	}
}

// TestCapFlood sends many random keys at one instant: memory stays at the
// cap, the overflow is refused, and keys tracked before the flood still work.
func TestCapFlood(t *testing.T) {
	k := New(1, 2)
	k.max = 100
	k.Allow("victim", t0)
	refused := 0
	for i := range 10_000 {
		ok, wait := k.Allow("flood"+strconv.Itoa(i), t0)
		if !ok {
			refused++
			if wait != time.Second {
				t.Fatalf("flood key %d: wait = %v, want 1s", i, wait)
			}
		}
	}
	if n := k.Len(); n != 100 {
		t.Errorf("Len = %d, want 100", n)
	}
	if refused != 10_000-99 {
		t.Errorf("refused %d flood keys, want %d", refused, 10_000-99)
	}
	if ok, _ := k.Allow("victim", t0); !ok {
		t.Error("a key tracked before the flood lost its second token")
	}
}

// TestConcurrent runs many goroutines on a few keys at one instant: exactly
// burst calls per key may win, however they interleave.
func TestConcurrent(t *testing.T) {
	const (
		burst      = 10
		goroutines = 64
		calls      = 100
	)
	keys := []string{"a", "b", "c", "d"}
	k := New(1, burst)
	var allowed [4]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				j := (g + i) % len(keys)
				if ok, _ := k.Allow(keys[j], t0); ok {
					allowed[j].Add(1)
				}
				k.Peek(keys[j], t0)
				k.Len()
			}
		})
	}
	wg.Wait()
	for j := range keys {
		if n := allowed[j].Load(); n != burst {
			t.Errorf("key %s: %d allowed, want %d", keys[j], n, burst)
		}
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"192.0.2.1:5678", "192.0.2.1"},
		{"192.0.2.1:1", "192.0.2.1"},
		{"192.0.2.1", "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:80", "2001:db8:1:3::/64"},
		{"2001:db8:1:2::9", "2001:db8:1:2::/64"},
		{"[::1]:8080", "::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1"},
		{"", ""},
		{"garbage", "garbage"},
		{"example.com:80", "example.com:80"},
		{"192.0.2.1:http", "192.0.2.1:http"},
		{"[2001:db8::1]", "[2001:db8::1]"},
		{"300.0.0.1:80", "300.0.0.1:80"},
	}
	for _, tt := range tests {
		if got := IPKey(tt.in); got != tt.want {
			t.Errorf("IPKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		wait time.Duration
		want string
	}{
		{-time.Hour, "1"},
		{0, "1"},
		{time.Nanosecond, "1"},
		{999 * time.Millisecond, "1"},
		{time.Second, "1"},
		{time.Second + time.Nanosecond, "2"},
		{89*time.Second + 500*time.Millisecond, "90"},
		{90 * time.Second, "90"},
		{time.Duration(math.MaxInt64), "9223372037"},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.wait); got != tt.want {
			t.Errorf("RetryAfter(%v) = %q, want %q", tt.wait, got, tt.want)
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	b.Run("hot key", func(b *testing.B) {
		k := New(1e6, 1000)
		now := t0
		for b.Loop() {
			now = now.Add(time.Microsecond)
			k.Allow("192.0.2.1", now)
		}
	})
	b.Run("many keys", func(b *testing.B) {
		k := New(1, 10)
		keys := make([]string, 1<<16)
		for i := range keys {
			keys[i] = IPKey("[2001:db8:" + strconv.FormatInt(int64(i), 16) + "::1]:443")
		}
		now := t0
		i := 0
		for b.Loop() {
			now = now.Add(time.Microsecond)
			k.Allow(keys[i&(len(keys)-1)], now)
			i++
		}
	})
	b.Run("hot key parallel", func(b *testing.B) {
		k := New(1e6, 1000)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k.Allow("192.0.2.1", t0)
			}
		})
	})
}
