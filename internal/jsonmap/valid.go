package jsonmap

import (
	"bytes"

	"github.com/tidwall/gjson"
)

// valid reports whether doc is exactly one JSON value, with the same answer
// as encoding/json's Valid (FuzzValid checks that) at several times its
// speed. Like Valid it accepts invalid UTF-8 inside strings.
//
// gjson.Valid agrees with encoding/json except on nesting: it has no limit
// and recurses once per level: 8 MB of "[" (captures may be up to 64 MB)
// overflow the goroutine stack, a fatal error that stops the server. The
// depth check, ours, therefore comes first; it bounds gjson's recursion
// too, as both read strings alike.
func valid(doc []byte) bool {
	return !tooDeep(doc) && gjson.ValidBytes(doc)
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// tooDeep reports whether doc nests objects and arrays deeper than
// maxDepth; for invalid documents the answer only has to be safe. Real
// documents have far fewer brackets than maxDepth, which two counts (fast,
// vectorised) show; only the rest are walked.
func tooDeep(doc []byte) bool {
	if len(doc) <= 2*maxDepth || bytes.Count(doc, []byte{'['})+bytes.Count(doc, []byte{'{'}) <= maxDepth {
		return false
	}
	depth := 0
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case '"':
			// Skip the string: a backslash escapes the next byte.
			for i++; i < len(doc) && doc[i] != '"'; i++ {
				if doc[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth++; depth > maxDepth {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}
