// Package live is Beacon's realtime core: it moves fragments rendered by
// publishers to connected browsers, a log frame rendered only when a
// connection here subscribes to its topic (Frame.Render). It knows nothing
// of echo, templ or SQL; the durable log reaches it through the Source
// interface.
//
// # Pieces
//
//   - Hub fans frames out by topic. Every topic has a Class: State or Log.
//   - Subscriber is one connection's queue inside the hub.
//   - The pump (pump.go) is the one writing loop of every transport: a
//     pool of GOMAXPROCS writers that serve the connections the hub has
//     given something to write, each connection queued once however many
//     frames it has. A transport says only how its client reads a batch of
//     frames, a heartbeat and a goodbye; waiting, taking, writing,
//     eviction, ending and the metrics are the pump's.
//   - SSE is the Server-Sent Events transport: one connection carries every
//     topic a page shows (browsers allow six HTTP/1.1 connections per origin),
//     or, with Request.TopicField, every topic of a browser's tabs, each event
//     naming its topic in a "topic:" line that EventSource and htmx ignore.
//   - WS is the WebSocket transport's writing side (the caller reads): HTML
//     fragments for pages, one JSON object per frame for programs, the
//     frames of one batch in one write.
//   - attach brings any new connection up to date (replay, resync or a fresh
//     start) the same way for every transport.
//   - AppendEvent is the only writer of the SSE wire format for pages;
//     program.go writes its program format (Request.Program: every event
//     named by its topic, its data one JSON object that carries its id),
//     which beacon tail and other programs ask for.
//   - Chunked writes one HTML response in flushed, deadlined chunks (the
//     dashboard's streamed first render); Streams serves topics as
//     never-ending HTML documents that need no JavaScript (GET /stream/…):
//     each update a new element, a comment as heartbeat, a reloading last
//     element after a lifetime.
//
// # A connection costs what its socket costs
//
//   - An SSE or /stream/ response over HTTP/1.1 is taken from net/http
//     (hijacked) once its headers and its first block (the position, or
//     the first element) are written, and the handler returns: net/http's
//     goroutine, its buffers, the request and the handler's context are
//     freed. Beacon holds the socket in the connection's link and writes
//     the HTTP/1.1 chunk framing itself, from pooled buffers; an idle
//     connection has no goroutine and no write buffer.
//   - A WebSocket has one goroutine, the caller's reading loop; the pool
//     writes to it (frames framed by hand, pongs too: the writer is the
//     socket's only writer).
//   - A client that leaves a held stream is noticed at once on Linux (its
//     socket's hang-up is watched with an epoll instance of the pump's own,
//     read by one goroutine parked in the runtime's poller); elsewhere, at
//     the next write that fails (the second heartbeat at the latest).
//   - A response that cannot be taken from net/http (HTTP/2 and TLS; also
//     HTTP/1.0, which is not chunked) is served by its handler's goroutine
//     with the same loop, as before, and ends when the request's context
//     does.
//
// # Who owns what
//
//   - The hub owns the topic → subscribers index and the newest frame of each
//     State topic (Hub.mu). Publish pushes while holding Hub.mu (read, or
//     write for State topics so two publishers of one topic stay ordered);
//     a push is a short lock and a non-blocking wake-up, and joins and leaves
//     are O(1). The hub also follows the head of the log (Hub.SetHead, then
//     every log frame it publishes), so a new connection starts there
//     without reading the database.
//   - Each Subscriber owns its pending frames (Subscriber.mu). Publish only
//     appends to them; the connection's writer only takes them.
//   - A connection's socket has one writer at a time: the link's state
//     (idle, queued, running) lets only one writer of the pool run it, or
//     the goroutine of its own that finishes a write the client is slow to
//     take, or, for a response net/http keeps, its handler's goroutine. A
//     WebSocket's own answers (errors, the cleared form, pongs) go through
//     Conn.Send and the ping handler, bounded queues that writer drains.
//   - The hub owns one goroutine, the heartbeat, stopped by Close, and the
//     pump: its writers and the departure watcher stop once the hub is
//     closed and its last connection has ended.
//   - The caller owns authorization: it decides which topics a connection
//     may carry before asking for them, and ends a connection by ending
//     Request.Context (Beacon does so when a session signs out or a
//     widget's token expires); live never looks at cookies or tokens.
//     Request.Context must not derive from the request's context: net/http
//     cancels that when the handler returns, which for a held stream is as
//     soon as it has started. Derive it from
//     context.WithoutCancel(r.Context()), and release what the connection
//     holds in Request.OnEnd, which is called once when it has ended,
//     however it ended.
//
// # Ordering
//
//   - Log frames must be published in position order, from one goroutine per
//     topic (Beacon publishes from the database writer, after commit, so
//     broadcast order equals database order). Every subscriber receives them
//     in that order, with no gaps and no duplicates, or is evicted.
//   - Positions are shared by all log topics; a connection's SSE id is
//     "<epoch>-<position>", and it never goes backwards on one connection.
//   - State frames carry no id: they never move a client's resume point.
//
// # Slow readers
//
//   - Publish never blocks on a reader. It costs one short lock per
//     subscriber and a non-blocking wake-up.
//   - State topics conflate: a reader that falls behind gets only the newest
//     pending frame of each topic.
//   - Log topics queue up to HubConfig.QueueLen frames per reader. One more
//     and the reader is evicted: its queue is dropped, it gets a jittered
//     "retry:" hint and its connection ends. It comes back with its
//     Last-Event-ID and is replayed from the log, so it loses nothing, and no
//     other reader waited for it.
//   - A writer of the pool never waits for a client: it writes what the
//     socket takes at once, and a goroutine of the connection's own
//     finishes the write under a deadline (SSEConfig.WriteTimeout, per
//     64 KiB chunk, re-armed at most once a second): a client that stops
//     reading is cut off when it expires, one on a slow link that keeps
//     reading is not. A client cut off so is counted as evicted, logged at
//     info (HubConfig.Log), and closed abortively (SO_LINGER 0), so the
//     kernel frees the data it could not send at once instead of holding
//     it until the client goes away.
//   - A writer sends the pending frames of a connection in one write, up
//     to about 32 KiB a run (a larger backlog waits for the connection's
//     next turn); a commit group published with PublishBatch reaches an
//     idle subscriber before its writer wakes.
//
// # Resume
//
//   - A client resumes with "<epoch>-<position>" (Last-Event-ID, or the
//     position its page was rendered at). If the epoch matches and the
//     position is still in the log, the missed frames of its log topics are
//     replayed in order; the live queue starts after the last one replayed.
//   - Otherwise (another database, or older than retention) the current
//     state is rendered by Source.Snapshot, followed by the resync event, and
//     the stream goes on from there. A WebSocket program (ModeJSON) gets its
//     hello, which says it was resynced, before the snapshot's frames.
//   - Every stream starts by telling the client its position, so a client
//     that saw no event yet can still come back without a gap.
//
// # Shutdown
//
//   - Hub.Close tells every connection to come back: each writes a jittered
//     retry hint (a chunked stream: a last element that reloads the page
//     after a jittered delay; a WebSocket: close 1012) and ends. SSE.Wait,
//     Streams.Wait and WS.Wait wait for them.
package live
