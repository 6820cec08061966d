// Package tagging reads Nosto's server-rendered tagging (nosto_cart,
// nosto_customer, nosto_product, …) from HTML pages as they stream through
// the proxy.
//
// It does not build a DOM: a small HTML tokenizer walks the page, keeps a
// stack of open elements and matches elements by class name. Pages without
// "nosto_" are skipped with one bytes.Index, and the walk stops once no
// tagging can follow.
package tagging

import (
	"bytes"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Page is the tagging found on one page. Strings never alias the scanned
// bytes.
type Page struct {
	// Cart is nil when the page has no nosto_cart element and non-nil with
	// no items for an empty one: an empty cart is a fact, a missing one is not.
	Cart *Cart
	// Customer is nil when the page has no nosto_customer element.
	Customer *Customer
	// PageType is "" when absent; unknown values are dropped.
	PageType model.PageType
	// Variation is nosto_variation: the active currency or price group.
	Variation string
	// Category is the first nosto_category.
	Category   string
	SearchTerm string
	Product    *Product
	Order      *Order
	// AmbiguousCart and AmbiguousCustomer report a page with more than one
	// nosto_cart or nosto_customer block. Only the shop's own markup may
	// state a cart or an identity, and with two the shop's cannot be told
	// from one that user content carries, so neither is reported.
	AmbiguousCart     bool
	AmbiguousCustomer bool
	// Truncated reports that the page was longer than the scanner's limit;
	// tagging still open at the cut is left out rather than reported half.
	Truncated bool
	// Dropped lists the paths of values refused as invalid, e.g.
	// "cart.line_item[1].unit_price". Values are never included: they may
	// be personal data.
	Dropped []string
}

// Cart is nosto_cart. Items are in page order.
type Cart struct {
	Items       []model.CartItem
	RestoreLink string
	HCID        string
}

// Customer is nosto_customer. Its customer_group is in the embedded
// model.Customer.
type Customer struct {
	model.Customer
	HCID string
}

// Product is the viewed product (nosto_product), without its SKUs.
type Product = model.Product

// Order is nosto_purchase_order.
type Order = model.Order

// Parse reads the tagging of a whole page.
func Parse(html []byte) Page {
	var p parser
	return p.parse(html, false, unknownFirst)
}

// Scanner collects a copy of a page's bytes, up to a limit, as the response
// streams past, and parses them when asked. It is not safe for concurrent
// use; reuse it through a sync.Pool with Reset.
type Scanner struct {
	buf       []byte
	limit     int
	truncated bool
	parsed    bool
	first     int // index of the first "nosto_" in buf, -1 for none, unknownFirst before a look
	page      Page
	p         parser // its buffers are reused across pages
}

// unknownFirst is Scanner.first before anyone looked.
const unknownFirst = -2

// firstNosto is the index of the first "nosto_" written, or -1. It is
// looked up once, for the memo and the parse both.
func (s *Scanner) firstNosto() int {
	if s.first == unknownFirst {
		s.first = bytes.Index(s.buf, nosto)
	}
	return s.first
}

// NewScanner returns a scanner that keeps at most limit bytes.
func NewScanner(limit int) *Scanner {
	s := &Scanner{}
	s.Reset(limit)
	return s
}

// Reset empties s for a new page of at most limit bytes, keeping its
// buffers.
func (s *Scanner) Reset(limit int) {
	s.buf = s.buf[:0]
	s.limit = max(limit, 0)
	s.truncated = false
	s.parsed = false
	s.first = unknownFirst
	s.page = Page{}
}

// Write copies p, up to the limit. It never fails, so that it can sit in a
// response's write path (io.MultiWriter) without ever breaking the
// response, and it never retains p.
func (s *Scanner) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	s.parsed = false
	if s.first == -1 {
		s.first = unknownFirst // the new bytes may hold one
	}
	room := s.limit - len(s.buf)
	if n > room {
		s.truncated = true
		p = p[:room]
	}
	if len(p) == 0 {
		return n, nil
	}
	if cap(s.buf)-len(s.buf) < len(p) {
		s.grow(len(p))
	}
	s.buf = append(s.buf, p...)
	return n, nil
}

// MarkTruncated records that the page went on past what was written (a
// compressed copy cut at its limit decodes to a prefix of the page), so
// that tagging left open at the end is dropped, not reported half.
func (s *Scanner) MarkTruncated() {
	s.truncated = true
	s.parsed = false
}

// grow makes room for n more bytes without the capacity ever exceeding the
// limit (append's own growth could double past it).
func (s *Scanner) grow(n int) {
	c := min(max(2*cap(s.buf), len(s.buf)+n, 4096), s.limit)
	buf := make([]byte, len(s.buf), c)
	copy(buf, s.buf)
	s.buf = buf
}

// Result parses what was written. The result is cached until the next
// Write or Reset, so calling it again is cheap.
func (s *Scanner) Result() Page {
	if !s.parsed {
		s.page = s.p.parse(s.buf, s.truncated, s.firstNosto())
		s.parsed = true
	}
	return s.page
}
