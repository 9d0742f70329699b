//go:build !unix

package main

// raiseOpenFiles reports a conservative limit where there is no rlimit.
func raiseOpenFiles() (uint64, error) { return 1024, nil }
