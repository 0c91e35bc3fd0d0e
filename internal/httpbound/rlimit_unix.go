//go:build unix

package httpbound

import "syscall"

// openFileLimit is the soft RLIMIT_NOFILE; 1024 when it cannot be read.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return uint64(rl.Cur)
}
