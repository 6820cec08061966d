package jsonmap

import "github.com/tidwall/gjson"

// finder looks up several paths in one object with a single pass over its
// members (gjson's ForEach). It reads the document's top level, where a
// gjson.Get per path would skip over the whole items array again for each
// path found after it (Shopify's currency) or missing (all customer paths
// of most shops). Cart lines are small: item looks their paths up one by one.
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
	key, rest, alt string // key is unescaped, to compare with gjson's keys
	query, rank    int
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
			f.entries[f.n] = entry{key: unescape(key), rest: after, alt: alt, query: q, rank: rank}
			f.n++
		}
	}
	return f
}

// find fills hits[q] for every query. The answer is the same as lookup's:
// the first alternative present, not null and not "", where the first of
// duplicate keys wins.
func (f *finder) find(v []byte, hits []hit) {
	if f.fall || len(v) == 0 || v[0] != '{' {
		for q, p := range f.paths[:f.queries] {
			hits[q].val, hits[q].alt, hits[q].found = lookup(v, p)
		}
		return
	}
	for q := range f.queries {
		hits[q] = hit{alt: f.first[q], rank: maxEntries}
	}
	var seen uint32 // entries whose key has occurred: later duplicates lose
	gjson.Parse(view(v)).ForEach(func(key, val gjson.Result) bool {
		matched := false
		for e := range f.n {
			en := &f.entries[e]
			if seen&(1<<e) != 0 || key.Str != en.key {
				continue
			}
			seen |= 1 << e
			f.offer(en, val, hits)
			matched = true
		}
		// Stop once no later member can change an answer.
		return !matched || f.open(seen, hits)
	})
}

func (f *finder) offer(en *entry, val gjson.Result, hits []hit) {
	h := &hits[en.query]
	if en.rank >= h.rank {
		return
	}
	v := raw(val)
	if en.rest != "" {
		var ok bool
		if v, ok = get(v, en.rest); !ok {
			return
		}
	}
	if !isNullish(v) {
		*h = hit{val: v, alt: en.alt, rank: en.rank, found: true}
	}
}

// open reports whether an entry not yet seen could still beat its query's
// hit.
func (f *finder) open(seen uint32, hits []hit) bool {
	for e := range f.n {
		if en := &f.entries[e]; seen&(1<<e) == 0 && en.rank < hits[en.query].rank {
			return true
		}
	}
	return false
}
