package sessiontap

import "slices"

// Patch is one observed change to a session, from the collect endpoint or
// from captured traffic. A nil Cart or Customer leaves the stored one as it
// is (Nosto's null/undefined); a non-nil empty one resets it (Nosto's {}).
// Empty strings leave their fields as they are.
type Patch struct {
	Cart       *Cart
	Customer   *Customer
	PageType   PageType
	Action     Action
	Variation  string
	Category   string
	SearchTerm string
	Product    *Product
	CartToken  string
	Order      *Order
}

// Apply changes s as the patch says and reports whether anything changed,
// so that a store can skip writes (and version bumps) that change nothing.
func (p Patch) Apply(s *Session) bool {
	changed := p.applyCart(s)
	if p.Customer != nil && s.Customer != *p.Customer {
		s.Customer = *p.Customer
		changed = true
	}
	changed = setIf(&s.PageType, p.PageType) || changed
	changed = setIf(&s.Action, p.Action) || changed
	changed = setIf(&s.Variation, p.Variation) || changed
	changed = setIf(&s.Category, p.Category) || changed
	changed = setIf(&s.SearchTerm, p.SearchTerm) || changed
	changed = setIf(&s.CartToken, p.CartToken) || changed
	if p.Product != nil && (s.Product == nil || *s.Product != *p.Product) {
		prod := *p.Product
		s.Product = &prod
		changed = true
	}
	return p.applyOrder(s) || changed
}

func (p Patch) applyCart(s *Session) bool {
	if p.Cart == nil || s.Cart.Equal(*p.Cart) {
		return false
	}
	// A cart replaces the stored cart 1:1; never merged.
	s.Cart = Cart{Items: slices.Clone(p.Cart.Items)}
	if len(s.Cart.Items) > 0 {
		// Shopping again after an order starts a new journey.
		s.State = StateOpen
	}
	return true
}

// applyOrder records an order once (a reloaded thank-you page repeats it),
// empties the cart and closes the session.
func (p Patch) applyOrder(s *Session) bool {
	if p.Order == nil || p.Order.OrderNumber == "" {
		return false
	}
	for _, o := range s.Orders {
		if o.OrderNumber == p.Order.OrderNumber {
			return false
		}
	}
	o := *p.Order
	o.Items = slices.Clone(o.Items)
	s.Orders = append(s.Orders, o)
	if len(s.Orders) > MaxOrders {
		s.Orders = slices.Delete(s.Orders, 0, len(s.Orders)-MaxOrders)
	}
	s.Cart = Cart{}
	s.State = StateClosed
	s.Action = ActionAddOrder
	return true
}

func setIf[T ~string](dst *T, v T) bool {
	if v == "" || *dst == v {
		return false
	}
	*dst = v
	return true
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
