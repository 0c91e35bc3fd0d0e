// Command consentd is the consent ledger and send-time decision service.
// See README.md and docs/.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	// CONSENTD_BENCH_REFERENCE: the bench's child process serving a bare
	// reference handler (bench_http.go), not a command.
	if name := os.Getenv(benchReferenceEnv); name != "" {
		os.Exit(benchReference(ctx, name, os.Stderr))
	}
	// CONSENTD_CPUPROFILE: a CPU profile of the whole command, for
	// developers (bench runs the import as a child process).
	if path := os.Getenv("CONSENTD_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			code := m.Run(ctx, os.Args[1:])
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(m.Run(ctx, os.Args[1:]))
}
