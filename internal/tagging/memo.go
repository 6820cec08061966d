package tagging

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Memo remembers the tagging of the pages scanned last, by their bytes, so
// that a page served again byte for byte (a reload, a cached page shown to
// many anonymous visitors) is not parsed again. Pages that differ in any
// byte, a per-request token say, are parsed as before. It is safe for
// concurrent use.
//
// Entries are found by a 64-bit hash with a per-process random seed plus
// the length, so a wrong answer needs a seeded 64-bit collision between
// two pages of the same length.
type Memo struct {
	seed    maphash.Seed
	mu      sync.Mutex
	entries [memoSize]memoEntry
	hits    atomic.Int64
	misses  atomic.Int64
}

const (
	// memoSize is the number of pages remembered (direct-mapped: a new
	// page replaces the one in its slot).
	memoSize = 256
	// memoMaxItems bounds the memory one entry holds: pages with more cart
	// and order lines are parsed every time.
	memoMaxItems = 32
)

type memoEntry struct {
	sum       uint64
	n         int
	truncated bool
	used      bool
	page      Page
}

// NewMemo returns an empty memo.
func NewMemo() *Memo { return &Memo{seed: maphash.MakeSeed()} }

// Result is s.Result(), from the memo (remembered is true) when the same
// bytes were parsed before. The Page may be shared with other callers:
// read it, never change it (sessiontap.Patch.Apply copies what it keeps).
func (m *Memo) Result(s *Scanner) (page Page, remembered bool) {
	if s.parsed || s.firstNosto() < 0 {
		return s.Result(), false // cached already, or nothing to parse
	}
	sum := maphash.Bytes(m.seed, s.buf)
	e := &m.entries[sum%memoSize]
	m.mu.Lock()
	if e.used && e.sum == sum && e.n == len(s.buf) && e.truncated == s.truncated {
		page = e.page
		m.mu.Unlock()
		m.hits.Add(1)
		s.page, s.parsed = page, true
		return page, true
	}
	m.mu.Unlock()
	m.misses.Add(1)
	page = s.Result()
	if page.lines() <= memoMaxItems {
		m.mu.Lock()
		*e = memoEntry{sum: sum, n: len(s.buf), truncated: s.truncated, used: true, page: page}
		m.mu.Unlock()
	}
	return page, false
}

// Stats returns how many results came from the memo and how many were
// parsed.
func (m *Memo) Stats() (hits, misses int64) { return m.hits.Load(), m.misses.Load() }

func (p *Page) lines() int {
	n := 0
	if p.Cart != nil {
		n += len(p.Cart.Items)
	}
	if p.Order != nil {
		n += len(p.Order.Items)
	}
	return n
}
