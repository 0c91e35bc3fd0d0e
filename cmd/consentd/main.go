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
	run := func() int {
		// CONSENTD_BENCH_REFERENCE: the bench's child process serving a
		// bare reference handler (bench_http.go), not a command.
		if name := os.Getenv(benchReferenceEnv); name != "" {
			return benchReference(ctx, name, os.Stderr)
		}
		return m.Run(ctx, os.Args[1:])
	}
	// CONSENTD_CPUPROFILE: a CPU profile of the whole command, for
	// developers (bench runs the import, serve and references as child
	// processes).
	if path := os.Getenv("CONSENTD_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			code := run()
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	os.Exit(run())
}
