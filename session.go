// Package sessiontap is the domain model of caddy-sessiontap: a visitor's
// session with its cart, customer and page context, as captured from the
// traffic passing through Caddy. It has no Caddy dependency so that stores,
// sinks and tests can use it on their own.
package sessiontap

import (
	"encoding/json"
	"regexp"
	"time"
)

// MaxIDLength is the longest session id we accept, from our cookie or the shop's.
const MaxIDLength = 256

// idPattern is the character set of a session id. It is narrow on purpose:
// ids end up in cookies, headers, log lines and upstream URLs.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._~:+/=-]+$`)

// ValidID reports whether id may be used as a session id.
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength {
		return false
	}
	// A hand-written loop would be faster, but ids are short and the regexp
	// states the rule exactly as documented.
	return idPattern.MatchString(id)
}

// Session is everything sessiontap knows about one visitor.
type Session struct {
	ID string `json:"id"`
	// Version increases by one with every stored write; it orders upstream
	// deliveries and backs optimistic locking.
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	Cart      Cart      `json:"cart"`
	Customer  Customer  `json:"customer"`
	PageType  PageType  `json:"page_type,omitempty"`
	// Action is the last action seen (viewCart, addOrder, …).
	Action Action `json:"action,omitempty"`
	// State is open while the visitor shops and closed after an order.
	State State `json:"state,omitempty"`
	// Variation is the active currency or price group (nosto_variation).
	Variation string `json:"variation,omitempty"`
	// Category is the last category viewed (nosto_category).
	Category string `json:"category,omitempty"`
	// SearchTerm is the last search (nosto_search_term).
	SearchTerm string `json:"search_term,omitempty"`
	// Product is the last product viewed (nosto_product).
	Product *Product `json:"product,omitempty"`
	// CartToken is the shop's own cart id, where it has one (Shopify).
	CartToken string `json:"cart_token,omitempty"`
	// Orders are the orders placed in this session, oldest first, at most
	// MaxOrders.
	Orders []Order `json:"orders,omitempty"`
	// Effects are the promotion effects Talon.One answered with, as it sent
	// them (a JSON array).
	Effects json.RawMessage `json:"effects,omitempty"`
	// ContextVersion is the version of the session's Emporix session
	// context after sessiontap's last write to it.
	ContextVersion int64 `json:"context_version,omitempty"`
}

// State is a session's lifecycle, named as in Talon.One's customer sessions.
type State string

// The states a session goes through.
const (
	StateOpen   State = "open"
	StateClosed State = "closed"
)

// MaxOrders bounds the orders kept on one session.
const MaxOrders = 10

// Product is a product page's tagging.
type Product struct {
	ProductID         string  `json:"product_id"`
	Name              string  `json:"name,omitempty"`
	Price             Decimal `json:"price"`
	PriceCurrencyCode string  `json:"price_currency_code,omitempty"`
}

// Order is a placed order (nosto_purchase_order). Buyer is personal data.
type Order struct {
	OrderNumber string     `json:"order_number"`
	Buyer       Customer   `json:"buyer"`
	Items       []CartItem `json:"items"`
}

// Cart is a 1:1 copy of the visitor's cart (Nosto's setCart semantics).
type Cart struct {
	Items []CartItem `json:"items"`
}

// MarshalJSON writes an empty cart as {"items":[]}, never as null items.
func (c Cart) MarshalJSON() ([]byte, error) {
	type plain Cart
	if c.Items == nil {
		c.Items = []CartItem{}
	}
	return json.Marshal(plain(c))
}

// CartItem is one line of a cart, field names as in Nosto's tagging.
type CartItem struct {
	ProductID         string  `json:"product_id"`
	SkuID             string  `json:"sku_id,omitempty"`
	Name              string  `json:"name,omitempty"`
	Quantity          int     `json:"quantity"`
	UnitPrice         Decimal `json:"unit_price"`
	PriceCurrencyCode string  `json:"price_currency_code,omitempty"`
}

// Customer is the logged-in visitor, as the shop tags it. Everything here is
// personal data: it is never logged.
type Customer struct {
	CustomerReference   string `json:"customer_reference,omitempty"`
	Email               string `json:"email,omitempty"`
	FirstName           string `json:"first_name,omitempty"`
	LastName            string `json:"last_name,omitempty"`
	MarketingPermission bool   `json:"marketing_permission"`
	// CustomerGroup is the shop's pricing or loyalty group, if tagged.
	CustomerGroup string `json:"customer_group,omitempty"`
}

// IsZero reports whether no customer is known.
func (c Customer) IsZero() bool { return c == Customer{} }
