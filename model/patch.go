package model

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
	// MergeCustomer makes Customer update only the fields it has, keeping
	// the others (a cart API that carries just a customer id must not erase
	// the email the page tagging gave).
	MergeCustomer bool
	// Visit is a page view to record in the session's enrichment.
	Visit *Visit
	// Lines are cart lines to set in the stored cart, each with its new
	// quantity, matched by product and SKU (Shopify's /cart/add.js answers
	// with the added lines only). Ignored when Cart is set.
	Lines []CartItem
	// Consent is the visitor's consent decision as the request stated it
	// (nil: the shop configured none); it replaces the stored one.
	Consent *Consent
}

// IsZero reports whether the patch would change nothing on any session.
func (p Patch) IsZero() bool {
	return p.Cart == nil && p.Customer == nil && p.PageType == "" && p.Action == "" &&
		p.Variation == "" && p.Category == "" && p.SearchTerm == "" && p.Product == nil &&
		p.CartToken == "" && p.Order == nil && len(p.Lines) == 0 && p.Visit == nil && p.Consent == nil
}

// Apply changes s as the patch says and reports whether anything changed,
// so that a store can skip writes (and version bumps) that change nothing.
func (p Patch) Apply(s *Session) bool {
	changed := p.applyCart(s)
	if c, ok := p.customer(s.Customer); ok && s.Customer != c {
		old := s.Customer
		s.Customer = c
		// A context must not pass to the next customer with the session.
		s.detachContexts(old)
		changed = true
	}
	changed = setIf(&s.PageType, p.PageType) || changed
	changed = setIf(&s.Action, p.Action) || changed
	changed = setIf(&s.Variation, p.Variation) || changed
	changed = setIf(&s.Category, p.Category) || changed
	changed = setIf(&s.SearchTerm, p.SearchTerm) || changed
	changed = setIf(&s.CartToken, p.CartToken) || changed
	if p.Consent != nil && !s.Consent.Equal(p.Consent) {
		s.Consent = &Consent{Granted: slices.Clone(p.Consent.Granted), Stated: p.Consent.Stated}
		changed = true
	}
	if p.Product != nil && (s.Product == nil || *s.Product != *p.Product) {
		prod := *p.Product
		s.Product = &prod
		changed = true
	}
	if p.Visit != nil {
		p.Visit.apply(&s.Enrichment)
		changed = true
	}
	return p.applyOrder(s) || changed
}

func (p Patch) applyCart(s *Session) bool {
	if p.Cart == nil && len(p.Lines) > 0 {
		return p.applyLines(s)
	}
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

// applyLines sets each line in the stored cart, appending new ones, up to
// MaxCartItems lines.
func (p Patch) applyLines(s *Session) bool {
	changed := false
	for _, line := range p.Lines {
		i := slices.IndexFunc(s.Cart.Items, func(it CartItem) bool {
			return it.ProductID == line.ProductID && it.SkuID == line.SkuID
		})
		switch {
		case i >= 0 && s.Cart.Items[i] != line:
			s.Cart.Items[i] = line
		case i < 0 && len(s.Cart.Items) < MaxCartItems:
			s.Cart.Items = append(s.Cart.Items, line)
		default:
			continue
		}
		changed = true
	}
	if changed {
		s.State = StateOpen
	}
	return changed
}

// applyOrder records an order once (a reloaded thank-you page repeats it),
// empties the cart and closes the session. An order seen again with
// another status or payment provider (an order status page) changes only
// those, as an event of its own (StatusVersion).
func (p Patch) applyOrder(s *Session) bool {
	if p.Order == nil || p.Order.OrderNumber == "" {
		return false
	}
	for i := range s.Orders {
		if o := &s.Orders[i]; o.OrderNumber == p.Order.OrderNumber {
			changed := setIf(&o.StatusCode, p.Order.StatusCode)
			changed = setIf(&o.PaymentProvider, p.Order.PaymentProvider) || changed
			if changed {
				o.StatusVersion = s.Version + 1 // the version this write stores
			}
			return changed
		}
	}
	o := *p.Order
	o.Items = slices.Clone(o.Items)
	o.Version = s.Version + 1 // the version this write stores
	s.Orders = append(s.Orders, o)
	if len(s.Orders) > MaxOrders {
		s.Orders = slices.Delete(s.Orders, 0, len(s.Orders)-MaxOrders)
	}
	s.Cart = Cart{}
	s.State = StateClosed
	s.Action = ActionAddOrder
	return true
}

// customer is the customer the patch leaves on a session whose customer is
// old; ok is false when the patch leaves it as it is. A claimed identity
// never replaces a verified one (a browser may not overwrite what the
// shop's server stated); it may only reset it to none, which is never an
// escalation.
func (p Patch) customer(old Customer) (Customer, bool) {
	if p.Customer == nil {
		return Customer{}, false
	}
	c := *p.Customer
	if old.Verified && !c.Verified && !c.IsZero() {
		return Customer{}, false
	}
	if p.MergeCustomer && old.Verified == c.Verified {
		// Fields are merged only within one kind of source, so that a
		// claimed email never becomes verified by a verified cart answer
		// that lacks one.
		c = mergeCustomer(old, c)
	}
	c.Verified = c.Verified && !c.IsZero()
	return c, true
}

// mergeCustomer overlays the non-empty fields of c on old. Marketing
// permission is kept: a cart API never grants or withdraws consent.
func mergeCustomer(old, c Customer) Customer {
	setIf(&old.CustomerReference, c.CustomerReference)
	setIf(&old.Email, c.Email)
	setIf(&old.FirstName, c.FirstName)
	setIf(&old.LastName, c.LastName)
	setIf(&old.CustomerGroup, c.CustomerGroup)
	return old
}

// MaxCartItems bounds the lines of a cart.
const MaxCartItems = 1000

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
