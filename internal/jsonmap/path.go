package jsonmap

import (
	"bytes"
	"errors"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// maxPathLength bounds a configured path; real ones are a few keys long.
const maxPathLength = 512

// gjsonSpecial are the characters gjson gives a meaning to (wildcards,
// queries, modifiers, pipes, multipaths). Our subset refuses them unescaped
// so that a path never means something else here than in gjson, and so
// that a segment of ours is, as it stands, one gjson key with the same
// escapes (see get).
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
// first one when none is present, so that a drop can name it. gjson cannot
// do the alternatives: it would read "a,b" as one key.
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

// get evaluates one alternative (dot-separated keys) in v, one gjson.Get
// per key. Given the whole "a.b", gjson would try every "a" of an object
// until one has a "b"; ours takes the first "a" and looks no further.
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

// child finds one key in an object, or one index in an array. A segment
// is passed to gjson unchanged: checkPath leaves every character gjson
// treats specially in a key escaped, and gjson unescapes as we do. As in
// gjson, the first of duplicate keys wins and a numeric key on an object
// is a key. On arrays only plain indexes reach gjson, which would read an
// escaped "\#" there as the array's length.
func child(v []byte, seg string) ([]byte, bool) {
	if len(v) == 0 || (v[0] != '{' && (v[0] != '[' || !isIndex(seg))) {
		return nil, false
	}
	r := gjson.Get(view(v), seg)
	return raw(r), r.Exists()
}

// isIndex reports whether seg is an array index: plain digits, at most
// nine of them (no array of a capturable document is longer).
func isIndex(seg string) bool {
	if seg == "" || len(seg) > 9 {
		return false
	}
	for i := 0; i < len(seg); i++ {
		if seg[i] < '0' || seg[i] > '9' {
			return false
		}
	}
	return true
}

// unescape drops our path escapes from a segment, as gjson does with a key.
func unescape(seg string) string {
	if strings.IndexByte(seg, '\\') < 0 {
		return seg
	}
	var b strings.Builder
	for k := 0; k < len(seg); k++ {
		if seg[k] == '\\' && k+1 < len(seg) {
			k++
		}
		b.WriteByte(seg[k])
	}
	return b.String()
}

// trimValue drops the whitespace JSON allows around a whole document.
func trimValue(b []byte) []byte { return bytes.Trim(b, " \t\n\r") }

// view lets gjson, which reads strings, read doc without copying it.
// Extract never writes doc and keeps nothing gjson returns: the
// converters (values.go) copy every string they keep.
func view(doc []byte) string { return unsafe.String(unsafe.SliceData(doc), len(doc)) }

// raw is the inverse of view for a value gjson found: its JSON text, as
// the bytes of the document it lies in, for the converters.
func raw(r gjson.Result) []byte {
	if r.Raw == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(r.Raw), len(r.Raw))
}
