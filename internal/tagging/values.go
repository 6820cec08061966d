package tagging

import (
	"bytes"
	"strconv"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// rawItem is a line item's values as tagged, checked when it closes.
type rawItem struct {
	index int
	vals  [fCurrency]string // by field - fProductID; not quantity and unit price:
	// those are read when set, so that their text is never kept as a string.
	bad         uint32 // fields refused by the value rules, 1<<(field - fProductID)
	quantity    int
	quantityOK  bool
	unitPrice   model.Decimal
	unitPriceOK bool
}

// setField stores a field's text, entity-decoded, cleaned by the value
// rules. The first occurrence wins.
func (p *parser) setField(owner ctx, fid field, v []byte) {
	if p.seen[owner]&(1<<fid) != 0 {
		return
	}
	p.seen[owner] |= 1 << fid
	switch owner {
	case ctxDoc:
		p.setPageField(fid, v)
	case ctxCart:
		p.setCartField(fid, v)
	case ctxCartItem, ctxOrderItem:
		p.setItemField(fid, v)
	case ctxCustomer:
		p.setCustomerField(fid, v)
	case ctxBuyer:
		p.setPerson(&p.page.Order.Buyer, "order.buyer", fid, v)
	case ctxProduct:
		p.setProductField(fid, v)
	case ctxOrder:
		p.setOrderField(fid, v)
	}
}

// setOrderField keeps an order's own field, or marks it refused.
func (p *parser) setOrderField(fid field, v []byte) {
	dst, name := &p.page.Order.OrderNumber, "order.order_number"
	switch fid {
	case fOrderStatus:
		dst, name = &p.page.Order.StatusCode, "order.order_status_code"
	case fPaymentProvider:
		dst, name = &p.page.Order.PaymentProvider, "order.payment_provider"
	case fExternalRef:
		dst, name = &p.page.Order.ExternalRef, "order.external_order_ref"
	}
	if s, ok := idValue(v); ok {
		*dst = s
	} else {
		p.drop(name)
	}
}

// setItemField keeps a line item's field, or marks it refused.
func (p *parser) setItemField(fid field, v []byte) {
	var s string
	ok := true
	switch fid {
	case fQuantity:
		p.item.quantity, p.item.quantityOK = quantityValue(v)
		return
	case fUnitPrice:
		p.item.unitPrice, p.item.unitPriceOK = priceValue(v)
		return
	case fCurrency:
		s, ok = currencyValue(v)
	case fName:
		s, ok = textValue(v)
	default:
		s, ok = idValue(v)
	}
	if !ok {
		p.item.bad |= 1 << (fid - fProductID)
		return
	}
	p.item.vals[fid-fProductID] = s
}

func (p *parser) setPageField(fid field, v []byte) {
	switch fid {
	case fPageType:
		if t := pageType(trim(v)); t.Valid() {
			p.page.PageType = t
		} else {
			p.drop("page_type")
		}
	case fVariation:
		if s, ok := idValue(v); ok {
			p.page.Variation = s
		} else {
			p.drop("variation")
		}
	case fCategory:
		p.page.Category = p.textField(v, "category")
	case fSearchTerm:
		p.page.SearchTerm = p.textField(v, "search_term")
	}
}

// text is a free-text field, or "" with the field dropped when refused.
func (p *parser) textField(v []byte, at string) string {
	s, ok := textValue(v)
	if !ok {
		p.drop(at)
	}
	return s
}

func (p *parser) setCartField(fid field, v []byte) {
	s, ok := idValue(v)
	switch {
	case fid == fRestoreLink:
		if link, ok := linkValue(v); ok {
			p.page.Cart.RestoreLink = link
		} else {
			p.drop("cart.restore_link")
		}
	case ok:
		p.page.Cart.HCID = s
	default:
		p.drop("cart.hcid")
	}
}

func (p *parser) setCustomerField(fid field, v []byte) {
	c := p.page.Customer
	switch fid {
	case fCustomerGroup, fHCID:
		s, ok := idValue(v)
		switch {
		case !ok && fid == fHCID:
			p.drop("customer.hcid")
		case !ok:
			p.drop("customer.customer_group")
		case fid == fHCID:
			c.HCID = s
		default:
			c.CustomerGroup = s
		}
	default:
		p.setPerson(&c.Customer, "customer", fid, v)
	}
}

// setPerson sets a field shared by customers and order buyers.
func (p *parser) setPerson(c *model.Customer, at string, fid field, v []byte) {
	switch fid {
	case fEmail:
		if s, ok := emailValue(v); ok {
			c.Email = s
		} else {
			p.drop(at + ".email")
		}
	case fFirstName:
		c.FirstName = p.textField(v, at+".first_name")
	case fLastName:
		c.LastName = p.textField(v, at+".last_name")
	case fCustomerRef:
		if s, ok := idValue(v); ok {
			c.CustomerReference = s
		} else {
			p.drop(at + ".customer_reference")
		}
	case fMarketing:
		// Missing or refused means no consent.
		switch v := trim(v); {
		case bytes.EqualFold(v, []byte("true")):
			c.MarketingPermission = true
		case len(v) > 0 && !bytes.EqualFold(v, []byte("false")):
			p.drop(at + ".marketing_permission")
		}
	}
}

func (p *parser) setProductField(fid field, v []byte) {
	pr := &p.product
	switch fid {
	case fProductID:
		pr.ProductID, _ = idValue(v) // a bad id is reported when the product closes
	case fName:
		pr.Name = p.textField(v, "product.name")
	case fPrice:
		if d, ok := priceValue(v); ok {
			pr.Price = d
		} else {
			p.drop("product.price")
		}
	case fCurrency:
		if c, ok := currencyValue(v); ok {
			pr.PriceCurrencyCode = c
		} else {
			p.drop("product.price_currency_code")
		}
	}
}

// closeItem checks a line item. An item without a valid product id,
// quantity or unit price is dropped whole: a cart line without a price
// would mislead whoever prices promotions from it. Optional fields that are
// bad are dropped alone.
func (p *parser) closeItem(list string) (model.CartItem, bool) {
	var it model.CartItem
	if p.discard {
		return it, false
	}
	vals, bad := &p.item.vals, func(f field) bool { return p.item.bad&(1<<(f-fProductID)) != 0 }
	ok := true
	if id := vals[fProductID-fProductID]; id != "" && !bad(fProductID) {
		it.ProductID = id
	} else {
		ok = p.dropItem(list, "product_id")
	}
	// Unset, they are what "" reads as: refused.
	if it.Quantity = p.item.quantity; !p.item.quantityOK {
		ok = p.dropItem(list, "quantity")
	}
	if it.UnitPrice = p.item.unitPrice; !p.item.unitPriceOK {
		ok = p.dropItem(list, "unit_price")
	}
	it.SkuID, it.Name, it.PriceCurrencyCode = vals[fSkuID-fProductID], vals[fName-fProductID], vals[fCurrency-fProductID]
	for _, f := range [...]struct {
		f    field
		name string
	}{{fSkuID, "sku_id"}, {fName, "name"}, {fCurrency, "price_currency_code"}} {
		if bad(f.f) {
			p.dropItem(list, f.name)
		}
	}
	return it, ok
}

// dropItem records a bad field of the open line item; it returns false to
// read well at call sites that also fail the item.
func (p *parser) dropItem(list, name string) bool {
	p.drop(list + ".line_item[" + strconv.Itoa(p.item.index) + "]." + name)
	return false
}
