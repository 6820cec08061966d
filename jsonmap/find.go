package jsonmap

import (
	"bytes"
	"strings"
)

// finder looks up several paths in one object with a single pass over its
// members. A Shopify cart line has forty members of which we want six;
// looking each up on its own scanned the line once per path.
type finder struct {
	n       int
	entries [maxEntries]entry
	first   [maxQueries]string // each query's first alternative, for Dropped
	queries int
	fall    bool // too many alternatives: look each path up on its own
	paths   [maxQueries]string
}

const (
	maxEntries = 24
	maxQueries = 8
)

// entry is one alternative of one query, split at its first key.
type entry struct {
	key, rest, alt string
	query, rank    int
	plain          bool // key has no backslash escapes
}

// hit is a query's answer, as lookup would give it.
type hit struct {
	val   []byte
	alt   string
	rank  int
	found bool
}

// newFinder plans the lookup of up to maxQueries paths.
func newFinder(paths []string) finder {
	f := finder{queries: min(len(paths), maxQueries)}
	copy(f.paths[:], paths) // a copy keeps paths from escaping to the heap
	for q := 0; q < f.queries && !f.fall; q++ {
		rank := 0
		for rest, more := paths[q], paths[q] != ""; more; rank++ {
			var alt string
			alt, rest, more = cut(rest, ',')
			if rank == 0 {
				f.first[q] = alt
			}
			if f.n == maxEntries {
				f.fall = true
				break
			}
			key, after, _ := cut(alt, '.')
			f.entries[f.n] = entry{key: key, rest: after, alt: alt, query: q, rank: rank,
				plain: strings.IndexByte(key, '\\') < 0}
			f.n++
		}
	}
	return f
}

// find fills hits[q] for every query. The answer is the same as lookup's:
// the first alternative present, not null and not "", where the first of
// duplicate keys wins. v starts with the value and may go on past it; find
// returns the value's length, so that a caller walking an array of lines
// need not scan each line twice.
func (f *finder) find(v []byte, hits []hit) int {
	if f.fall || len(v) == 0 || v[0] != '{' {
		for q, p := range f.paths[:f.queries] {
			hits[q].val, hits[q].alt, hits[q].found = lookup(v, p)
		}
		return valueEnd(v, 0)
	}
	for q := range f.queries {
		hits[q] = hit{alt: f.first[q], rank: maxEntries}
	}
	var seen uint32 // entries whose key has occurred: later duplicates lose
	ms := newMembers(v)
	for {
		key, val, ok := ms.next()
		if !ok {
			return ms.j + 1 // past the closing brace
		}
		plain := bytes.IndexByte(key, '\\') < 0 // checked once, not per entry
		for e := range f.n {
			en := &f.entries[e]
			if seen&(1<<e) != 0 {
				continue
			}
			if plain && en.plain {
				if string(key) != en.key {
					continue
				}
			} else if !keyEqual(key, en.key) {
				continue
			}
			seen |= 1 << e
			f.offer(en, val, hits)
		}
	}
}

func (f *finder) offer(en *entry, val []byte, hits []hit) {
	h := &hits[en.query]
	if en.rank >= h.rank {
		return
	}
	if en.rest != "" {
		var ok bool
		if val, ok = get(val, en.rest); !ok {
			return
		}
	}
	if !isNullish(val) {
		*h = hit{val: val, alt: en.alt, rank: en.rank, found: true}
	}
}
