package tagging

import "testing"

// A review whose markup keeps class attributes (DOMPurify's and bleach's
// defaults) may carry tagging of its own. The shop's blocks come first on
// most pages, but not on all, so with two of a kind neither is taken.
func TestTwoCartsOrCustomersAreAmbiguous(t *testing.T) {
	shop := `<div class="nosto_cart"><div class="line_item"><span class="product_id">p1</span>` +
		`<span class="quantity">1</span><span class="unit_price">10</span></div></div>` +
		`<div class="nosto_customer"><span class="email">alice@example.com</span>` +
		`<span class="customer_reference">alice</span></div>`
	review := `<div class="review"><div class="nosto_customer"><span class="email">mallory@example.com</span></div>` +
		`<div class="nosto_cart"></div></div>`
	for name, html := range map[string]string{"review after": shop + review, "review before": review + shop} {
		p := Parse([]byte("<html><body>" + html + "</body></html>"))
		if p.Cart != nil || p.Customer != nil {
			t.Errorf("%s: took cart %v customer %v from an ambiguous page", name, p.Cart, p.Customer)
		}
		if !p.AmbiguousCart || !p.AmbiguousCustomer {
			t.Errorf("%s: ambiguity not reported: cart %v customer %v", name, p.AmbiguousCart, p.AmbiguousCustomer)
		}
	}
	p := Parse([]byte("<html><body>" + shop + "</body></html>"))
	if p.Cart == nil || p.Customer == nil || p.AmbiguousCart || p.AmbiguousCustomer {
		t.Fatalf("one block of each is the shop's: %+v", p)
	}
}
