// Package live is Beacon's realtime core: it moves fragments that are already
// rendered from publishers to connected browsers. It knows nothing of echo,
// templ or SQL; the durable log reaches it through the Source interface.
//
// # Pieces
//
//   - Hub fans frames out by topic. Every topic has a Class: State or Log.
//   - Subscriber is one connection's queue inside the hub.
//   - SSE is the Server-Sent Events transport: one connection carries every
//     topic a page shows (browsers allow six HTTP/1.1 connections per origin).
//   - WS is the WebSocket transport's writing side (the caller reads): HTML
//     fragments for pages, one JSON object per frame for programs.
//   - attach brings any new connection up to date (replay, resync or a fresh
//     start) the same way for both transports.
//   - AppendEvent is the only writer of the SSE wire format.
//   - Chunked writes one HTML response in flushed, deadlined chunks (the
//     dashboard's streamed first render); Streams builds on it to serve
//     topics as never-ending HTML documents that need no JavaScript
//     (GET /stream/…): each update a new element, a comment as heartbeat,
//     a reloading last element after a lifetime.
//
// # Who owns what
//
//   - The hub owns the topic → subscribers index and the newest frame of each
//     State topic (Hub.mu). Publish pushes while holding Hub.mu (read, or
//     write for State topics so two publishers of one topic stay ordered);
//     a push is a short lock and a non-blocking wake-up, and joins and leaves
//     are O(1).
//   - Each Subscriber owns its pending frames (Subscriber.mu). Publish only
//     appends to them; the connection's writer only takes them.
//   - Each connection's writer goroutine (the goroutine running SSE.Serve,
//     or the one WS.Open starts) owns its socket and its write buffer;
//     nothing else writes to it. A WebSocket's own answers (errors, the
//     cleared form) go through Conn.Send, a bounded queue that writer drains.
//   - The hub owns one goroutine, the heartbeat, stopped by Close.
//   - The caller owns authorization: it decides which topics a connection
//     may carry before asking for them, and ends a connection by ending
//     its request's context (Beacon does so when a session signs out or a
//     widget's token expires); live never looks at cookies or tokens.
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
//   - Every write has a deadline (SSEConfig.WriteTimeout), per 64 KiB chunk:
//     a client that stops reading is cut off when it expires, one on a slow
//     link that keeps reading is not. A client cut off so is counted as
//     evicted and logged at info (HubConfig.Log); a WebSocket is closed
//     abortively (SO_LINGER 0), so the kernel frees the data it could not
//     send at once instead of holding it until the client goes away.
//   - A writer sends all pending frames in one write and one flush.
//
// # Resume
//
//   - A client resumes with "<epoch>-<position>" (Last-Event-ID, or the
//     position its page was rendered at). If the epoch matches and the
//     position is still in the log, the missed frames of its log topics are
//     replayed in order; the live queue starts after the last one replayed.
//   - Otherwise (another database, or older than retention) the current
//     state is rendered by Source.Snapshot, followed by the resync event, and
//     the stream goes on from there.
//   - Every stream starts by telling the client its position, so a client
//     that saw no event yet can still come back without a gap.
//
// # Shutdown
//
//   - Hub.Close tells every connection to come back: each writes a jittered
//     retry hint (a chunked stream: a last element that reloads the page
//     after a jittered delay) and ends. SSE.Wait and Streams.Wait wait for
//     them.
package live
