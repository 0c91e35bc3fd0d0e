//go:build unix

package main

import (
	"os"
	"syscall"
)

// processCPU is the user and system CPU time this process has used, in
// nanoseconds (0 where rusage cannot be read).
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// maxRSS is a finished child's peak resident set size as rusage says it
// (KiB on Linux); 0 when unknown.
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss)
	}
	return 0
}
