// Package jsonmap maps a shop's cart JSON (a request or response body of
// its cart API) onto sessiontap's cart and customer, declaratively, and
// ships presets for the APIs sessiontap knows (Shopify, Talon.One, Emporix).
//
// # Paths
//
// Paths are this package's own syntax, read with gjson
// (github.com/tidwall/gjson) one key at a time. They look like gjson's, and
// a path without a comma names the same keys in both:
//
//   - keys separated by dots: "customerSession.cartItems"
//   - a key of plain digits indexes an array ("items.0"); on an object it
//     is an ordinary key
//   - a backslash escapes the next character: "a\.b" is the key "a.b"
//   - the characters * ? # @ | ! [ ] { } must be escaped; wildcards,
//     queries and modifiers are not supported
//   - commas separate alternatives, tried in order until one is present,
//     not null and not "" ("product_title,title"); gjson would read the
//     whole of "a,b" as one key. Escape a literal comma as "\,".
//
// Of duplicate keys in a document, the first wins, also on the way: "a.b"
// looks for "b" in the first "a" only, where gjson would go on to the next
// "a" that has a "b".
package jsonmap

import (
	"errors"
	"fmt"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// Mapping says where a cart (and optionally a customer) sits in a JSON
// document. Validate it once when configuring; Extract assumes it is valid.
type Mapping struct {
	// Items is the path to the items array. Empty means the document carries
	// no cart lines (Emporix's session context); Extract then never returns a
	// cart. A path missing from a document leaves the cart untouched (nil),
	// an existing empty array means an empty cart.
	Items  string
	Fields ItemFields // per-item paths, relative to one item
	// PriceDivisor is 1 (or 0) for prices in major units, 100 for cents.
	PriceDivisor int64
	// Currency is the path to a document-level currency, used for items
	// without their own.
	Currency string
	// Token is the path to the shop's cart token or cart id.
	Token    string
	Customer CustomerFields // document-level paths; all empty: no customer
	// Partial marks documents holding only some lines of the cart, each with
	// its new quantity (Shopify's /cart/add.js). Extract then fills
	// Result.Lines, never Result.Cart: replacing the cart with them would
	// delete every other line. When the Items path is missing but the
	// document itself has the ProductID field, the document is the one line.
	Partial bool
}

// ItemFields are paths relative to one item. ProductID, Quantity and
// UnitPrice are required; the others are optional.
type ItemFields struct {
	ProductID, SkuID, Name, Quantity, UnitPrice, Currency string
}

// CustomerFields are document-level paths to the customer's fields.
type CustomerFields struct {
	CustomerReference, Email, FirstName, LastName, MarketingPermission string
}

// Result is what Extract found in one document.
type Result struct {
	Cart *model.Cart // nil: no cart at the Items path (or Partial)
	// Lines are the lines of a Partial document, to be merged into the
	// stored cart by ProductID and SkuID; nil when there are none.
	Lines    []model.CartItem
	Customer *model.Customer // nil: no customer field found
	// Currency is the document-level currency, "" when absent.
	Currency  string
	CartToken string
	// Dropped lists the paths of values dropped as bad or missing, such as
	// "items[2].price". It never holds the values: they may be personal data.
	Dropped []string
}

// Validate reports every problem of m, each naming its field.
func (m Mapping) Validate() error {
	var errs []error
	check := func(field, path string, required bool) {
		switch {
		case path == "" && required:
			errs = append(errs, fmt.Errorf("jsonmap: %s: required", field))
		case path != "":
			if err := checkPath(path); err != nil {
				errs = append(errs, fmt.Errorf("jsonmap: %s: %w", field, err))
			}
		}
	}
	hasItems := m.Items != ""
	check("Items", m.Items, false)
	for _, f := range m.Fields.list() {
		if !hasItems && f.path != "" {
			errs = append(errs, fmt.Errorf("jsonmap: Fields.%s: set without Items", f.name))
			continue
		}
		check("Fields."+f.name, f.path, hasItems && f.required)
	}
	check("Currency", m.Currency, false)
	check("Token", m.Token, false)
	for _, f := range m.Customer.list() {
		check("Customer."+f.name, f.path, false)
	}
	if !hasItems && m.Token == "" && m.Currency == "" && m.Customer == (CustomerFields{}) {
		errs = append(errs, errors.New("jsonmap: Items: required unless Token, Currency or a Customer path is set"))
	}
	if !hasItems && m.Partial {
		errs = append(errs, errors.New("jsonmap: Partial: set without Items"))
	}
	if m.PriceDivisor != 0 && !powerOfTen(m.PriceDivisor) {
		errs = append(errs, fmt.Errorf("jsonmap: PriceDivisor: %d is not a power of ten from 1 to 1000000", m.PriceDivisor))
	}
	return errors.Join(errs...)
}

type namedPath struct {
	name, path string
	required   bool
}

func (f ItemFields) list() []namedPath {
	return []namedPath{
		{"ProductID", f.ProductID, true}, {"SkuID", f.SkuID, false}, {"Name", f.Name, false},
		{"Quantity", f.Quantity, true}, {"UnitPrice", f.UnitPrice, true}, {"Currency", f.Currency, false},
	}
}

func (f CustomerFields) list() []namedPath {
	return []namedPath{
		{"CustomerReference", f.CustomerReference, false}, {"Email", f.Email, false},
		{"FirstName", f.FirstName, false}, {"LastName", f.LastName, false},
		{"MarketingPermission", f.MarketingPermission, false},
	}
}

// powerOfTen reports whether d is 1, 10, … or 1000000: DecimalFromMinor
// would take 2 or 50 too, but no currency has such minor units.
func powerOfTen(d int64) bool {
	if d < 1 || d > model.DecimalScale {
		return false
	}
	for d%10 == 0 {
		d /= 10
	}
	return d == 1
}
