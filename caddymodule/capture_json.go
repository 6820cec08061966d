package caddymodule

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/sessiontap/caddy-sessiontap/internal/jsonmap"
)

// JSONCapture reads the cart from one kind of cart API exchange: either a
// built-in preset, or one custom route with its mapping.
type JSONCapture struct {
	// Preset is a built-in set of routes: "shopify" (the Ajax Cart API's
	// responses), "talonone" (requests to PUT /v2/customer_sessions/{id})
	// or "emporix" (requests to PUT /session-context/{tenant}/context/{id}).
	// When set, the fields below must be empty.
	Preset string `json:"preset,omitempty"`

	// Method of the requests to read, e.g. POST; empty matches any.
	Method string `json:"method,omitempty"`
	// Path pattern of the requests to read: {name} matches one segment, a
	// final * the rest. A segment named {id} is taken as the session id.
	Path string `json:"path,omitempty"`
	// Source is "request" or "response": which body holds the cart.
	Source string `json:"source,omitempty"`

	// Items is the path to the array of cart lines, e.g. "data.cart.lines".
	// Paths are gjson-style: keys joined by dots, array indexes as numbers,
	// "a,b" tries a then b.
	Items string `json:"items,omitempty"`
	// ProductID is the path, within one line, to the product id. Required.
	ProductID string `json:"product_id,omitempty"`
	// SkuID is the path, within one line, to the SKU or variant id.
	SkuID string `json:"sku_id,omitempty"`
	// Name is the path, within one line, to the product name.
	Name string `json:"name,omitempty"`
	// Quantity is the path, within one line, to the quantity. Required.
	Quantity string `json:"quantity,omitempty"`
	// UnitPrice is the path, within one line, to the unit price. Required.
	UnitPrice string `json:"unit_price,omitempty"`
	// Currency is the path, within one line, to its currency code.
	Currency string `json:"currency,omitempty"`
	// CartCurrency is the path to the document's currency, for lines
	// without their own.
	CartCurrency string `json:"cart_currency,omitempty"`
	// PriceDivisor turns minor units into prices: 100 for cents. Default 1.
	PriceDivisor int64 `json:"price_divisor,omitempty"`
	// Token is the path to the shop's cart id or token, kept on the session.
	Token string `json:"token,omitempty"`
	// CustomerReference is the path to the customer's id in the document.
	CustomerReference string `json:"customer_reference,omitempty"`
	// Email is the path to the customer's email in the document.
	Email string `json:"email,omitempty"`
}

// routes turns the capture into jsonmap routes, validated.
func (j JSONCapture) routes() ([]jsonmap.Route, error) {
	if j.Preset != "" {
		if j != (JSONCapture{Preset: j.Preset}) {
			return nil, fmt.Errorf("preset %s: takes no other fields", j.Preset)
		}
		p, ok := jsonmap.LookupPreset(j.Preset)
		if !ok {
			return nil, fmt.Errorf("preset %q: unknown; use one of %s", j.Preset, strings.Join(jsonmap.PresetNames(), ", "))
		}
		return p.Routes, nil
	}
	r := jsonmap.Route{Method: j.Method, Path: j.Path, Source: j.Source, Mapping: jsonmap.Mapping{
		Items: j.Items,
		Fields: jsonmap.ItemFields{ProductID: j.ProductID, SkuID: j.SkuID, Name: j.Name,
			Quantity: j.Quantity, UnitPrice: j.UnitPrice, Currency: j.Currency},
		PriceDivisor: j.PriceDivisor,
		Currency:     j.CartCurrency,
		Token:        j.Token,
		Customer:     jsonmap.CustomerFields{CustomerReference: j.CustomerReference, Email: j.Email},
	}}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("route %s %s: %v", j.Method, j.Path, err)
	}
	return []jsonmap.Route{r}, nil
}

// parseCaptureJSON reads `capture json <preset>` or a custom route:
//
//	capture json {
//		route <method> <path> request|response
//		items <path>
//		product_id <path>
//		...
//	}
func (m *Handler) parseCaptureJSON(d *caddyfile.Dispenser) error {
	var j JSONCapture
	if d.NextArg() {
		j.Preset = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		if _, ok := jsonmap.LookupPreset(j.Preset); !ok {
			return d.Errf("capture json: unknown preset %q; use one of %s or a block", j.Preset, strings.Join(jsonmap.PresetNames(), ", "))
		}
		m.capture().JSON = append(m.capture().JSON, j)
		return nil
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := j.parseOption(d); err != nil {
			return err
		}
	}
	if _, err := j.routes(); err != nil {
		return d.Errf("capture json: %v", err)
	}
	m.capture().JSON = append(m.capture().JSON, j)
	return nil
}

func (j *JSONCapture) parseOption(d *caddyfile.Dispenser) error {
	parse, ok := jsonCaptureOptions[d.Val()]
	if !ok {
		return unrecognized(d, "capture json: unrecognized option", jsonCaptureOptionNames)
	}
	return parse(j, d)
}

// jsonCaptureOptions are the options of a capture json block. parseOption
// dispatches on this map and suggests from its keys, so the two agree.
var jsonCaptureOptions = map[string]func(*JSONCapture, *caddyfile.Dispenser) error{
	"route": func(j *JSONCapture, d *caddyfile.Dispenser) error {
		if !d.Args(&j.Method, &j.Path, &j.Source) || d.NextArg() {
			return d.ArgErr()
		}
		if j.Method == "*" {
			j.Method = ""
		}
		return nil
	},
	"price_divisor": func(j *JSONCapture, d *caddyfile.Dispenser) error {
		var v string
		if err := oneArg(d, &v); err != nil {
			return err
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return d.Errf("capture json: price_divisor %q is not a number", v)
		}
		j.PriceDivisor = n
		return nil
	},
	"items":              stringOption(func(j *JSONCapture) *string { return &j.Items }),
	"product_id":         stringOption(func(j *JSONCapture) *string { return &j.ProductID }),
	"sku_id":             stringOption(func(j *JSONCapture) *string { return &j.SkuID }),
	"name":               stringOption(func(j *JSONCapture) *string { return &j.Name }),
	"quantity":           stringOption(func(j *JSONCapture) *string { return &j.Quantity }),
	"unit_price":         stringOption(func(j *JSONCapture) *string { return &j.UnitPrice }),
	"currency":           stringOption(func(j *JSONCapture) *string { return &j.Currency }),
	"cart_currency":      stringOption(func(j *JSONCapture) *string { return &j.CartCurrency }),
	"token":              stringOption(func(j *JSONCapture) *string { return &j.Token }),
	"customer_reference": stringOption(func(j *JSONCapture) *string { return &j.CustomerReference }),
	"email":              stringOption(func(j *JSONCapture) *string { return &j.Email }),
}

var jsonCaptureOptionNames = optionNames(jsonCaptureOptions)
