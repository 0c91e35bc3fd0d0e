//go:build !linux

package index

func hugePages([]byte) {}
