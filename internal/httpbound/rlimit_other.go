//go:build !unix

package httpbound

// openFileLimit stands for the open-file limit where there is no
// RLIMIT_NOFILE (Windows): handles are not counted against a small
// per-process limit there, so the cap is a fixed, generous number.
func openFileLimit() uint64 { return 16384 }
