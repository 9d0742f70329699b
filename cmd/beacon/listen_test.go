//go:build unix

package main

import (
	"net"
	"syscall"
	"testing"
)

// TestSendBufferOfAcceptedConnections: --send-buffer caps the kernel send
// buffer of every accepted connection (set once, on the listening socket).
func TestSendBufferOfAcceptedConnections(t *testing.T) {
	ln, err := listenConfig(64<<10).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) }) //nolint:errcheck // gerr has it
	// Linux doubles what it is given, for its bookkeeping.
	if gerr != nil || got > 2*(64<<10) {
		t.Fatalf("accepted connection's send buffer %d (%v), want at most %d", got, gerr, 2*(64<<10))
	}
}
