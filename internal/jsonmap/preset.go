package jsonmap

import (
	"errors"
	"fmt"
	"strings"
)

// Where a route's document comes from.
const (
	SourceRequest  = "request"
	SourceResponse = "response"
)

// Preset is a ready-made set of routes for one shop or engine API.
type Preset struct {
	Name   string
	Routes []Route
}

// Route says which exchanges to capture and how to read them.
type Route struct {
	Method string // exact HTTP method; empty matches any
	// Path is matched against the request path segment by segment: {name}
	// matches one non-empty segment, a final * matches the rest.
	Path    string
	Source  string // SourceRequest or SourceResponse
	Mapping Mapping
}

// LookupPreset returns the named preset: "shopify", "talonone" or
// "emporix". (Go cannot have a func and a type both named Preset.) Each call
// returns fresh slices, so callers may change them.
func LookupPreset(name string) (Preset, bool) {
	switch name {
	case "shopify":
		return Preset{Name: name, Routes: shopifyRoutes()}, true
	case "talonone":
		return Preset{Name: name, Routes: []Route{{
			Method: "PUT", Path: "/v2/customer_sessions/{id}", Source: SourceRequest, Mapping: talonOne,
		}}}, true
	case "emporix":
		return Preset{Name: name, Routes: []Route{{
			Method: "PUT", Path: "/session-context/{tenant}/context/{id}", Source: SourceRequest, Mapping: emporix,
		}}}, true
	}
	return Preset{}, false
}

// shopifyCart reads Shopify's cart JSON: prices in cents, one currency for
// the cart, product_title without the variant suffix of title.
var shopifyCart = Mapping{
	Items: "items",
	Fields: ItemFields{
		ProductID: "product_id", SkuID: "variant_id", Name: "product_title,title",
		Quantity: "quantity", UnitPrice: "price",
	},
	PriceDivisor: 100,
	Currency:     "currency",
	Token:        "token",
}

// shopifyAdded reads /cart/add.js, which answers with the added lines only
// (one line object, or {"items":[…]} for several), each with its new total
// quantity, and without the cart's currency.
var shopifyAdded = func() Mapping {
	m := shopifyCart
	m.Partial = true
	return m
}()

// talonOne reads the request body of Talon.One's "Update customer session"
// (NewCustomerSessionV2 in IntegrationRequest.customerSession; CartItem
// requires sku and quantity). Talon.One items carry no currency: it is the
// Application's. A catalog item may omit price; such an item is dropped and
// listed. Requests with ?dry=true change nothing at Talon.One; the route
// cannot see the query, so the caller should skip them.
var talonOne = Mapping{
	Items: "customerSession.cartItems",
	Fields: ItemFields{
		ProductID: "sku", SkuID: "sku", Name: "name", Quantity: "quantity", UnitPrice: "price",
	},
	Customer: CustomerFields{CustomerReference: "customerSession.profileId"},
}

// emporix reads the request body of Emporix's "Updating a session context".
// It holds no cart lines (they live in the Cart Service), only the cart id,
// currency and customer id, so it never yields a cart.
var emporix = Mapping{
	Currency: "currency",
	Token:    "cartId",
	Customer: CustomerFields{CustomerReference: "customerId"},
}

// PresetNames lists the presets LookupPreset knows.
func PresetNames() []string { return []string{"emporix", "shopify", "talonone"} }

// shopifyRoutes covers Shopify's Ajax Cart API. Every endpoint also exists
// under a locale prefix (/fr/cart.js), which Shopify asks themes to use.
// clear.js is not in every list of cart endpoints but answers with the
// (empty) cart; without it a cleared cart would stay stale.
func shopifyRoutes() []Route {
	endpoints := []struct{ method, path string }{
		{"GET", "/cart.js"}, {"POST", "/cart/change.js"}, {"POST", "/cart/update.js"},
		{"POST", "/cart/clear.js"}, {"POST", "/cart/add.js"},
	}
	var routes []Route
	for _, e := range endpoints {
		m := shopifyCart
		if e.path == "/cart/add.js" {
			m = shopifyAdded
		}
		for _, p := range []string{e.path, "/{locale}" + e.path} {
			routes = append(routes, Route{Method: e.method, Path: p, Source: SourceResponse, Mapping: m})
		}
	}
	return routes
}

// Match reports whether a request with this method and path is one of r's.
func (r Route) Match(method, path string) bool {
	if r.Method != "" && r.Method != method {
		return false
	}
	_, ok := matchPath(r.Path, path, "")
	return ok
}

// PathParam returns the segment of path that r's pattern names {name}, or
// "" when path does not match or the pattern has no such parameter.
func (r Route) PathParam(path, name string) string {
	v, _ := matchPath(r.Path, path, name)
	return v
}

// Validate reports what is wrong with r, including its mapping.
func (r Route) Validate() error {
	var errs []error
	if !strings.HasPrefix(r.Path, "/") {
		errs = append(errs, fmt.Errorf("jsonmap: Path %q: must start with /", r.Path))
	}
	if r.Source != SourceRequest && r.Source != SourceResponse {
		errs = append(errs, fmt.Errorf("jsonmap: Source %q: must be %q or %q", r.Source, SourceRequest, SourceResponse))
	}
	return errors.Join(append(errs, r.Mapping.Validate())...)
}

// matchPath walks pattern and path segment by segment without allocating;
// value is the segment matched by {want}.
func matchPath(pattern, path, want string) (value string, ok bool) {
	for {
		pseg, prest, pmore := strings.Cut(pattern, "/")
		if pseg == "*" && !pmore {
			return value, true
		}
		seg, rest, more := strings.Cut(path, "/")
		switch {
		case len(pseg) > 2 && pseg[0] == '{' && pseg[len(pseg)-1] == '}':
			if seg == "" {
				return "", false
			}
			if pseg[1:len(pseg)-1] == want {
				value = seg
			}
		case pseg != seg:
			return "", false
		}
		if pmore != more {
			return "", false
		}
		if !more {
			return value, true
		}
		pattern, path = prest, rest
	}
}
