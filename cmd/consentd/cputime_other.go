//go:build !unix

package main

import "os"

// processCPU is 0 where there is no rusage (Windows): the bench's CPU
// time figures are then left at 0.
func processCPU() int64 { return 0 }

// maxRSS is 0 where there is no rusage.
func maxRSS(*os.ProcessState) int64 { return 0 }
