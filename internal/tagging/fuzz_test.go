package tagging

import (
	"html"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// FuzzParse checks that no input panics, that Parse is deterministic, that
// a Scanner never keeps more than its limit, and that the result respects
// the documented bounds.
func FuzzParse(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		page := Parse(data)
		if again := Parse(data); !reflect.DeepEqual(page, again) {
			t.Fatalf("Parse is not deterministic:\n%s\n%s", dump(page), dump(again))
		}
		checkBounds(t, page)

		// The fast path (skim) must agree with the full walk, whole and cut.
		checkSameAsFull(t, "input", data, len(data)/2)
		if got, want := string(appendUnescaped(nil, data)), html.UnescapeString(string(data)); got != want {
			t.Fatalf("appendUnescaped = %q, want %q", got, want)
		}

		limit := len(data) / 2
		s := NewScanner(limit)
		mid := len(data) / 3
		s.Write(data[:mid])
		s.Write(data[mid:])
		cut := s.Result()
		if len(s.buf) > limit || cap(s.buf) > limit {
			t.Fatalf("scanner kept %d bytes (cap %d) with limit %d", len(s.buf), cap(s.buf), limit)
		}
		if cut.Truncated != (len(data) > limit) {
			t.Fatalf("Truncated = %v for %d bytes with limit %d", cut.Truncated, len(data), limit)
		}
		checkBounds(t, cut)

		s.Reset(len(data))
		s.Write(data[:mid])
		s.Write(data[mid:])
		if whole := s.Result(); !reflect.DeepEqual(whole, page) {
			t.Fatalf("Scanner differs from Parse:\n%s\n%s", dump(whole), dump(page))
		}
	})
}

// fuzzSeeds are FuzzParse's seeds by name; the tokenizer comparison
// (xnet_test.go) reads the same ones.
func fuzzSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	for _, tt := range parseTests {
		seeds["parseTests "+tt.name] = []byte(tt.html)
	}
	for name, html := range trickyPages {
		seeds["trickyPages "+name] = []byte(html)
	}
	return seeds
}

func checkBounds(t *testing.T, p Page) {
	t.Helper()
	strs := []string{string(p.PageType), p.Variation, p.Category, p.SearchTerm}
	var items []model.CartItem
	if p.Cart != nil {
		items = append(items, p.Cart.Items...)
		strs = append(strs, p.Cart.RestoreLink, p.Cart.HCID)
		if len(p.Cart.Items) > maxItems {
			t.Fatalf("%d cart items", len(p.Cart.Items))
		}
	}
	if p.Order != nil {
		items = append(items, p.Order.Items...)
		strs = append(strs, p.Order.OrderNumber, p.Order.Buyer.Email, p.Order.Buyer.FirstName, p.Order.Buyer.LastName)
	}
	if p.Customer != nil {
		c := p.Customer
		strs = append(strs, c.Email, c.FirstName, c.LastName, c.CustomerReference, c.CustomerGroup, c.HCID)
	}
	if p.Product != nil {
		strs = append(strs, p.Product.ProductID, p.Product.Name, p.Product.PriceCurrencyCode)
	}
	for _, it := range items {
		if it.ProductID == "" || it.Quantity < 1 || it.UnitPrice < 0 || len(it.ProductID) > maxID || len(it.SkuID) > maxID {
			t.Fatalf("invalid item %+v", it)
		}
		strs = append(strs, it.Name, it.PriceCurrencyCode)
	}
	for _, s := range strs {
		if len(s) > maxText || !utf8.ValidString(s) {
			t.Fatalf("bad string of %d bytes: %q", len(s), s)
		}
	}
	if len(p.Dropped) > maxDropped {
		t.Fatalf("%d dropped entries", len(p.Dropped))
	}
}
