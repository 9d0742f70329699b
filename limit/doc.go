// Package limit is a keyed token-bucket limiter for the HTTP server: new live
// connections per IP, API requests per IP, failed sign-ins per account and
// per IP. It knows nothing of HTTP beyond two helpers, IPKey and RetryAfter.
//
// # Contract
//
//   - One bucket per key. A key holds burst tokens when it is first seen and
//     gains one every 1/rate seconds, up to burst. Allow takes a token; Peek
//     only looks; Return gives one back. A refusal says how long until a token will be there.
//   - Time is whatever the caller passes as now, never the clock: tests are
//     exact and need no sleeps. Calls may pass slightly out-of-order times
//     (two goroutines that read the clock and then race for the lock); such
//     a call is judged against the bucket as it already is, which only makes
//     it stricter.
//   - Keys are used as they are given. Use IPKey to turn a RemoteAddr into a
//     key, so a client's port, or its choice of address inside its IPv6 /64,
//     does not give it a fresh bucket.
//
// # Concurrency
//
//   - A Keyed is safe for concurrent use. One mutex guards all its state; a
//     call holds it for one map lookup and one store, except for the
//     occasional sweep below.
//   - It starts no goroutines: there is nothing to stop and nothing to leak.
//
// # Memory
//
//   - A key is dropped once its bucket would be full again: forgetting it
//     changes no answer, because an unknown key also starts full.
//   - Idle keys are swept lazily, inside Allow and Peek: when the unknown keys
//     looked up since the last sweep outnumber half the tracked keys, or when
//     max(burst/rate, 1 minute) of now has passed since it. A sweep for
//     misses visits fewer than twice as many keys as the misses that led to
//     it; a sweep for time visits only keys taken from since one burst/rate
//     before the previous sweep, and such sweeps are at least that far apart,
//     so no call pays for more than two. Either way a sweep costs O(1) per
//     call, amortised. The worst single pause is a sweep of a full table
//     that drops it all: about 20 ms on a busy 2-CPU machine, once, after a
//     flood that itself took 100,000 calls.
//   - At most 100,000 keys are tracked (about 6 MB with IPv6 keys). A new key
//     that finds the table full gets a sweep if one is due; if the table is
//     still full it is refused (ok false, wait 1/rate) and not stored. That
//     fails closed: a flood of random keys cannot exhaust memory or slip past
//     the limit, at the price of also refusing a real newcomer until the
//     flood's keys go idle and the next sweep is due. Keys already tracked
//     are unaffected. A sweep is not forced on every refused key because
//     each one costs O(keys) under the lock, which would let the flood buy
//     CPU instead.
//   - Go maps do not shrink, so after a flood the table keeps its peak size;
//     the cap bounds that too.
//
// # Sign-in
//
// A failed-sign-in limiter counts failures, not attempts, but takes its
// token before the password is checked, so that concurrent attempts cannot
// all pass a check made before any of them failed:
//
//	if ok, wait := failures.Allow(account, now); !ok {
//		// refuse with Retry-After: limit.RetryAfter(wait), before checking the password
//	}
//	if passwordMatches {
//		failures.Return(account, now) // only failures count
//	}
package limit
