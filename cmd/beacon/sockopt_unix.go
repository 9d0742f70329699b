//go:build unix

package main

import "syscall"

// setSendBuffer sets the kernel send buffer of socket fd.
func setSendBuffer(fd uintptr, size int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size)
}
