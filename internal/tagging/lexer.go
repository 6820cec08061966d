package tagging

import "bytes"

// The tokenizer follows the WHATWG tokenization rules where they decide
// what is markup and what is text: tags need a letter after '<', quoted
// attribute values may hold '>', comments end at "-->" or "--!>", the
// content of script, style and other raw-text elements is not markup, and
// scripts keep the escaped and double-escaped states (script.go).
// xnet_test.go compares it with golang.org/x/net/html's tokenizer and
// records where they differ. Like that tokenizer used alone it knows
// nothing of the tree builder's context, where browsers differ from both:
// <style> and <title> inside <svg> hold markup, CDATA sections in <svg>
// and <math> end at "]]>", not at '>', and <noscript> holds markup when
// scripting is off.

var (
	nosto    = []byte("nosto_")
	endOpen  = []byte("</")
	dashDash = []byte("--")
)

// Byte tables for the tokenizer's hot loops.
var (
	isSpace   [256]bool // HTML's ASCII whitespace
	isNameEnd [256]bool // whitespace, '/', '>'
	// isAttrNameEnd is isNameEnd and '=': what ends an attribute's name.
	isAttrNameEnd [256]bool
)

func init() {
	for _, c := range []byte(" \t\n\f\r") {
		isSpace[c] = true
		isNameEnd[c] = true
	}
	isNameEnd['/'] = true
	isNameEnd['>'] = true
	isAttrNameEnd = isNameEnd
	isAttrNameEnd['='] = true
}

func isAlpha(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// run walks p.src from the start, handing text and tags to the tree code.
func (p *parser) run() {
	src := p.src
	for p.pos < len(src) {
		// Outside tagging, skim does the same faster.
		if p.open == 0 && !p.noSkim {
			p.skim()
			if p.pos >= len(src) {
				return
			}
		}
		// Past the last "nosto_" with no tagging open nothing more can be
		// found: most pages carry their tagging well before the end.
		if p.pos > p.last && p.open == 0 {
			return
		}
		i := bytes.IndexByte(src[p.pos:], '<')
		if i < 0 {
			p.text(src[p.pos:])
			p.pos = len(src)
			return
		}
		if i > 0 {
			p.text(src[p.pos : p.pos+i])
		}
		p.pos += i
		p.markup()
	}
}

// markup handles the '<' at p.pos.
func (p *parser) markup() {
	src, i := p.src, p.pos
	if i+1 >= len(src) {
		p.text(src[i:])
		p.pos = len(src)
		return
	}
	switch c := src[i+1]; {
	case isAlpha(c):
		p.startTag()
	case c == '/':
		p.endTag()
	case c == '!':
		if bytes.HasPrefix(src[i+2:], dashDash) {
			p.pos = commentEnd(src, i+4)
		} else { // doctype, CDATA, bogus comments
			p.skipPast(i+2, '>')
		}
	case c == '?':
		p.skipPast(i+2, '>')
	default: // a lone '<' is text
		p.text(src[i : i+1])
		p.pos = i + 1
	}
}

// skipPast moves p.pos after the next c from k, or to the end.
func (p *parser) skipPast(k int, c byte) {
	if e := bytes.IndexByte(p.src[k:], c); e >= 0 {
		p.pos = k + e + 1
	} else {
		p.pos = len(p.src)
	}
}

// commentEnd returns the index after the comment whose body starts at k.
func commentEnd(src []byte, k int) int {
	// "<!-->" and "<!--->" are complete, empty comments.
	if k < len(src) && src[k] == '>' {
		return k + 1
	}
	if k+1 < len(src) && src[k] == '-' && src[k+1] == '>' {
		return k + 2
	}
	for {
		e := bytes.Index(src[k:], dashDash)
		if e < 0 {
			return len(src)
		}
		k += e + 2
		for k < len(src) && src[k] == '-' {
			k++
		}
		if k < len(src) && src[k] == '>' {
			return k + 1
		}
		if k+1 < len(src) && src[k] == '!' && src[k+1] == '>' {
			return k + 2
		}
	}
}

// tagName reads a tag name from j and returns its key and the index after
// it. Names are case-insensitive, so the key is of the lowercase name.
func tagName(src []byte, j int) (uint64, int) {
	h := uint64(fnvOffset)
	for ; j < len(src) && !isNameEnd[src[j]]; j++ {
		c := src[j]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h, j
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// keyOf is tagName's key for a known lowercase name.
func keyOf(name string) uint64 {
	k, _ := tagName([]byte(name), 0)
	return k
}

// tag is what the tokenizer reports of a start or end tag.
type tag struct {
	key        uint64
	class      []byte // the first class attribute's raw value
	classAt    int    // offset of class in src, for the "nosto_" check
	selfClose  bool
	incomplete bool // the page ended inside the tag
}

// readTag reads the tag whose name starts at j and moves p.pos past it.
func (p *parser) readTag(j int) tag {
	src := p.src
	var t tag
	t.key, j = tagName(src, j)
	t.classAt = -1
	for {
		for j < len(src) && (isSpace[src[j]] || src[j] == '/') {
			if src[j] == '/' && j+1 < len(src) && src[j+1] == '>' {
				t.selfClose = true
			}
			j++
		}
		if j >= len(src) {
			t.incomplete = true
			p.pos = len(src)
			return t
		}
		if src[j] == '>' {
			p.pos = j + 1
			return t
		}
		var name, val []byte
		var at int
		name, val, at, j = attr(src, j)
		if j < 0 {
			t.incomplete = true
			p.pos = len(src)
			return t
		}
		if t.classAt < 0 && isClassAttr(name) {
			t.class, t.classAt = val, at
		}
	}
}

// attr reads one attribute from j. It returns the name, the raw value, the
// value's offset and the index after the attribute (-1 at the page's end
// inside a quoted value).
func attr(src []byte, j int) (name, val []byte, at, next int) {
	start := j
	j++ // the first character is part of the name, even '='
	for j < len(src) && !isNameEnd[src[j]] && src[j] != '=' {
		j++
	}
	name = src[start:j]
	for j < len(src) && isSpace[src[j]] {
		j++
	}
	if j >= len(src) || src[j] != '=' {
		return name, nil, j, j
	}
	j++
	for j < len(src) && isSpace[src[j]] {
		j++
	}
	if j >= len(src) {
		return name, nil, j, -1
	}
	switch q := src[j]; q {
	case '"', '\'':
		e := bytes.IndexByte(src[j+1:], q)
		if e < 0 {
			return name, nil, j, -1
		}
		return name, src[j+1 : j+1+e], j + 1, j + e + 2
	case '>': // "a=>" is an empty value
		return name, nil, j, j
	}
	at = j
	for j < len(src) && !isSpace[src[j]] && src[j] != '>' {
		j++
	}
	return name, src[at:j], at, j
}

func isClassAttr(name []byte) bool {
	return len(name) == 5 && name[0]|0x20 == 'c' && name[1]|0x20 == 'l' &&
		name[2]|0x20 == 'a' && name[3]|0x20 == 's' && name[4]|0x20 == 's'
}

// startTag handles the start tag at p.pos.
func (p *parser) startTag() {
	t := p.readTag(p.pos + 1)
	if t.incomplete {
		return // a tag cut by the end of the page is not a tag
	}
	sp := specialOf(t.key)
	if sp.flags&spRaw != 0 {
		p.rawText(sp)
		return
	}
	p.openElement(t, sp)
}

// endTag handles the "</" at p.pos.
func (p *parser) endTag() {
	src, i := p.src, p.pos
	switch {
	case i+2 >= len(src):
		p.text(src[i:])
		p.pos = len(src)
	case isAlpha(src[i+2]):
		// End tags may carry attributes; they are read only to find the '>'.
		if t := p.readTag(i + 2); !t.incomplete {
			p.closeElement(t.key)
		}
	case src[i+2] == '>':
		p.pos = i + 3
	default:
		p.skipPast(i+2, '>')
	}
}

// rawText skips the content of a raw-text element up to its end tag,
// which the main loop then reads as an ordinary end tag. Text of title and
// textarea is text (RCDATA); script, style and the like are not.
func (p *parser) rawText(sp special) {
	src := p.src
	start := p.pos
	end := len(src)
	switch {
	case sp.flags&spScript != 0:
		end = scriptEnd(src, start)
	case sp.flags&spPlain == 0:
		end = findEndTag(src, start, sp.name)
	}
	if sp.flags&spRCData != 0 {
		p.text(src[start:end])
	}
	p.pos = end
}

// findEndTag returns the index of "</name" (any case, followed by a name
// end) from k, or len(src). A name cut by the end of the page is not an
// end tag: the spec keeps "</title" there as the element's text.
func findEndTag(src []byte, k int, name string) int {
	for {
		e := bytes.Index(src[k:], endOpen)
		if e < 0 {
			return len(src)
		}
		k += e
		n := k + 2
		if m := n + len(name); m < len(src) && equalFold(src[n:m], name) && isNameEnd[src[m]] {
			return k
		}
		k += 2
	}
}

// equalFold compares b with a lowercase ASCII name.
func equalFold(b []byte, name string) bool {
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
}
