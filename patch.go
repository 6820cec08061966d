package sessiontap

import "slices"

// Patch is one observed change to a session, from the collect endpoint or
// from captured traffic. A nil Cart or Customer leaves the stored one as it
// is (Nosto's null/undefined); a non-nil empty one resets it (Nosto's {}).
type Patch struct {
	Cart     *Cart
	Customer *Customer
	PageType PageType
	Action   Action
}

// Apply changes s as the patch says and reports whether anything changed,
// so that a store can skip writes (and version bumps) that change nothing.
func (p Patch) Apply(s *Session) bool {
	changed := false
	if p.Cart != nil && !s.Cart.Equal(*p.Cart) {
		// A cart replaces the stored cart 1:1; never merged.
		s.Cart = Cart{Items: slices.Clone(p.Cart.Items)}
		changed = true
	}
	if p.Customer != nil && s.Customer != *p.Customer {
		s.Customer = *p.Customer
		changed = true
	}
	if p.PageType != "" && s.PageType != p.PageType {
		s.PageType = p.PageType
		changed = true
	}
	if p.Action != "" && s.Action != p.Action {
		s.Action = p.Action
		changed = true
	}
	return changed
}

// Equal reports whether both carts hold the same lines in the same order.
func (c Cart) Equal(o Cart) bool { return slices.Equal(c.Items, o.Items) }

// Count is the number of units in the cart.
func (c Cart) Count() int {
	n := 0
	for _, it := range c.Items {
		n += it.Quantity
	}
	return n
}

// Total is the sum of quantity × unit price over the cart's lines.
func (c Cart) Total() Decimal {
	var t Decimal
	for _, it := range c.Items {
		t += it.UnitPrice.Mul(it.Quantity)
	}
	return t
}
