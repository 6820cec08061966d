package tagging

import "bytes"

// skim is run's fast path for the stretches of a page that lie outside
// any tagging, which on most pages is all of it up to the tagging near the
// end. It walks the page exactly as run and markup do, and keeps the
// element stack exactly as they do (end tags and implied end tags after
// the tagging starts depend on it), but it skips the work that is provably
// a no-op there:
//
//   - text: with no tagging open (p.open == 0) no field is open either,
//     and parser.text keeps nothing;
//   - attributes: with no tagging open every element's parent is ctxDoc,
//     where openElement reads the class only if it holds "nosto_". A tag
//     with no "nosto_" anywhere between its '<' and its end cannot have
//     one in its class, so the attributes are only skipped to find the end.
//
// skim returns at the '<' of the first start tag that may hold "nosto_",
// which run then reads in full, when something opens tagging (a template),
// or where run would stop. The state it leaves is the state run and
// markup would have left at that point.
func (p *parser) skim() {
	src := p.src
	for p.open == 0 && p.pos < len(src) {
		if p.pos > p.last {
			return // run stops here too
		}
		i := p.pos
		if src[i] != '<' { // tags often follow each other directly
			e := bytes.IndexByte(src[i:], '<')
			if e < 0 {
				p.pos = len(src)
				return
			}
			i += e
			p.pos = i
		}
		if i+1 >= len(src) {
			p.pos = len(src)
			return
		}
		switch c := src[i+1]; {
		case isAlpha(c):
			key, j := tagName(src, i+1)
			end, selfClose := skipAttrs(src, j)
			if end < 0 {
				p.pos = len(src) // a tag cut by the end of the page is not a tag
				return
			}
			if p.mayHoldNosto(i, end) {
				return // for run and startTag, from the '<'
			}
			p.pos = end
			sp := specialOf(key)
			if sp.flags&spRaw != 0 {
				p.rawText(sp)
				continue
			}
			p.skimOpen(key, sp, selfClose)
		case c == '/':
			switch {
			case i+2 >= len(src):
				p.pos = len(src)
			case isAlpha(src[i+2]):
				key, j := tagName(src, i+2)
				end, _ := skipAttrs(src, j)
				if end < 0 {
					p.pos = len(src)
					return
				}
				p.pos = end
				p.skimClose(key)
			case src[i+2] == '>':
				p.pos = i + 3
			default:
				p.skipPast(i+2, '>')
			}
		case c == '!':
			if bytes.HasPrefix(src[i+2:], dashDash) {
				p.pos = commentEnd(src, i+4)
			} else {
				p.skipPast(i+2, '>')
			}
		case c == '?':
			p.skipPast(i+2, '>')
		default: // a lone '<' is text
			p.pos = i + 1
		}
	}
}

// skimOpen is openElement for a start tag without "nosto_" while no
// tagging is open: the parent is ctxDoc, so the element is not classified.
func (p *parser) skimOpen(key uint64, sp special, selfClose bool) {
	p.autoClose(sp)
	if sp.flags&spTemplate != 0 || len(p.stack) >= maxDepth {
		p.openElement(tag{key: key, classAt: -1, selfClose: selfClose}, sp)
		return
	}
	// A plain frame under ctxDoc that is popped at once changes nothing.
	if sp.flags&spVoid != 0 || selfClose {
		return
	}
	if sp.flags&spP != 0 {
		p.openP++
	}
	p.stack = append(p.stack, frame{key: key, flags: sp.flags, group: sp.group})
}

// skimClose is closeElement while no tagging is open: every open frame is
// a plain one under ctxDoc, whose pop only counts the <p> elements.
func (p *parser) skimClose(key uint64) {
	if p.overflow > 0 {
		p.overflow--
		return
	}
	for i := len(p.stack) - 1; i >= 0; i-- {
		if p.stack[i].key == key {
			for k := i; p.openP > 0 && k < len(p.stack); k++ {
				if p.stack[k].flags&spP != 0 {
					p.openP--
				}
			}
			p.stack = p.stack[:i]
			return
		}
	}
}

// mayHoldNosto reports whether "nosto_" may start in src[start:end]. Like
// hasNosto it moves p.hit forward only past hits before start, so a later
// hasNosto (whose starts are never before this one's) answers the same.
func (p *parser) mayHoldNosto(start, end int) bool {
	for p.hit < len(p.hits) && p.hits[p.hit] < start {
		p.hit++
	}
	if p.hit < len(p.hits) {
		return p.hits[p.hit] < end
	}
	return len(p.hits) == maxHits && bytes.Contains(p.src[start:end], nosto)
}

// skipAttrs is readTag's walk over the attributes from j, without keeping
// any: it returns the index after the tag's '>' (-1 if the page ends
// inside the tag) and whether the tag is self-closing. It must agree with
// readTag and attr on every input; the differential tests check it.
func skipAttrs(src []byte, j int) (end int, selfClose bool) {
	for {
		for j < len(src) && (isSpace[src[j]] || src[j] == '/') {
			if src[j] == '/' && j+1 < len(src) && src[j+1] == '>' {
				selfClose = true
			}
			j++
		}
		if j >= len(src) {
			return -1, false
		}
		if src[j] == '>' {
			return j + 1, selfClose
		}
		// An attribute: its name (the first character belongs to it, even
		// '='), then maybe '=' and a value.
		j++
		for j < len(src) && !isAttrNameEnd[src[j]] {
			j++
		}
		for j < len(src) && isSpace[src[j]] {
			j++
		}
		if j >= len(src) || src[j] != '=' {
			continue
		}
		j++
		for j < len(src) && isSpace[src[j]] {
			j++
		}
		if j >= len(src) {
			return -1, false
		}
		switch q := src[j]; q {
		case '"', '\'':
			e := bytes.IndexByte(src[j+1:], q)
			if e < 0 {
				return -1, false
			}
			j += e + 2
		case '>':
		default:
			for j < len(src) && !isSpace[src[j]] && src[j] != '>' {
				j++
			}
		}
	}
}
