package handler

import "sync/atomic"

// DefaultCaptureBudget is how many bytes the captures in flight of one
// handler may hold together.
const DefaultCaptureBudget = 64 << 20

// budget bounds the memory every capture in flight holds together: one
// capture_limit buffer per response would grow with the number of
// responses in flight. A capture that cannot take what it needs stops
// capturing; its response goes on untouched.
type budget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes, or reports that they are not there.
func (b *budget) take(n int) bool {
	if b.used.Add(int64(n)) > b.max {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

// give returns n bytes taken before.
func (b *budget) give(n int) { b.used.Add(-int64(n)) }

// CaptureBytesInFlight is how many bytes the captures in flight hold.
func (h *Handler) CaptureBytesInFlight() int64 { return h.budget.used.Load() }
