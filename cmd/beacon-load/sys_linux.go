package main

import "syscall"

// childAttr makes the kernel kill a server this tool started if the tool
// dies first, so no Beacon outlives an interrupted benchmark.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
