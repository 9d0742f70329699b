//go:build unix

package main

import "syscall"

// raiseOpenFiles raises this process's soft limit on open files to its hard
// limit (every connection is a file) and returns the new soft limit. Setting
// it explicitly, rather than relying on the Go runtime's own raise at
// start-up, also passes the raised limit on to the servers this tool starts.
func raiseOpenFiles() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return uint64(rl.Cur), nil
}
