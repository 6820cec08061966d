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
	quantity    int
	quantityOK  bool
	unitPrice   model.Decimal
	unitPriceOK bool
}

// setField stores a field's collapsed text. The first occurrence wins.
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
		// Keep one byte over the longest limit so the check still sees "too long".
		v = cutUTF8(validUTF8(v), maxText+1)
		switch fid {
		case fQuantity:
			p.item.quantity, p.item.quantityOK = quantityValue(string(v))
		case fUnitPrice:
			p.item.unitPrice, p.item.unitPriceOK = priceValue(string(v))
		case fCurrency:
			p.item.vals[fid-fProductID] = keepCode(v)
		default:
			p.item.vals[fid-fProductID] = string(v)
		}
	case ctxCustomer:
		p.setCustomerField(fid, v)
	case ctxBuyer:
		p.setPerson(&p.page.Order.Buyer, "order.buyer", fid, v)
	case ctxProduct:
		p.setProductField(fid, v)
	case ctxOrder:
		if s, ok := idValue(v); ok {
			p.page.Order.OrderNumber = s
		} else {
			p.drop("order.order_number")
		}
	}
}

func (p *parser) setPageField(fid field, v []byte) {
	switch fid {
	case fPageType:
		if t := pageType(v); t.Valid() {
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
		p.page.Category = textValue(v)
	case fSearchTerm:
		p.page.SearchTerm = textValue(v)
	}
}

func (p *parser) setCartField(fid field, v []byte) {
	s, ok := idValue(v)
	switch {
	case fid == fRestoreLink && len(v) <= maxText:
		p.page.Cart.RestoreLink = string(validUTF8(v))
	case fid == fRestoreLink:
		p.drop("cart.restore_link")
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
		c.FirstName = textValue(v)
	case fLastName:
		c.LastName = textValue(v)
	case fCustomerRef:
		if s, ok := idValue(v); ok {
			c.CustomerReference = s
		} else {
			p.drop(at + ".customer_reference")
		}
	case fMarketing:
		// Missing or refused means no consent.
		switch {
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
		pr.Name = textValue(v)
	case fPrice:
		if d, ok := priceValue(string(v)); ok {
			pr.Price = d
		} else {
			p.drop("product.price")
		}
	case fCurrency:
		if currencyValue(v) {
			pr.PriceCurrencyCode = keepCode(v)
		} else if len(v) > 0 {
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
	vals := &p.item.vals
	ok := true
	if id := vals[fProductID-fProductID]; id != "" && len(id) <= maxID {
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
	if sku := vals[fSkuID-fProductID]; len(sku) <= maxID {
		it.SkuID = sku
	} else {
		p.dropItem(list, "sku_id")
	}
	it.Name = cutUTF8(vals[fName-fProductID], maxText)
	if cur := vals[fCurrency-fProductID]; currencyValue(cur) {
		it.PriceCurrencyCode = cur
	} else if cur != "" {
		p.dropItem(list, "price_currency_code")
	}
	return it, ok
}

// dropItem records a bad field of the open line item; it returns false to
// read well at call sites that also fail the item.
func (p *parser) dropItem(list, name string) bool {
	p.drop(list + ".line_item[" + strconv.Itoa(p.item.index) + "]." + name)
	return false
}
