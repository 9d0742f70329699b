// Package db is Beacon's storage: one SQLite file holding the durable event
// log, the activity feed and the samples of posted metrics. Open returns a
// *Store; no SQL leaves this package.
//
// Every durable event has a position, the row id of the one events table
// shared by all log topics. Positions only grow and are never reused, even
// after the oldest events are pruned. Together with the database's epoch (a
// random id made when the file is created) a position names an event for
// good, which is what lets a client resume where it left off.
//
// Concurrency and ordering:
//
//   - One writer goroutine, started by Open and stopped by Close, owns the
//     only write connection. Every write method sends a request to it and
//     waits for the answer.
//   - Group commit: the writer takes the first waiting request plus whatever
//     else is already queued (up to Options.MaxBatch) and runs them all in one
//     transaction, each in its own savepoint, so one failing write rolls back
//     only itself and gets its own error.
//   - Publish after commit: after COMMIT the writer calls Options.OnCommit with
//     every event of the group, in position order, and only then answers the
//     callers. So OnCommit sees events in database order, and when a write
//     method returns, OnCommit has already seen its event. If the commit
//     fails, every write of the group gets the error and OnCommit is not
//     called.
//   - OnCommit runs on the writer goroutine: it must not block and must not
//     call the Store's write methods or Close (that would deadlock).
//   - An error from a write method means nothing was written. A write whose
//     context ends before the writer reaches it is skipped and returns the
//     context's error; once queued, the call waits for the writer's answer.
//   - Reads use a separate pool of read-only connections and never wait for
//     the writer (WAL). RecentActivities reads its items and the log's head in
//     one snapshot.
//   - The writer also prunes, every so often: the log down to
//     Options.Retention events, the feed to 1,000 items, samples older than
//     24 hours.
//   - Close stops accepting writes (later ones get ErrClosed), lets every
//     write already started finish and commit, stops the writer and closes
//     the connections. It is idempotent and safe to call concurrently with
//     writes.
//
// Times are stored to the millisecond and returned in UTC.
package db
