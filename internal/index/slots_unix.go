//go:build unix

package index

import (
	"runtime"
	"syscall"
	"unsafe"
)

// mapsSlots says that big tables are mapped outside the Go heap here.
const mapsSlots = true

// allocSlots returns n zeroed slots and, for a big table, the mapping that
// holds them (nil: an ordinary slice on the Go heap). Big tables live in
// anonymous memory mapped outside the Go heap: the collector then paces
// itself by the rest of the heap instead of letting the heap grow by the
// table's size between cycles (with 10M consents, after 3M decisions, the
// process held 289 MB, and 560 MB with the table on the heap).
func allocSlots(n int) ([]slot, *mapping) {
	size := n * int(unsafe.Sizeof(slot{}))
	if size < mapMin {
		return make([]slot, n), nil
	}
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return make([]slot, n), nil // the heap will do
	}
	hugePages(mem)
	mapped.Add(int64(size))
	m := &mapping{mem: mem}
	// A table dropped with its workspace is unmapped once nothing reaches
	// it; a table that grows unmaps its old slots at once (free).
	m.cleanup = runtime.AddCleanup(m, unmap, mem)
	return unsafe.Slice((*slot)(unsafe.Pointer(unsafe.SliceData(mem))), n), m
}

// mapping is a table's slots mapped outside the Go heap.
type mapping struct {
	mem     []byte
	cleanup runtime.Cleanup
}

// free unmaps the slots now; nothing may read them after.
func (m *mapping) free() {
	if m == nil {
		return
	}
	m.cleanup.Stop()
	unmap(m.mem)
}

func unmap(mem []byte) {
	if syscall.Munmap(mem) == nil {
		mapped.Add(-int64(len(mem)))
	}
}
