package index

import "syscall"

// hugePages asks Linux to back a big table with transparent huge pages
// (MADV_HUGEPAGE; the default THP mode "madvise" gives them only to memory
// that asks). At 10M consents a lookup is one random access into some
// 256 MB: with 4 KiB pages it also misses the TLB and walks the page
// tables, with 2 MiB pages it mostly does not. The memory is freshly
// mapped and not yet touched, so its pages fault in huge. Failure is
// harmless and ignored.
func hugePages(mem []byte) {
	_ = syscall.Madvise(mem, 14) // MADV_HUGEPAGE
}
