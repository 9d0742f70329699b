// Package cluster is what Beacon instances share when several serve one
// site: a log on a NATS JetStream stream, snapshots of the database in a
// JetStream object store, and non-durable state (presence, per-instance
// figures) exchanged over core NATS. It knows nothing of SQL, HTTP or
// rendering: it moves opaque commands and bytes, in order.
//
// # Pieces
//
//   - Server is an embedded nats-server with JetStream (--nats-embed):
//     StartServer returns once it accepts clients; with ClusterListen and
//     Routes, several form one JetStream cluster.
//   - Client is one connection to NATS (embedded or external), shared by
//     everything below. It reconnects by itself until Close.
//   - Log is the stream: Append stores a command and returns its position
//     (the stream sequence); Epoch is the stream's identity; Bounds says
//     which positions it holds.
//   - Reader reads the Log in order from a position, in batches.
//   - Snapshots keeps the newest few database copies, each tagged with the
//     last position it contains.
//   - Exchange[T] shares each instance's state per key and merges them.
//
// # Who owns what
//
//   - The caller owns the Server, the Client and everything made from it,
//     and closes them in reverse order: Readers and Exchanges, then the
//     Client, then the Server. Close and Shutdown are idempotent.
//   - The stream owns the order: its sequences are dense, start at 1 and
//     are never reused, so a position names one command on every instance.
//   - The epoch is a random id put in the stream's metadata by the one
//     OpenLog that created it. Of instances opening at once, exactly one
//     creates the stream (JetStream refuses a second creation with another
//     epoch) and every one returns that epoch. Positions of one epoch mean
//     nothing in another; snapshots of another epoch are ignored and pruned.
//   - Each Reader owns one ephemeral consumer on the server (AckNone,
//     memory, one replica) and replaces it when it fails. It is not safe
//     for concurrent use: one goroutine, the apply loop, owns it.
//   - Each Exchange owns one goroutine, stopped by Close. Set and Delete
//     only record this instance's state under a lock and wake that
//     goroutine; it publishes, merges what others publish, forgets what
//     expired, and is the only caller of the onChange callback.
//   - Package cluster starts no goroutine of its own besides the
//     Exchanges'; nats.go runs its connection's (ended by Client.Close),
//     nats-server its own (ended by Server.Shutdown).
//
// # Ordering and delivery
//
//   - Append returns the stored sequence. An id appended again within
//     LogConfig.Duplicates stores nothing and returns the first one's
//     sequence, also while the first is still being replicated (Append
//     retries until it gets it). So a write is retried with its own id.
//   - Reader.Next returns every position from its start, exactly once, in
//     order, with no gap: it checks each sequence and starts over at its
//     position on any irregularity (a lost delivery, a restarted node, a
//     reconnection, a changed leader). It returns what is available at
//     once, up to ReaderConfig.MaxBatch, so one apply transaction takes a
//     whole group of commands.
//   - Next wraps ErrGap when the log does not hold the position asked for:
//     dropped by MaxAge or MaxBytes, or a position of another log. The
//     caller restores Snapshots.Latest and reads on from its Seq+1.
//   - Exchange messages are at most once and unordered across instances.
//     Every instance republishes all its states each heartbeat, so a lost
//     message is made good within one; an instance that misses
//     ExchangeConfig.Missed heartbeats (it was killed, or cut off) is
//     forgotten by the others within that many heartbeats plus one, and
//     one that closes says goodbye and is forgotten at once.
//
// # Failure
//
//   - Every error that means NATS could not confirm a write wraps
//     ErrUnavailable ("cluster log unavailable: …"), for a 503. Append
//     fails at once while the connection is down (nothing is buffered to
//     be sent later), and retries with the same id, until its context
//     ends, while the connection is up but the stream does not confirm (a
//     leader change takes seconds). A failed Append may still have been
//     stored: the log, as read back, is the truth.
//   - OpenLog and OpenSnapshots retry until their context ends while
//     JetStream cannot answer yet (a fresh three-node cluster elects its
//     meta leader within seconds); they never sleep a fixed time.
//   - Reader.Next retries until its context ends; it returns only ctx's
//     error or ErrGap.
//   - Client.Connected and Log.Check report the state for /healthz. The
//     Client reconnects forever; nothing needs reopening after NATS
//     returns.
//   - Replicas: 0 in LogConfig picks three on a clustered JetStream and
//     one on a single server. With three replicas the log takes writes
//     while two of three servers run.
//
// # Security
//
//   - The embedded server has no authentication or TLS: its client and
//     cluster ports must be reachable only by the instances (they listen
//     on 127.0.0.1 unless told otherwise).
package cluster
