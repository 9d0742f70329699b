package live

import (
	"errors"
	"net"
	"os"
)

// Dropping a client that stopped reading. Closing its socket the ordinary
// way leaves the data Beacon could not send in the kernel's send buffer
// (~0.5 MiB a socket on loopback) until the client reads it or goes away,
// which a stalled client may never do: a thousand of them pin half a GiB.
// An abortive close (SO_LINGER 0) sends a reset and frees it at once. Only
// clients that missed a write deadline are closed so; an evicted client
// that still reads gets its retry hint and an ordinary end. (An SSE or
// /stream/ response that net/http still owns is closed by net/http when
// its write fails, in the ordinary way; those drops are counted and logged
// all the same.)

// stalled reports whether err is a write that missed its deadline. gorilla
// reports a timeout as a net.Error of its own, not os.ErrDeadlineExceeded.
func stalled(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// abort closes c with a reset instead of an orderly end. c may wrap the TCP
// connection (TLS, the per-address cap's count): the innermost one is
// closed first, since an orderly TLS close would write to the client that
// is not reading; then c itself, so a wrapper releases what it holds (its
// writes fail at once on the closed socket).
func abort(c net.Conn) {
	for inner := c; ; {
		if tc, ok := inner.(*net.TCPConn); ok {
			tc.SetLinger(0) //nolint:errcheck // best effort: the close below still frees the connection
			if inner != c {
				tc.Close()
			}
			break
		}
		u, ok := inner.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		inner = u.NetConn()
	}
	c.Close()
}

// drop counts and logs a client dropped for not reading; transport and user
// say whose connection it was.
func (h *Hub) drop(transport, user string, err error) {
	h.cfg.Metrics.evicted.Inc()
	h.cfg.Log.Info("dropped a client that stopped reading", "transport", transport, "user", user,
		"reason", "write deadline exceeded", "err", err)
}
