//go:build unix

package live

import (
	"net"
	"os"
	"syscall"
)

// write writes w.b to fd until it is written, or the socket takes no more
// (EAGAIN), or fails; it never asks the poller to wait.
func (w *rawWriter) write(fd uintptr) bool {
	for w.n < len(w.b) {
		m, err := syscall.Write(int(fd), w.b[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			w.err = &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", err)}
			return true
		case m == 0:
			return true
		}
	}
	return true
}
