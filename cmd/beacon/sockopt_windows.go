package main

import "syscall"

// setSendBuffer sets the kernel send buffer of socket fd.
func setSendBuffer(fd uintptr, size int) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size)
}
