package tagging

import "bytes"

// field is a tagged value. Its number is also its bit in parser.seen.
type field uint8

const (
	fNone field = iota
	// line items (kept in this order: rawItem indexes by them)
	fProductID
	fSkuID
	fQuantity
	fName
	fUnitPrice
	fCurrency
	// cart
	fRestoreLink
	fHCID
	// customer and buyer
	fEmail
	fFirstName
	fLastName
	fCustomerRef
	fMarketing
	fCustomerGroup
	// product
	fPrice
	// order
	fOrderNumber
	fOrderStatus
	fPaymentProvider
	fExternalRef
	// page
	fPageType
	fVariation
	fCategory
	fSearchTerm
)

var fieldNames = map[string]field{
	"product_id": fProductID, "sku_id": fSkuID, "quantity": fQuantity, "name": fName,
	"unit_price": fUnitPrice, "price_currency_code": fCurrency,
	"restore_link": fRestoreLink, "hcid": fHCID,
	"email": fEmail, "first_name": fFirstName, "last_name": fLastName,
	"customer_reference": fCustomerRef, "marketing_permission": fMarketing,
	"customer_group": fCustomerGroup,
	"price":          fPrice,
	"order_number":   fOrderNumber,
	// order_status_code and payment_provider as Nosto's own modules tag
	// them (Magento, PrestaShop); order_status_label is for people.
	"order_status_code": fOrderStatus, "payment_provider": fPaymentProvider,
	"external_order_ref": fExternalRef,
	"nosto_page_type":    fPageType, "nosto_variation": fVariation,
	"nosto_category": fCategory, "nosto_search_term": fSearchTerm,
}

func bits(fs ...field) uint32 {
	var b uint32
	for _, f := range fs {
		b |= 1 << f
	}
	return b
}

// fieldsIn is which fields each container takes.
var fieldsIn = [ctxCount]uint32{
	ctxDoc:       bits(fPageType, fVariation, fCategory, fSearchTerm),
	ctxCart:      bits(fRestoreLink, fHCID),
	ctxCartItem:  bits(fProductID, fSkuID, fQuantity, fName, fUnitPrice, fCurrency),
	ctxOrderItem: bits(fProductID, fSkuID, fQuantity, fName, fUnitPrice, fCurrency),
	ctxCustomer:  bits(fEmail, fFirstName, fLastName, fCustomerRef, fMarketing, fCustomerGroup, fHCID),
	ctxBuyer:     bits(fEmail, fFirstName, fLastName, fMarketing),
	ctxProduct:   bits(fProductID, fName, fPrice, fCurrency),
	ctxOrder:     bits(fOrderNumber, fOrderStatus, fPaymentProvider, fExternalRef),
}

// productParts are classes of nosto_product's other attributes and nested
// objects. They hide what is inside them: a sku's price, or a "price" class
// in the markup of a description, is not the product's price.
var productParts = map[string]bool{
	"url": true, "image_url": true, "thumb_url": true, "availability": true,
	"category": true, "categories": true, "brand": true, "description": true,
	"google_category": true, "list_price": true, "tag1": true, "tag2": true,
	"tag3": true, "rating_value": true, "review_count": true,
	"alternate_image_url": true, "alternate_image_urls": true,
	"custom_fields": true, "skus": true, "variations": true, "variation": true,
	"variation_id": true, "inventory_level": true, "supplier_cost": true,
	"date_published": true, "gtin": true,
}

// Root bits in seen[ctxDoc], above the field bits.
const (
	rootCart uint32 = 1 << (24 + iota)
	rootCustomer
	rootProduct
	rootOrder
)

// role returns what class tok makes an element under parent: a field, a
// container (ctxIgnore for tagging that is not ours), or nothing (parent).
func (p *parser) role(parent ctx, tok []byte) (field, ctx) {
	if fid := fieldNames[string(tok)]; fid != fNone && fieldsIn[parent]&(1<<fid) != 0 {
		return fid, parent
	}
	if parent == ctxDoc {
		return fNone, p.root(tok)
	}
	switch {
	case bytes.HasPrefix(tok, nosto):
		return fNone, ctxIgnore
	case string(tok) == "line_item" && (parent == ctxOrder || parent == ctxOrderItems):
		return fNone, ctxOrderItem
	}
	switch parent {
	case ctxCart:
		if string(tok) == "line_item" {
			return fNone, ctxCartItem
		}
	case ctxOrder:
		switch string(tok) {
		case "buyer":
			return fNone, ctxBuyer
		case "purchased_items":
			return fNone, ctxOrderItems
		}
	case ctxProduct:
		if productParts[string(tok)] {
			return fNone, ctxIgnore
		}
	}
	return fNone, parent
}

// root maps a top-level class to its container. Only the first of each
// root counts; later ones are ignored whole.
func (p *parser) root(tok []byte) ctx {
	var c ctx
	var bit uint32
	switch string(tok) {
	case "nosto_cart":
		c, bit = ctxCart, rootCart
	case "nosto_customer":
		c, bit = ctxCustomer, rootCustomer
	case "nosto_product":
		c, bit = ctxProduct, rootProduct
	case "nosto_purchase_order":
		c, bit = ctxOrder, rootOrder
	default:
		return ctxDoc
	}
	if p.seen[ctxDoc]&bit != 0 {
		// A second cart or customer block is not the shop's: user content
		// (a review that keeps class attributes) can carry one. Neither is
		// taken then (parse drops them).
		switch bit {
		case rootCart:
			p.page.AmbiguousCart = true
		case rootCustomer:
			p.page.AmbiguousCustomer = true
		}
		return ctxIgnore
	}
	p.seen[ctxDoc] |= bit
	return c
}

// openContainer starts a container's value. It may refuse (ctxIgnore).
func (p *parser) openContainer(c ctx) ctx {
	switch c {
	case ctxCart:
		p.page.Cart = &Cart{}
	case ctxCustomer:
		p.page.Customer = &Customer{}
	case ctxProduct:
		p.product = Product{}
	case ctxOrder:
		p.page.Order = &Order{}
	case ctxCartItem:
		return p.openItem(c, &p.cartN, "cart")
	case ctxOrderItem:
		return p.openItem(c, &p.orderN, "order")
	}
	return c
}

func (p *parser) openItem(c ctx, n *int, list string) ctx {
	i := *n
	*n++
	if i >= maxItems {
		if i == maxItems {
			p.drop(list + ".line_item[1000:]")
		}
		return ctxIgnore
	}
	p.item = rawItem{index: i}
	p.seen[c] = 0
	return c
}

// closeContainer finishes a container's value. At the cut of a truncated
// page it drops the root instead: half a cart is not the cart.
func (p *parser) closeContainer(c ctx) {
	switch c {
	case ctxCart:
		if p.discard {
			p.page.Cart = nil
		}
	case ctxCustomer:
		if p.discard {
			p.page.Customer = nil
		}
	case ctxOrder:
		if p.discard {
			p.page.Order = nil
		}
	case ctxProduct:
		if p.discard {
			return
		}
		if p.product.ProductID == "" {
			p.drop("product.product_id")
			return
		}
		pr := p.product
		p.page.Product = &pr
	case ctxCartItem:
		if it, ok := p.closeItem("cart"); ok {
			p.page.Cart.Items = append(p.page.Cart.Items, it)
		}
	case ctxOrderItem:
		if it, ok := p.closeItem("order"); ok {
			p.page.Order.Items = append(p.page.Order.Items, it)
		}
	}
}

// drop records the path of a refused value, never the value.
func (p *parser) drop(path string) {
	switch n := len(p.page.Dropped); {
	case n < maxDropped-1:
		p.page.Dropped = append(p.page.Dropped, path)
	case n == maxDropped-1:
		p.page.Dropped = append(p.page.Dropped, "more")
	}
}
