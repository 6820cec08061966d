package tagging

import (
	"bytes"
	"html"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Bounds on what one page can make us hold.
const (
	// The model's value rules' bounds, so that every source agrees.
	maxItems   = model.MaxCartItems
	maxText    = model.MaxTextLength
	maxID      = model.MaxIDLength
	maxEmail   = model.MaxEmailLength
	maxDropped = 100
	// maxDepth bounds the element stack; deeper elements are not tracked.
	maxDepth = 512
	// maxHits bounds the remembered "nosto_" positions; past them, class
	// values are searched one by one.
	maxHits = 1024
	// maxFieldText bounds the raw text kept for one field.
	maxFieldText = 64 << 10
)

// ctx says what the children of an element belong to.
type ctx uint8

const (
	ctxDoc ctx = iota // outside any tagging: only nosto_* roots count
	ctxCart
	ctxCartItem
	ctxCustomer
	ctxProduct
	ctxOrder
	ctxBuyer
	ctxOrderItems
	ctxOrderItem
	ctxField  // inside a field: descendants only add text
	ctxIgnore // inside tagging that is not ours (a nested sku, a second cart)
	ctxCount
)

type kind uint8

const (
	kindPlain kind = iota // a wrapper or anything else: transparent
	kindContainer
	kindField
)

// frame is one open element.
type frame struct {
	key   uint64
	text  int // field: where its text starts in parser.textBuf
	flags uint16
	group uint8
	ctx   ctx // for the children
	kind  kind
	field field
	owner ctx // field: the container it belongs to
}

// parser holds the state of one parse. A Scanner keeps one to reuse its
// buffers; the Page it returns shares nothing with them.
type parser struct {
	src      []byte
	pos      int
	last     int   // index of the last "nosto_" in src
	hits     []int // indexes of the first maxHits "nosto_"
	hit      int   // hits before this one lie behind the tokenizer
	open     int   // frames inside tagging; 0 lets the walk stop early
	overflow int   // elements not pushed because the stack was full
	openP    int   // open <p> elements, to skip the search for one
	fields   int   // open fields: text is only kept while one is open
	stack    []frame
	textBuf  []byte // decoded text of the open fields
	scratch  []byte
	discard  bool // closing what a truncated page cut: report none of it
	page     Page
	seen     [ctxCount]uint32 // fields (and roots, under ctxDoc) taken: first wins
	product  Product
	item     rawItem
	cartN    int
	orderN   int
	noSkim   bool // tests: walk every byte with run alone
}

// parse reads the tagging of src. first is the index of the first
// "nosto_" in src, or -1 for none, when the caller has looked already;
// anything else makes parse look.
func (p *parser) parse(src []byte, truncated bool, first int) Page {
	*p = parser{src: src, stack: p.stack[:0], textBuf: p.textBuf[:0], scratch: p.scratch[:0], hits: p.hits[:0], noSkim: p.noSkim}
	p.page.Truncated = truncated
	p.findNosto(first)
	if p.last >= 0 {
		p.run()
		p.discard = truncated
		for len(p.stack) > 0 {
			p.pop()
		}
	}
	page := p.page
	if page.AmbiguousCart {
		page.Cart = nil
	}
	if page.AmbiguousCustomer {
		page.Customer = nil
	}
	p.page, p.src = Page{}, nil
	return page
}

// findNosto records where "nosto_" occurs, in one forward pass (Index is
// vectorised, LastIndex is not), starting at first when that is known (see
// parse). Only tags whose class holds one of these can start tagging, and
// none can start after the last.
func (p *parser) findNosto(first int) {
	p.last = -1
	if first == -1 {
		return
	}
	for i := max(first, 0); ; i++ {
		e := bytes.Index(p.src[i:], nosto)
		if e < 0 {
			return
		}
		i += e
		p.last = i
		if len(p.hits) < maxHits {
			p.hits = append(p.hits, i)
		}
	}
}

func (p *parser) top() ctx {
	if len(p.stack) == 0 {
		return ctxDoc
	}
	return p.stack[len(p.stack)-1].ctx
}

// openElement handles a start tag that is not raw text.
func (p *parser) openElement(t tag, sp special) {
	p.autoClose(sp)
	if len(p.stack) >= maxDepth {
		if sp.flags&spVoid == 0 && !t.selfClose {
			p.overflow++
		}
		return
	}
	parent := p.top()
	f := frame{key: t.key, flags: sp.flags, group: sp.group, ctx: parent}
	switch {
	case sp.flags&spTemplate != 0: // its content is not in the DOM Nosto reads
		f.ctx = ctxIgnore
	case t.classAt >= 0 && parent < ctxField && (parent != ctxDoc || p.hasNosto(t.classAt, t.classAt+len(t.class))):
		p.classify(&f, parent, t.class)
	}
	p.push(f)
	// Self-closing syntax is honoured on every element, unlike in browsers:
	// <span class="sku_id"/> means an empty value, not a span that swallows
	// the rest of the line item.
	if sp.flags&spVoid != 0 || t.selfClose {
		p.pop()
	}
}

// autoClose applies the few implied end tags that matter in practice: a
// block start closes an open <p>, and <li>, <dt>/<dd>, <option>, <tr>,
// <td>/<th> close an unclosed sibling on top of the stack.
func (p *parser) autoClose(sp special) {
	if sp.flags&spClosesP != 0 && p.openP > 0 {
		for i := len(p.stack) - 1; i >= 0; i-- {
			if f := p.stack[i].flags; f&spP != 0 {
				p.popTo(i)
				break
			} else if f&spScope != 0 {
				break
			}
		}
	}
	if n := len(p.stack); sp.group != 0 && n > 0 && p.stack[n-1].group == sp.group {
		p.pop()
	}
}

// closeElement handles an end tag: it closes the nearest open element of
// that name and everything opened inside it; a stray end tag is ignored.
func (p *parser) closeElement(key uint64) {
	if p.overflow > 0 {
		p.overflow--
		return
	}
	for i := len(p.stack) - 1; i >= 0; i-- {
		if p.stack[i].key == key {
			p.popTo(i)
			return
		}
	}
}

func (p *parser) popTo(i int) {
	for len(p.stack) > i {
		p.pop()
	}
}

func (p *parser) push(f frame) {
	if f.kind == kindField {
		f.text = len(p.textBuf)
		p.fields++
	}
	if f.ctx != ctxDoc {
		p.open++
	}
	if f.flags&spP != 0 {
		p.openP++
	}
	p.stack = append(p.stack, f)
}

func (p *parser) pop() {
	f := p.stack[len(p.stack)-1]
	p.stack = p.stack[:len(p.stack)-1]
	if f.ctx != ctxDoc {
		p.open--
	}
	if f.flags&spP != 0 {
		p.openP--
	}
	switch f.kind {
	case kindField:
		p.fields--
		if !p.discard {
			p.setField(f.owner, f.field, p.textBuf[f.text:])
		}
		if p.fields == 0 {
			p.textBuf = p.textBuf[:0]
		}
	case kindContainer:
		p.closeContainer(f.ctx)
	}
}

// text takes a text run; it is kept only inside a field.
func (p *parser) text(b []byte) {
	// Values are at most maxText long once collapsed; the slack is for
	// whitespace. This also bounds what an unclosed field can hold.
	if p.fields == 0 || len(p.textBuf) >= maxFieldText {
		return
	}
	// Entities are decoded per run: "&amp" and "p;" split by a tag are not
	// one entity.
	p.textBuf = appendUnescaped(p.textBuf, b)
}

// hasNosto reports whether src[start:end] holds "nosto_". Starts only
// grow, so the hits are walked once per page.
func (p *parser) hasNosto(start, end int) bool {
	for p.hit < len(p.hits) && p.hits[p.hit] < start {
		p.hit++
	}
	if p.hit < len(p.hits) {
		return p.hits[p.hit]+len(nosto) <= end
	}
	return len(p.hits) == maxHits && bytes.Contains(p.src[start:end], nosto)
}

// classify gives f its tagging role from the first class that means
// something where f stands.
func (p *parser) classify(f *frame, parent ctx, class []byte) {
	if bytes.IndexByte(class, '&') >= 0 {
		class = []byte(html.UnescapeString(string(class)))
	}
	for len(class) > 0 {
		i := 0
		for i < len(class) && isSpace[class[i]] {
			i++
		}
		j := i
		for j < len(class) && !isSpace[class[j]] {
			j++
		}
		tok := class[i:j]
		class = class[j:]
		if len(tok) == 0 {
			continue
		}
		if fid, c := p.role(parent, tok); fid != fNone {
			f.kind, f.field, f.owner, f.ctx = kindField, fid, parent, ctxField
			return
		} else if c != parent {
			f.ctx = p.openContainer(c)
			if f.ctx != ctxIgnore {
				f.kind = kindContainer
			}
			return
		}
	}
}
