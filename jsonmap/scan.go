package jsonmap

import "bytes"

// The scanner below walks a document that valid has already accepted,
// so it only needs to find where values end, never to report syntax errors.
// Working on the raw bytes keeps number literals exact (no float64) and
// avoids decoding the parts of a large cart we never look at.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimValue drops the whitespace around a whole document.
func trimValue(b []byte) []byte {
	i, j := skipSpace(b, 0), len(b)
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// stringEnd returns the index just past the string starting at b[i] == '"'.
// Most strings are short keys, for which a byte loop beats bytes.IndexByte;
// long ones (URLs, descriptions) switch to it.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for limit := min(len(b), j+16); j < limit; j++ {
		switch b[j] {
		case '"':
			return j + 1
		case '\\':
			j++ // the escaped character cannot end the string
		}
	}
	for j < len(b) {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b)
		}
		j += k + 1
		// The quote is escaped when an odd run of backslashes precedes it.
		n := 0
		for p := j - 2; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		return compositeEnd(b, i)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	return j
}

// structural marks the bytes compositeEnd must look at.
var structural = func() (t [256]bool) {
	for _, c := range `"{}[]` {
		t[c] = true
	}
	return t
}()

func compositeEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		for j < len(b) && !structural[b[j]] {
			j++
		}
		if j == len(b) {
			break
		}
		switch b[j] {
		case '"':
			j = stringEnd(b, j) - 1
		case '{', '[':
			depth++
		default:
			if depth--; depth == 0 {
				return j + 1
			}
		}
	}
	return len(b)
}

// members iterates over an object's members or an array's elements; v is
// the whole composite value. For arrays key is nil.
type members struct {
	b   []byte
	j   int
	obj bool
}

func newMembers(v []byte) members {
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		return members{}
	}
	return members{b: v, j: skipSpace(v, 1), obj: v[0] == '{'}
}

// next returns the next member; key is the raw key without its quotes.
func (m *members) next() (key, val []byte, ok bool) {
	b, j := m.b, m.j
	if j >= len(b) || b[j] == '}' || b[j] == ']' {
		return nil, nil, false
	}
	if m.obj {
		ke := stringEnd(b, j)
		key = b[j+1 : max(j+1, ke-1)]
		j = skipSpace(b, ke) + 1 // past the colon
		j = skipSpace(b, j)
	}
	ve := valueEnd(b, j)
	val = b[j:ve]
	j = skipSpace(b, ve)
	if j < len(b) && b[j] == ',' {
		j = skipSpace(b, j+1)
	}
	m.j = j
	return key, val, len(val) > 0
}
