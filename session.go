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
}

// IsZero reports whether no customer is known.
func (c Customer) IsZero() bool { return c == Customer{} }
