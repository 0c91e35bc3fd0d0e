//go:build !unix

package index

// allocSlots returns n zeroed slots on the Go heap (the unix build maps big
// tables outside it).
const mapsSlots = false

func allocSlots(n int) ([]slot, *mapping) { return make([]slot, n), nil }

type mapping struct{}

func (m *mapping) free() {}
