package handler

import (
	"context"
	"encoding/json"
	htmlpkg "html"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/internal/jsonmap"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// valueCase is one value sent through every way into a session: as the
// field of a collect body, as page tagging, and as cart JSON captured from
// a shop API. want is what is stored; refused means collect answers 400
// and capture drops the field (or, for a product id, the line).
type valueCase struct {
	name    string
	field   string // product_id, name, price_currency_code, quantity, email
	value   string // the value as the shop writes it
	want    string
	refused bool
}

var valueCases = []valueCase{
	{"tab inside a name", "name", "Men's\tRunning  Shirt", "Men's Running Shirt", false},
	{"line break inside a name", "name", "Men's\r\nShirt", "Men's Shirt", false},
	{"spaces around a name", "name", "  Mug  ", "Mug", false},
	{"control character in a name", "name", "Mug\x07", "", true},
	{"not UTF-8 in a name", "name", "Mug \xff", "", true},
	{"long name is cut", "name", strings.Repeat("ab", 600), strings.Repeat("ab", 512), false},
	{"lower-case currency", "price_currency_code", "eur", "EUR", false},
	{"currency with spaces", "price_currency_code", " EUR ", "EUR", false},
	{"four-letter currency", "price_currency_code", "EURO", "", true},
	{"tab in a product id", "product_id", "p\t1", "", true},
	{"space in a product id", "product_id", "p 1", "p 1", false},
	{"product id too long", "product_id", strings.Repeat("x", 257), "", true},
	{"quantity as a decimal", "quantity", "2.0", "2", false},
	{"quantity zero", "quantity", "0", "", true},
	{"quantity fraction", "quantity", "1.5", "", true},
	{"email with spaces around", "email", " jane@example.com ", "jane@example.com", false},
	{"tab in an email", "email", "jane\t@example.com", "", true},
	{"space in an email", "email", "jane doe@example.com", "", true},
	{"email without @", "email", "jane.example.com", "", true},
}

// TestValueRulesAgreeAcrossSources sends every case through collect, page
// tagging and captured cart JSON and requires the same outcome from each.
func TestValueRulesAgreeAcrossSources(t *testing.T) {
	for _, tc := range valueCases {
		t.Run(tc.name, func(t *testing.T) {
			for source, store := range map[string]func(*testing.T, valueCase) (string, bool){
				"collect": viaCollect, "tagging": viaTagging, "json": viaJSON,
			} {
				got, ok := store(t, tc)
				if ok == tc.refused || (ok && got != tc.want) {
					t.Errorf("%s: stored %q (kept %v), want %q (refused %v)", source, got, ok, tc.want, tc.refused)
				}
			}
		})
	}
}

// line and customer values of a case, as JSON members.
func (tc valueCase) members() (item, customer map[string]any) {
	item = map[string]any{"product_id": "p1", "quantity": json.Number("1"), "unit_price": json.Number("9.5")}
	switch tc.field {
	case "email":
		return item, map[string]any{"email": tc.value}
	case "quantity":
		item["quantity"] = json.Number(tc.value)
	default:
		item[tc.field] = tc.value
	}
	return item, nil
}

// jsonBody writes the body raw, so that bytes that are not UTF-8 reach the
// endpoint as they are (encoding/json would replace them).
func jsonBody(item, customer map[string]any) string {
	var b strings.Builder
	b.WriteString(`{"cart":{"items":[{`)
	first := true
	for k, v := range item {
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(strconv.Quote(k) + ":")
		if n, ok := v.(json.Number); ok {
			b.WriteString(string(n))
		} else {
			b.WriteString(`"` + jsonEscape(v.(string)) + `"`)
		}
	}
	b.WriteString(`}]}`)
	if customer != nil {
		b.WriteString(`,"customer":{"email":"` + jsonEscape(customer["email"].(string)) + `"}`)
	}
	b.WriteString(`}`)
	return b.String()
}

// jsonEscape escapes what JSON requires and leaves every other byte alone.
func jsonEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteString(`\` + string(c))
		case c < 0x20:
			b.WriteString(`\u00` + strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func viaCollect(t *testing.T, tc valueCase) (string, bool) {
	h, store := newTestHandler(t, testConfig())
	v := newVisitor(t, h)
	w := v.post(jsonBody(tc.members()))
	if w.Code == http.StatusBadRequest {
		return "", false
	}
	if w.Code != http.StatusOK {
		t.Fatalf("collect: %d %s", w.Code, w.Body)
	}
	return storedValue(t, store, v.cookie, tc.field)
}

func viaTagging(t *testing.T, tc valueCase) (string, bool) {
	h, store, c := capturingHandler(t, nil)
	item, customer := tc.members()
	var b strings.Builder
	b.WriteString(`<html><body><div class="nosto_cart"><div class="line_item">`)
	for k, v := range item {
		s, ok := v.(string)
		if !ok {
			s = string(v.(json.Number))
		}
		// Escaped as a template would, bytes that are not UTF-8 kept.
		b.WriteString(`<span class="` + k + `">` + htmlpkg.EscapeString(s) + `</span>`)
	}
	b.WriteString(`</div></div>`)
	if customer != nil {
		b.WriteString(`<div class="nosto_customer"><span class="email">` + htmlpkg.EscapeString(customer["email"].(string)) + `</span></div>`)
	}
	b.WriteString(`</body></html>`)
	visit(t, h, c, page{header: http.Header{"Content-Type": {"text/html"}}, body: b.String()})
	return storedValue(t, store, c, tc.field)
}

func viaJSON(t *testing.T, tc valueCase) (string, bool) {
	route := jsonmap.Route{Method: "GET", Path: "/api/cart", Source: jsonmap.SourceResponse, Mapping: jsonmap.Mapping{
		Items: "cart.items",
		Fields: jsonmap.ItemFields{ProductID: "product_id", Name: "name", Quantity: "quantity",
			UnitPrice: "unit_price", Currency: "price_currency_code"},
		Customer: jsonmap.CustomerFields{Email: "customer.email"},
	}}
	h, store, c := capturingHandler(t, func(cfg *Config) { cfg.Capture.JSON = []jsonmap.Route{route} })
	r := httptest.NewRequest("GET", "/api/cart", nil)
	r.AddCookie(c)
	body := page{header: http.Header{"Content-Type": {"application/json"}}, body: jsonBody(tc.members())}
	if err := serveNow(h, httptest.NewRecorder(), r, body); err != nil {
		t.Fatal(err)
	}
	return storedValue(t, store, c, tc.field)
}

// storedValue is the case's field as stored, and whether it was kept: a
// refused product id, quantity or price drops the whole line.
func storedValue(t *testing.T, store interface {
	Get(context.Context, string) (*model.Session, error)
}, c *http.Cookie, field string) (string, bool) {
	id, _, _ := model.ParseCookieValue(c.Value)
	s, err := store.Get(context.Background(), id)
	if err != nil {
		return "", false // nothing of it was stored
	}
	if field == "email" {
		return s.Customer.Email, s.Customer.Email != ""
	}
	if len(s.Cart.Items) != 1 {
		return "", false
	}
	it := s.Cart.Items[0]
	v := map[string]string{"product_id": it.ProductID, "name": it.Name, "price_currency_code": it.PriceCurrencyCode,
		"quantity": strconv.Itoa(it.Quantity)}[field]
	return v, v != ""
}
