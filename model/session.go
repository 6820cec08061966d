// Package model is the domain model of caddy-sessiontap: a visitor's
// session with its cart, customer, orders, page context, actions,
// enrichment, tenants' session contexts and upstream feedback; exact
// decimal prices; patches (what a write changes); and the compact binary
// codec the stores keep sessions in. It imports nothing of this module and
// no Caddy, so that stores, sinks and tests can use it on their own.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// MaxIDLength is the longest session id we accept, from our cookie or the shop's.
const MaxIDLength = 256

// MaxEncodedSize bounds a session's encoding (AppendBinary). Stores refuse
// a write that would make a session larger, so a session never grows past
// it whatever the store's size: the field limits keep everyday sessions far
// below (a 3-item cart with a customer is ~320 bytes), this keeps the sum
// of all of them at their limits in check.
const MaxEncodedSize = 500 << 10

// idPattern is the character set of a session id. It is narrow on purpose:
// ids end up in cookies, headers, log lines and upstream URLs.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9._~:+/=-]+$`)

// ValidID reports whether id may be used as a session id. An id of dots
// only is refused: sinks put the id in a URL path as one segment, and "."
// or ".." there names another resource (path traversal at the upstream).
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLength || strings.Trim(id, ".") == "" {
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
	// Enrichment is what the server saw of the visitor's page views.
	Enrichment Enrichment `json:"enrichment"`
	// Contexts are the session contexts kept for tenants through the
	// Emporix-compatible session-context API, at most MaxTenantContexts,
	// sorted by tenant. Each tenant sees only its own.
	Contexts []TenantContext `json:"contexts,omitempty"`
	// History is the session's last changes, oldest first (Record).
	History []HistoryEntry `json:"history,omitempty"`
	// LoginRef is the customer reference whose login (a customer token
	// the shop signed) last moved the session to a fresh id: the next
	// token of the same customer moves it no more. Personal data.
	LoginRef string `json:"login_ref,omitempty"`
	// Consent is the visitor's last consent decision, nil when the shop
	// configured no consent cookie.
	Consent *Consent `json:"consent,omitempty"`
}

// Bounds of the tenant contexts of one session.
const (
	// MaxTenantContexts is how many tenants may keep a context on one session.
	MaxTenantContexts = 8
	// MaxContextAttributes is the largest Attributes of one tenant, in
	// bytes of compact JSON.
	MaxContextAttributes = 16 << 10
)

// TenantContext is one tenant's session context, as Emporix's Session
// Context Service describes it: a few well-known fields and custom
// attributes, versioned for optimistic locking.
type TenantContext struct {
	Tenant string `json:"tenant"`
	// Version is 1 when the context is created and increases by one with
	// every write to it (writes to the rest of the session do not move it).
	Version    uint64    `json:"version"`
	CreatedAt  time.Time `json:"created_at"`
	ModifiedAt time.Time `json:"modified_at"`
	// CustomerID, when set, makes the context a customer's: reading or
	// writing it needs that customer's token. Personal data.
	CustomerID     string `json:"customer_id,omitempty"`
	SiteCode       string `json:"site_code,omitempty"`
	Currency       string `json:"currency,omitempty"`
	CartID         string `json:"cart_id,omitempty"`
	TargetLocation string `json:"target_location,omitempty"`
	// Attributes are the custom attributes, a compact JSON object whose
	// values are objects; nil when there are none.
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// TenantContext returns the tenant's context on s, or nil. The pointer is
// into s.Contexts: changes through it change s.
func (s *Session) TenantContext(tenant string) *TenantContext {
	for i := range s.Contexts {
		if s.Contexts[i].Tenant == tenant {
			return &s.Contexts[i]
		}
	}
	return nil
}

// ContextOwner is the customer who alone may read and write tc on s, ""
// when anyone with the API key may. The session's own customer decides
// when it is verified and has a reference: a context on a customer's
// session is that customer's, whoever created it. Otherwise the context's
// CustomerID does. A claimed customer decides nothing: a browser can
// claim any reference.
func (s *Session) ContextOwner(tc *TenantContext) string {
	return contextOwner(s.Customer, tc)
}

func contextOwner(c Customer, tc *TenantContext) string {
	if c.Verified && c.CustomerReference != "" {
		return c.CustomerReference
	}
	return tc.CustomerID
}

// ForeignContext reports whether tc names a customer other than the one
// who owns it on s: left over from another customer, it must be neither
// shown to nor written by either.
func (s *Session) ForeignContext(tc *TenantContext) bool {
	return tc.CustomerID != "" && s.ContextOwner(tc) != tc.CustomerID
}

// RemoveTenantContext removes the tenant's context from s, if any.
func (s *Session) RemoveTenantContext(tenant string) {
	s.Contexts = slices.DeleteFunc(s.Contexts, func(c TenantContext) bool { return c.Tenant == tenant })
}

// detachContexts removes, after the session's customer changed from old,
// every context that belonged to someone (under old) and now would belong
// to someone else, and every context naming a customer who does not own
// it. Removed, not cleared: its attributes, cart id and place are the
// previous customer's, and a cleared context would hand them to the next
// one. Contexts of an anonymous session are kept on a login, as Emporix
// keeps them.
func (s *Session) detachContexts(old Customer) {
	s.Contexts = slices.DeleteFunc(s.Contexts, func(tc TenantContext) bool {
		before, now := contextOwner(old, &tc), contextOwner(s.Customer, &tc)
		return before != "" && before != now || s.ForeignContext(&tc)
	})
	if len(s.Contexts) == 0 {
		s.Contexts = nil
	}
}

// ErrTooManyTenants is returned by AddTenantContext when the session
// already has MaxTenantContexts contexts.
var ErrTooManyTenants = errors.New("the session already has a context for the maximum number of tenants")

// AddTenantContext adds a context for a tenant that has none on s yet,
// keeping Contexts sorted by tenant, and returns a pointer to it.
func (s *Session) AddTenantContext(tc TenantContext) (*TenantContext, error) {
	if s.TenantContext(tc.Tenant) != nil {
		return nil, fmt.Errorf("tenant %q already has a context", tc.Tenant)
	}
	if len(s.Contexts) >= MaxTenantContexts {
		return nil, ErrTooManyTenants
	}
	i, _ := slices.BinarySearchFunc(s.Contexts, tc.Tenant, func(c TenantContext, t string) int {
		return strings.Compare(c.Tenant, t)
	})
	s.Contexts = slices.Insert(s.Contexts, i, tc)
	return &s.Contexts[i], nil
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

// LastOrderEvent is the latest version that recorded an order or changed
// an order's status: a write that moves it has an order event (ChangeOrder).
func (s *Session) LastOrderEvent() uint64 {
	var last uint64
	for _, o := range s.Orders {
		last = max(last, o.Version, o.StatusVersion)
	}
	return last
}

// Order is a placed order (nosto_purchase_order). Buyer is personal data.
type Order struct {
	OrderNumber string `json:"order_number"`
	// StatusCode is the shop's status of the order (order_status_code:
	// "pending", "paid", ...), as last captured.
	StatusCode string `json:"order_status_code,omitempty"`
	// PaymentProvider names how it was paid (payment_provider).
	PaymentProvider string `json:"payment_provider,omitempty"`
	// ExternalRef is the shop's own reference of the order, when it has
	// one besides the number (external_order_ref).
	ExternalRef string     `json:"external_order_ref,omitempty"`
	Buyer       Customer   `json:"buyer"`
	Items       []CartItem `json:"items"`
	// Version is the session's version that recorded the order (0 for
	// orders recorded before it was kept): a delivery carries every order
	// newer than what the sink last got, so that orders stay events when
	// updates are coalesced.
	Version uint64 `json:"version,omitempty"`
	// StatusVersion is the session's version that last changed
	// StatusCode or PaymentProvider after the order was recorded (0:
	// never): status changes are events as orders are.
	StatusVersion uint64 `json:"status_version,omitempty"`
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
//
// Verified says where it came from. The shop's own server states verified
// identity (HTML tagging, cart API answers, the session-context API, a
// collect post carrying the shop's signed customer token); what a browser
// posts on its own word is claimed. A claimed customer is kept for the
// shop's own use but never sent to a sink as the customer, never makes the
// visitor logged in, and its marketing permission is never consent.
type Customer struct {
	CustomerReference   string `json:"customer_reference,omitempty"`
	Email               string `json:"email,omitempty"`
	FirstName           string `json:"first_name,omitempty"`
	LastName            string `json:"last_name,omitempty"`
	MarketingPermission bool   `json:"marketing_permission"`
	// CustomerGroup is the shop's pricing or loyalty group, if tagged.
	CustomerGroup string `json:"customer_group,omitempty"`
	// Verified is true when the shop's server stated this identity, false
	// when only a browser claimed it.
	Verified bool `json:"verified"`
}

// Trusted is c when its identity is verified, and no customer otherwise:
// what may be sent to a sink as the customer or shown to the shop as a
// login.
func (c Customer) Trusted() Customer {
	if !c.Verified {
		return Customer{}
	}
	return c
}

// IsZero reports whether no customer is known, whatever its provenance.
func (c Customer) IsZero() bool {
	c.Verified = false
	return c == Customer{}
}

// LinkedTo reports whether the session belongs to the customer with this
// reference, as its customer, the login it moved for, or the buyer of one
// of its orders: what a GDPR takeout or delete for that customer covers.
//
// A key made by EmailKey links the sessions whose customer or buyer has
// that email: a guest who left only an email is found too. Any other key
// is a customer reference, which also links the sessions whose tenant
// context names it as its customerId.
func (s *Session) LinkedTo(customerRef string) bool {
	if customerRef == "" {
		return false
	}
	return slices.Contains(s.Links(), customerRef)
}

// Links are the keys the session is linked to (LinkedTo): customer
// references and EmailKeys, each once. Personal data.
func (s *Session) Links() []string {
	var out []string
	add := func(v string) {
		if v != "" && v != emailKeyPrefix && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, c := range s.people() {
		add(c.CustomerReference)
		add(EmailKey(c.Email))
	}
	add(s.LoginRef)
	for i := range s.Contexts {
		add(s.Contexts[i].CustomerID)
	}
	return out
}

// people are the session's customer and its orders' buyers.
func (s *Session) people() []Customer {
	out := []Customer{s.Customer}
	for _, o := range s.Orders {
		out = append(out, o.Buyer)
	}
	return out
}

const emailKeyPrefix = "email:"

// EmailKey is the link key of an email address (LinkedTo): trimmed and in
// lower case, so that one person's address is found however it was typed.
func EmailKey(email string) string {
	return emailKeyPrefix + strings.ToLower(strings.TrimSpace(email))
}
