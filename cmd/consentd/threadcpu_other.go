//go:build !linux

package main

import "time"

// threadCPU is -1 where the bench does not read a thread's CPU clock: the
// timed loops then report their wall time only.
func threadCPU() time.Duration { return -1 }
