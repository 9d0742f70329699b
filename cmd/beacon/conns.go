package main

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	"github.com/beacon-live/beacon/limit"
)

// addressListener caps the connections one client address holds open at
// once (--conns-per-address), streams and sockets included: they are
// counted from Accept to Close, whoever closes them (net/http, or the
// stream or socket that took the connection over). Addresses are keyed
// as the rate limits key them (limit.IPKey: an IPv6 client by its /64).
//
// A connection past the cap is still accepted, but marked (refusal): its
// first request is answered 429 with the reason, and it is closed. It is
// not counted.
//
// The key is the socket's address, never a forwarded header: nothing has
// been read yet, and a proxy's connection carries many clients. Behind a
// proxy every client shares the proxy's address, so the cap is off by
// default there (newConfig).
type addressListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int // guarded by mu: connections open per address key
}

func newAddressListener(ln net.Listener, max int) *addressListener {
	return &addressListener{Listener: ln, max: max, open: make(map[string]int)}
}

// Accept accepts the next connection and counts it against its address.
func (l *addressListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	key := limit.IPKey(c.RemoteAddr().String())
	l.mu.Lock()
	over := l.open[key] >= l.max
	if !over {
		l.open[key]++
	}
	l.mu.Unlock()
	if over {
		return &refusedConn{Conn: c, reason: fmt.Sprintf(
			"too many connections from your address (at most %d at once); close some and try again", l.max)}, nil
	}
	return &countedConn{Conn: c, l: l, key: key}, nil
}

// release forgets one closed connection of key.
func (l *addressListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// countedConn is an admitted connection; closing it frees its place.
type countedConn struct {
	net.Conn
	l    *addressListener
	key  string
	once sync.Once
}

// Close closes the connection and, the first time, frees its place.
func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}

// NetConn returns the connection underneath, for code that needs the
// *net.TCPConn (socket options).
func (c *countedConn) NetConn() net.Conn { return c.Conn }

// SyscallConn returns the socket underneath, so that live's writer pool
// writes to a held stream or socket without waiting and watches it for the
// client's departure, as it does an uncounted one. Closing still goes
// through Close.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// refusedConn is a connection past its address's cap; see addressListener.
type refusedConn struct {
	net.Conn
	reason string
}
