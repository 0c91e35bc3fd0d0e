package index

import (
	"syscall"
	"unsafe"
)

// hugePages asks Linux to back a big table with transparent huge pages
// (MADV_HUGEPAGE; the default THP mode "madvise" gives them only to memory
// that asks). At 10M consents a lookup is one random access into some
// 400 MB: with 4 KiB pages it also misses the TLB and walks the page
// tables, with 2 MiB pages it mostly does not. The slice is fresh from the
// Go heap and not yet touched, so its pages fault in huge. Failure is
// harmless and ignored.
func hugePages(slots []slot) {
	const huge = 2 << 20
	size := uintptr(len(slots)) * unsafe.Sizeof(slot{})
	if size < 4*huge {
		return
	}
	// madvise takes page-aligned ranges: advise the whole huge pages inside.
	start := uintptr(unsafe.Pointer(unsafe.SliceData(slots)))
	lo, hi := (start+huge-1)&^(huge-1), (start+size)&^(huge-1)
	if hi <= lo {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(slots))), size)[lo-start : hi-start]
	_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE
}
