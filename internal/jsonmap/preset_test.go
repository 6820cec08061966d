package jsonmap

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func readDoc(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// route finds the preset's route for a request, as a handler would.
func route(t testing.TB, preset, method, path string) Route {
	t.Helper()
	p, ok := LookupPreset(preset)
	if !ok {
		t.Fatalf("no preset %q", preset)
	}
	for _, r := range p.Routes {
		if r.Match(method, path) {
			return r
		}
	}
	t.Fatalf("%s: no route for %s %s", preset, method, path)
	return Route{}
}

const shopifyToken = "Z2NwLWV1cm9wZS13ZXN0MTowMUhSNVlDMjRCUjlSUVhKMEQ0TUIwN1BNNA?key=7b1d0e3b7d0b2a5c9f6e4d3c2b1a0f9e"

func shirt(qty int, cur string) model.CartItem {
	return model.CartItem{ProductID: "6788945887297", SkuID: "39897499729985", Name: "Shirt",
		Quantity: qty, UnitPrice: 123_450_000, PriceCurrencyCode: cur}
}

func socks(cur string) model.CartItem {
	return model.CartItem{ProductID: "6788945887300", SkuID: "39897499730001", Name: "Socks",
		Quantity: 1, UnitPrice: 10_000, PriceCurrencyCode: cur}
}

func TestPresets(t *testing.T) {
	tests := []struct {
		preset, method, path, doc string
		want                      Result
	}{
		{"shopify", "GET", "/cart.js", "shopify_cart.json", Result{Currency: "EUR", CartToken: shopifyToken,
			Cart: cart(shirt(2, "EUR"), socks("EUR"))}},
		{"shopify", "GET", "/de/cart.js", "shopify_cart.json", Result{Currency: "EUR", CartToken: shopifyToken,
			Cart: cart(shirt(2, "EUR"), socks("EUR"))}},
		{"shopify", "POST", "/cart/change.js", "shopify_change.json", Result{Currency: "EUR", CartToken: shopifyToken,
			Cart: cart(shirt(1, "EUR"))}},
		{"shopify", "POST", "/cart/update.js", "shopify_update_empty.json", Result{Currency: "EUR", CartToken: shopifyToken,
			Cart: cart()}},
		{"shopify", "POST", "/cart/clear.js", "shopify_update_empty.json", Result{Currency: "EUR", CartToken: shopifyToken,
			Cart: cart()}},
		// add.js never replaces the cart: its lines carry their new quantities.
		{"shopify", "POST", "/cart/add.js", "shopify_add_single.json", Result{Lines: []model.CartItem{shirt(2, "")}}},
		{"shopify", "POST", "/en-us/cart/add.js", "shopify_add_multi.json", Result{Lines: []model.CartItem{shirt(2, ""), socks("")}}},
		{"shopify", "POST", "/cart/add.js", "shopify_add_error.json", Result{}},
		{"talonone", "PUT", "/v2/customer_sessions/sess-42", "talonone_session.json", Result{
			Cart: cart(model.CartItem{ProductID: "SKU1241028", SkuID: "SKU1241028", Name: "Air Glide",
				Quantity: 1, UnitPrice: 99_990_000}),
			Customer: &model.Customer{CustomerReference: "URNGV8294NV"}}},
		// Seed 004's body holds no lines: only ids and the currency are captured.
		{"emporix", "PUT", "/session-context/acme/context/c8f2a1d0", "emporix_context.json", Result{
			Currency: "EUR", CartToken: "65a8f3e2c1b0d9e8f7a6b5c4",
			Customer: &model.Customer{CustomerReference: "C-000123"}}},
	}
	for _, tt := range tests {
		t.Run(tt.preset+" "+tt.method+" "+tt.path+" "+tt.doc, func(t *testing.T) {
			r := route(t, tt.preset, tt.method, tt.path)
			got, err := r.Mapping.Extract(readDoc(t, tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestPresetsValid(t *testing.T) {
	for _, name := range PresetNames() {
		p, ok := LookupPreset(name)
		if !ok || p.Name != name || len(p.Routes) == 0 {
			t.Fatalf("%s: %+v %v", name, p, ok)
		}
		for _, r := range p.Routes {
			if err := r.Validate(); err != nil {
				t.Errorf("%s %s %s: %v", name, r.Method, r.Path, err)
			}
		}
	}
	if _, ok := LookupPreset("magento"); ok {
		t.Error("unknown preset found")
	}
	// Callers may change what they get without changing the next caller's.
	p, _ := LookupPreset("shopify")
	p.Routes[0].Mapping.Items = "changed"
	if q, _ := LookupPreset("shopify"); q.Routes[0].Mapping.Items != "items" {
		t.Error("preset shared between calls")
	}
}

func TestShopifyRoutesSource(t *testing.T) {
	p, _ := LookupPreset("shopify")
	for _, r := range p.Routes {
		if r.Source != SourceResponse {
			t.Errorf("%s %s: source %s", r.Method, r.Path, r.Source)
		}
		if partial := r.Mapping.Partial; partial != (filepath.Base(r.Path) == "add.js") {
			t.Errorf("%s: Partial %v", r.Path, partial)
		}
	}
	for _, name := range []string{"talonone", "emporix"} {
		q, _ := LookupPreset(name)
		if q.Routes[0].Source != SourceRequest {
			t.Errorf("%s: source %s", name, q.Routes[0].Source)
		}
	}
}

func TestRouteMatch(t *testing.T) {
	tests := []struct {
		method, pattern, reqMethod, path string
		want                             bool
	}{
		{"GET", "/cart.js", "GET", "/cart.js", true},
		{"GET", "/cart.js", "POST", "/cart.js", false},
		{"GET", "/cart.js", "get", "/cart.js", false},
		{"GET", "/cart.js", "GET", "/cart.json", false},
		{"GET", "/cart.js", "GET", "/cart.js/", false},
		{"GET", "/cart.js", "GET", "/x/cart.js", false},
		{"", "/cart.js", "DELETE", "/cart.js", true},
		{"PUT", "/v2/customer_sessions/{id}", "PUT", "/v2/customer_sessions/abc", true},
		{"PUT", "/v2/customer_sessions/{id}", "PUT", "/v2/customer_sessions/", false},
		{"PUT", "/v2/customer_sessions/{id}", "PUT", "/v2/customer_sessions", false},
		{"PUT", "/v2/customer_sessions/{id}", "PUT", "/v2/customer_sessions/abc/returns", false},
		{"PUT", "/v2/customer_sessions/{id}", "PUT", "/v1/customer_sessions/abc", false},
		{"PUT", "/session-context/{tenant}/context/{id}", "PUT", "/session-context/acme/context/s1", true},
		{"PUT", "/session-context/{tenant}/context/{id}", "PUT", "/session-context//context/s1", false},
		{"GET", "/api/cart/*", "GET", "/api/cart/", true},
		{"GET", "/api/cart/*", "GET", "/api/cart/a/b", true},
		{"GET", "/api/cart/*", "GET", "/api/cart", false},
		{"GET", "/api/{v}/*", "GET", "/api/2/x", true},
		{"GET", "*", "GET", "/anything", true},
		{"GET", "/", "GET", "/", true},
		{"GET", "/", "GET", "", false},
	}
	for _, tt := range tests {
		r := Route{Method: tt.method, Path: tt.pattern}
		if got := r.Match(tt.reqMethod, tt.path); got != tt.want {
			t.Errorf("%s %s matching %s %s = %v", tt.method, tt.pattern, tt.reqMethod, tt.path, got)
		}
	}
}

func TestRoutePathParam(t *testing.T) {
	talon := route(t, "talonone", "PUT", "/v2/customer_sessions/x")
	emporix := route(t, "emporix", "PUT", "/session-context/t/context/x")
	tests := []struct {
		r          Route
		path, name string
		want       string
	}{
		{talon, "/v2/customer_sessions/sess-42", "id", "sess-42"},
		{talon, "/v2/customer_sessions/sess-42", "tenant", ""},
		{talon, "/v2/customer_sessions/", "id", ""},
		{talon, "/v2/other/sess-42", "id", ""},
		{emporix, "/session-context/acme/context/c8f2", "id", "c8f2"},
		{emporix, "/session-context/acme/context/c8f2", "tenant", "acme"},
		{emporix, "/session-context/acme/context/c8f2/x", "id", ""},
		{Route{Path: "/shop/{id}/*"}, "/shop/7/cart/a.js", "id", "7"},
	}
	for _, tt := range tests {
		if got := tt.r.PathParam(tt.path, tt.name); got != tt.want {
			t.Errorf("%s PathParam(%q, %q) = %q, want %q", tt.r.Path, tt.path, tt.name, got, tt.want)
		}
	}
}

func TestRouteValidate(t *testing.T) {
	r := Route{Method: "GET", Path: "cart.js", Source: "body", Mapping: Mapping{}}
	err := r.Validate()
	for _, w := range []string{"Path", "Source", "Items"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %s", err, w)
		}
	}
}
