package jsonmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// maxPathLength bounds a configured path; real ones are a few keys long.
const maxPathLength = 512

// gjsonSpecial are the characters gjson gives a meaning to (wildcards,
// queries, modifiers, pipes, multipaths). Our subset refuses them unescaped
// so that a path never means something else here than in gjson.
const gjsonSpecial = "*?#@|![]{}"

// checkPath reports why p is not a path of the supported syntax.
func checkPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if len(p) > maxPathLength {
		return errors.New("path longer than 512 bytes")
	}
	for rest, more := p, true; more; {
		var alt string
		alt, rest, more = cut(rest, ',')
		if err := checkAlt(alt); err != nil {
			return err
		}
	}
	return nil
}

func checkAlt(alt string) error {
	for rest, more := alt, true; more; {
		var seg string
		seg, rest, more = cut(rest, '.')
		if seg == "" {
			return errors.New("empty key (a leading, trailing or doubled dot or comma)")
		}
		for i := 0; i < len(seg); i++ {
			switch c := seg[i]; {
			case c == '\\':
				if i++; i == len(seg) {
					return errors.New("trailing backslash")
				}
			case c < 0x20:
				return errors.New("control character")
			case strings.IndexByte(gjsonSpecial, c) >= 0:
				return errors.New("unescaped " + string(c) + " (escape it with a backslash)")
			}
		}
	}
	return nil
}

// cut splits s at the first sep that no backslash escapes.
func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// lookup evaluates path in v and returns the first alternative whose value
// is present, not null and not "". alt is the alternative used, or the
// first one when none is present, so that a drop can name it.
func lookup(v []byte, path string) (val []byte, alt string, found bool) {
	first := ""
	for rest, more := path, path != ""; more; {
		alt, rest, more = cut(rest, ',')
		if first == "" {
			first = alt
		}
		val, ok := get(v, alt)
		if ok && !isNullish(val) {
			return val, alt, true
		}
	}
	return nil, first, false
}

func isNullish(v []byte) bool { return string(v) == "null" || string(v) == `""` }

// get evaluates one alternative (dot-separated keys) in v.
func get(v []byte, alt string) ([]byte, bool) {
	for more := true; more; {
		var seg string
		seg, alt, more = cut(alt, '.')
		var ok bool
		if v, ok = child(v, seg); !ok {
			return nil, false
		}
	}
	return v, true
}

// child finds one key in an object, or one index in an array. As in gjson,
// the first of duplicate keys wins and a numeric key on an object is a key.
func child(v []byte, seg string) ([]byte, bool) {
	want, isIndex := index(seg)
	if len(v) == 0 || (v[0] == '[' && !isIndex) {
		return nil, false
	}
	ms := newMembers(v)
	for n := 0; ; n++ {
		key, val, ok := ms.next()
		if !ok {
			return nil, false
		}
		if (ms.obj && keyEqual(key, seg)) || (!ms.obj && n == want) {
			return val, true
		}
	}
}

// index reads a segment of plain digits as an array index.
func index(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return 0, false
		}
		n = n*10 + int(seg[i]-'0')
	}
	return n, true
}

// keyEqual compares a raw JSON key with an escaped path segment without
// allocating; keys with JSON escapes (rare) take the slow path.
func keyEqual(key []byte, seg string) bool {
	if bytes.IndexByte(key, '\\') >= 0 {
		return decodedKey(key) == unescape(seg)
	}
	if strings.IndexByte(seg, '\\') < 0 {
		return string(key) == seg
	}
	i := 0
	for k := 0; k < len(seg); k++ {
		c := seg[k]
		if c == '\\' && k+1 < len(seg) {
			k++
			c = seg[k]
		}
		if i >= len(key) || key[i] != c {
			return false
		}
		i++
	}
	return i == len(key)
}

func decodedKey(key []byte) string {
	var s string
	quoted := append(append(append(make([]byte, 0, len(key)+2), '"'), key...), '"')
	if json.Unmarshal(quoted, &s) != nil {
		return "\x00invalid" // matches no segment: checkPath refuses control characters
	}
	return s
}

func unescape(seg string) string {
	var b strings.Builder
	for k := 0; k < len(seg); k++ {
		if seg[k] == '\\' && k+1 < len(seg) {
			k++
		}
		b.WriteByte(seg[k])
	}
	return b.String()
}
