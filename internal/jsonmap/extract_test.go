package jsonmap

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// simple is a mapping in the collect endpoint's own field names.
var simple = Mapping{
	Items: "items",
	Fields: ItemFields{
		ProductID: "product_id", SkuID: "sku_id", Name: "name",
		Quantity: "quantity", UnitPrice: "unit_price", Currency: "currency",
	},
	Currency: "currency",
	Token:    "token",
	Customer: CustomerFields{
		CustomerReference: "customer.id", Email: "customer.email", FirstName: "customer.first",
		LastName: "customer.last", MarketingPermission: "customer.optin",
	},
}

func dec(t testing.TB, s string) model.Decimal {
	t.Helper()
	d, err := model.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func cart(items ...model.CartItem) *model.Cart {
	if items == nil {
		items = []model.CartItem{}
	}
	return &model.Cart{Items: items}
}

func line(pid, sku string, qty int, price model.Decimal, cur string) model.CartItem {
	return model.CartItem{ProductID: pid, SkuID: sku, Quantity: qty, UnitPrice: price, PriceCurrencyCode: cur}
}

func with(m Mapping, change func(*Mapping)) Mapping {
	change(&m)
	return m
}

func TestExtract(t *testing.T) {
	cents := with(simple, func(m *Mapping) { m.PriceDivisor = 100 })
	partial := with(simple, func(m *Mapping) { m.Partial = true })
	tests := []struct {
		name string
		m    Mapping
		doc  string
		want Result
	}{
		{"simple", simple,
			`{"currency":"EUR","token":"t1","items":[{"product_id":"p1","sku_id":"s1","name":" Shirt ","quantity":2,"unit_price":12.5}]}`,
			Result{Currency: "EUR", CartToken: "t1",
				Cart: cart(model.CartItem{ProductID: "p1", SkuID: "s1", Name: "Shirt", Quantity: 2, UnitPrice: dec(t, "12.5"), PriceCurrencyCode: "EUR"})}},
		{"item currency wins, lower case upper-cased", simple,
			`{"currency":"EUR","items":[{"product_id":"p1","quantity":1,"unit_price":1,"currency":"sek"}]}`,
			Result{Currency: "EUR", Cart: cart(line("p1", "", 1, dec(t, "1"), "SEK"))}},
		{"nested items path", with(simple, func(m *Mapping) { m.Items = "data.cart.lines" }),
			`{"data":{"cart":{"lines":[{"product_id":7,"quantity":"3","unit_price":"0.10"}]}}}`,
			Result{Cart: cart(line("7", "", 3, dec(t, "0.1"), ""))}},
		{"array index in path", with(simple, func(m *Mapping) { m.Items = "carts.1.items" }),
			`{"carts":[{"items":[]},{"items":[{"product_id":"b","quantity":1,"unit_price":2}]}]}`,
			Result{Cart: cart(line("b", "", 1, dec(t, "2"), ""))}},
		{"escaped dot", with(simple, func(m *Mapping) { m.Items = `cart\.items`; m.Fields.UnitPrice = `price\.gross` }),
			`{"cart":{"items":[]},"cart.items":[{"product_id":"p","quantity":1,"price.gross":"4.20"}]}`,
			Result{Cart: cart(line("p", "", 1, dec(t, "4.2"), ""))}},
		{"key with JSON escape", simple,
			`{"items":[{"product_\u0069d":"p","quantity":1,"unit_price":1}]}`,
			Result{Cart: cart(line("p", "", 1, dec(t, "1"), ""))}},
		{"alternatives", with(simple, func(m *Mapping) { m.Fields.Name = "title_short,title" }),
			`{"items":[{"product_id":"p","quantity":1,"unit_price":1,"title_short":"","title":"Long"}]}`,
			Result{Cart: cart(model.CartItem{ProductID: "p", Name: "Long", Quantity: 1, UnitPrice: dec(t, "1")})}},
		{"divisor 100 exact", cents,
			`{"items":[{"product_id":"a","quantity":1,"unit_price":12345},{"product_id":"b","quantity":1,"unit_price":1},{"product_id":"c","quantity":1,"unit_price":"990"}]}`,
			Result{Cart: cart(line("a", "", 1, dec(t, "123.45"), ""), line("b", "", 1, dec(t, "0.01"), ""), line("c", "", 1, dec(t, "9.9"), ""))}},
		{"divisor 100 refuses fractional cents", cents,
			`{"items":[{"product_id":"a","quantity":1,"unit_price":123.5}]}`,
			Result{Cart: cart(), Dropped: []string{"items[0].unit_price"}}},
		{"divisor 1 exact beyond float64", simple,
			`{"items":[{"product_id":"a","quantity":1,"unit_price":"9007199254740.993"}]}`,
			Result{Cart: cart(line("a", "", 1, model.Decimal(9007199254740_993000), ""))}},
		{"numeric strings", simple,
			`{"items":[{"product_id":"a","quantity":" 2 ","unit_price":" 19.99 "}]}`,
			Result{Cart: cart(line("a", "", 2, dec(t, "19.99"), ""))}},
		{"bad values drop the item, paths listed without values", simple,
			`{"items":[
			 {"product_id":"ok","quantity":1,"unit_price":1},
			 {"product_id":"q0","quantity":0,"unit_price":1},
			 {"product_id":"qf","quantity":1.5,"unit_price":1},
			 {"product_id":"neg","quantity":1,"unit_price":-1},
			 {"product_id":"exp","quantity":1,"unit_price":1e3},
			 {"product_id":{"secret":"x"},"quantity":1,"unit_price":1},
			 {"quantity":1,"unit_price":1},
			 {"product_id":"p","quantity":"2x","unit_price":"1,5"},
			 "not an object",
			 {"product_id":"` + strings.Repeat("x", 257) + `","quantity":1,"unit_price":1}]}`,
			Result{Cart: cart(line("ok", "", 1, dec(t, "1"), "")), Dropped: []string{
				"items[1].quantity", "items[2].quantity", "items[3].unit_price", "items[4].unit_price",
				"items[5].product_id", "items[6].product_id", "items[7].quantity", "items[7].unit_price",
				"items[8]", "items[9].product_id"}}},
		{"bad optional fields drop only the field", simple,
			`{"currency":"EURO","items":[{"product_id":"p","sku_id":[1],"name":"a\u0007b","quantity":1,"unit_price":1,"currency":"€"}]}`,
			Result{Cart: cart(line("p", "", 1, dec(t, "1"), "")), Dropped: []string{
				"currency", "items[0].sku_id", "items[0].name", "items[0].currency"}}},
		{"missing items path leaves the cart alone", simple, `{"token":"t"}`, Result{CartToken: "t"}},
		{"null items is missing", simple, `{"items":null}`, Result{}},
		{"items not an array", simple, `{"items":{"0":{}}}`, Result{Dropped: []string{"items"}}},
		{"empty array is an empty cart", simple, `{"items":[]}`, Result{Cart: cart()}},
		{"customer", simple,
			`{"customer":{"id":12,"email":"a@b.example","first":"Ann","last":"Lee","optin":"true"}}`,
			Result{Customer: &model.Customer{CustomerReference: "12", Email: "a@b.example", FirstName: "Ann", LastName: "Lee", MarketingPermission: true}}},
		{"customer with only a false permission is still found", simple,
			`{"customer":{"optin":false}}`, Result{Customer: &model.Customer{}}},
		{"bad customer fields", simple,
			`{"customer":{"email":"not-an-email","optin":"yes"}}`,
			Result{Dropped: []string{"customer.email", "customer.optin"}}},
		{"empty customer reference is absent", simple, `{"customer":{"id":""}}`, Result{}},
		{"partial: lines, never a cart", partial,
			`{"items":[{"product_id":"a","quantity":3,"unit_price":1},{"product_id":"b","quantity":1,"unit_price":"x"}]}`,
			Result{Lines: []model.CartItem{line("a", "", 3, dec(t, "1"), "")}, Dropped: []string{"items[1].unit_price"}}},
		{"partial: the document is the line", partial,
			`{"product_id":"a","quantity":1,"unit_price":2,"sku_id":true}`,
			Result{Lines: []model.CartItem{line("a", "", 1, dec(t, "2"), "")}, Dropped: []string{"sku_id"}}},
		{"partial: a bad single line", partial, `{"product_id":"a","quantity":0,"unit_price":2}`,
			Result{Dropped: []string{"quantity"}}},
		{"partial: an error body is no line", partial, `{"status":422,"message":"Cart Error"}`, Result{}},
		{"partial: empty items", partial, `{"items":[]}`, Result{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.m.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := tt.m.Extract([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

// dump prints a Result with its pointers followed, for failure messages.
func dump(r Result) string {
	s := fmt.Sprintf("{Lines:%+v Currency:%q Token:%q Dropped:%q", r.Lines, r.Currency, r.CartToken, r.Dropped)
	if r.Cart != nil {
		s += fmt.Sprintf(" Cart:%+v", *r.Cart)
	}
	if r.Customer != nil {
		s += fmt.Sprintf(" Customer:%+v", *r.Customer)
	}
	return s + "}"
}

func TestExtractLimitsItems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"items":[`)
	for i := range MaxItems + 5 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"product_id":"p` + strconv.Itoa(i) + `","quantity":1,"unit_price":1}`)
	}
	b.WriteString(`]}`)
	got, err := simple.Extract([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Cart.Items); n != MaxItems {
		t.Fatalf("%d items, want %d", n, MaxItems)
	}
	if last := got.Cart.Items[MaxItems-1].ProductID; last != "p999" {
		t.Errorf("last kept item %s", last)
	}
	if want := []string{"items[1000:]"}; !reflect.DeepEqual(got.Dropped, want) {
		t.Errorf("Dropped %v, want %v", got.Dropped, want)
	}
}

func TestExtractNotJSON(t *testing.T) {
	for _, doc := range []string{"", "{", `{"items":[}`, "nope", `{"a":1} x`, "\xff"} {
		if _, err := simple.Extract([]byte(doc)); !errors.Is(err, ErrNotJSON) {
			t.Errorf("%q: err %v, want ErrNotJSON", doc, err)
		}
	}
}

func TestExtractScalarDocuments(t *testing.T) {
	for _, doc := range []string{`[]`, `"items"`, `12`, `null`, ` true `, `[{"items":[]}]`} {
		got, err := simple.Extract([]byte(doc))
		if err != nil || !reflect.DeepEqual(got, Result{}) {
			t.Errorf("%q: %s, %v", doc, dump(got), err)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Mapping)
		want   []string // substrings of the error; nil: valid
	}{
		{"valid", func(*Mapping) {}, nil},
		{"no product id", func(m *Mapping) { m.Fields.ProductID = "" }, []string{"Fields.ProductID: required"}},
		{"no quantity nor price", func(m *Mapping) { m.Fields.Quantity, m.Fields.UnitPrice = "", "" },
			[]string{"Fields.Quantity: required", "Fields.UnitPrice: required"}},
		{"double dot", func(m *Mapping) { m.Items = "a..b" }, []string{"Items: empty key"}},
		{"trailing dot", func(m *Mapping) { m.Token = "a." }, []string{"Token: empty key"}},
		{"trailing backslash", func(m *Mapping) { m.Fields.Name = `a\` }, []string{"Fields.Name: trailing backslash"}},
		{"wildcard", func(m *Mapping) { m.Fields.SkuID = "sku*" }, []string{"Fields.SkuID: unescaped *"}},
		{"query", func(m *Mapping) { m.Items = "items.#(id>1)" }, []string{"Items: unescaped #"}},
		{"modifier", func(m *Mapping) { m.Customer.Email = "@this" }, []string{"Customer.Email: unescaped @"}},
		{"empty alternative", func(m *Mapping) { m.Currency = "a,,b" }, []string{"Currency: empty key"}},
		{"escaped specials are fine", func(m *Mapping) { m.Fields.Name = `a\*b\.c\,d` }, nil},
		{"control character", func(m *Mapping) { m.Fields.Currency = "a\x01" }, []string{"Fields.Currency: control"}},
		{"too long", func(m *Mapping) { m.Customer.LastName = strings.Repeat("a", 513) }, []string{"Customer.LastName: path longer"}},
		{"divisor 100", func(m *Mapping) { m.PriceDivisor = 100 }, nil},
		{"divisor 1000000", func(m *Mapping) { m.PriceDivisor = 1_000_000 }, nil},
		{"divisor 50", func(m *Mapping) { m.PriceDivisor = 50 }, []string{"PriceDivisor: 50"}},
		{"divisor 10^7", func(m *Mapping) { m.PriceDivisor = 10_000_000 }, []string{"PriceDivisor"}},
		{"divisor negative", func(m *Mapping) { m.PriceDivisor = -100 }, []string{"PriceDivisor"}},
		{"no items, no cart fields: ok", func(m *Mapping) { m.Items, m.Fields = "", ItemFields{} }, nil},
		{"fields without items", func(m *Mapping) { m.Items = "" }, []string{"Fields.ProductID: set without Items"}},
		{"nothing to capture", func(m *Mapping) { *m = Mapping{} }, []string{"Items: required unless"}},
		{"partial without items", func(m *Mapping) { m.Items, m.Fields, m.Partial = "", ItemFields{}, true }, []string{"Partial: set without Items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := with(simple, tt.change).Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConverters(t *testing.T) {
	long := `"` + strings.Repeat("n", 1025) + `"`
	tests := []struct {
		conv func([]byte) (string, bool)
		in   string
		want string // "!" for a drop
	}{
		{id, `"  SKU-1 "`, "SKU-1"}, {id, `6788945887297`, "6788945887297"}, {id, `-5`, "-5"},
		{id, `1.5`, "!"}, {id, `1e3`, "!"}, {id, `true`, "!"}, {id, `""`, "!"}, {id, `"a\u0000b"`, "!"},
		{id, `"` + strings.Repeat("i", 256) + `"`, strings.Repeat("i", 256)}, {id, `"` + strings.Repeat("i", 257) + `"`, "!"},
		{name, `"Caf\u00e9 \"Noir\""`, `Café "Noir"`}, {name, long, strings.Repeat("n", 1024)}, {name, `"a\r\nb"`, "a b"}, {name, `"a\u0007b"`, "!"},
		{name, "\"\xff\"", "!"}, {name, `"\ud800"`, "!"},
		{currency, `"usd"`, "USD"}, {currency, `" EUR "`, "EUR"}, {currency, `"EU"`, "!"}, {currency, `"E1R"`, "!"}, {currency, `978`, "!"},
		{email, `"a@b.example"`, "a@b.example"}, {email, `"a b@c"`, "!"}, {email, `"ab"`, "!"},
		{func(v []byte) (string, bool) { n, ok := quantity(v); return strconv.Itoa(n), ok }, `1000000`, "1000000"},
		{func(v []byte) (string, bool) { n, ok := quantity(v); return strconv.Itoa(n), ok }, `1000001`, "!"},
		{func(v []byte) (string, bool) { n, ok := quantity(v); return strconv.Itoa(n), ok }, `"+1"`, "1"},
		{func(v []byte) (string, bool) { n, ok := quantity(v); return strconv.Itoa(n), ok }, `2.0`, "2"},
		{func(v []byte) (string, bool) { n, ok := quantity(v); return strconv.Itoa(n), ok }, `2.5`, "!"},
		{func(v []byte) (string, bool) { n, ok := quantity(v); return strconv.Itoa(n), ok }, `-1`, "!"},
		{func(v []byte) (string, bool) { n, ok := quantity(v); return strconv.Itoa(n), ok }, `"1\u0030"`, "!"},
	}
	for _, tt := range tests {
		got, ok := tt.conv([]byte(tt.in))
		if !ok {
			got = "!"
		}
		if got != tt.want {
			t.Errorf("%.30s: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestPrice(t *testing.T) {
	tests := []struct {
		in      string
		divisor int64
		want    string // "!" for a drop
	}{
		{`12345`, 100, "123.45"}, {`1`, 100, "0.01"}, {`"12345"`, 100, "123.45"}, {`0`, 100, "0"},
		{`12345`, 1000, "12.345"}, {`1`, 1_000_000, "0.000001"}, {`-1`, 100, "!"}, {`1.5`, 100, "!"},
		{`999999999999999999`, 100, "!"}, {`9999999999999999999`, 100, "!"},
		{`99.99`, 1, "99.99"}, {`"0.1"`, 1, "0.1"}, {`-0`, 1, "0"}, {`-0.01`, 1, "!"}, {`1e2`, 1, "!"},
		{`0.0000001`, 1, "!"}, {`"12,50"`, 1, "!"}, {`null`, 1, "!"}, {`true`, 1, "!"}, {``, 1, "!"},
		{`9223372036854.775807`, 1, "9223372036854.775807"}, {`9223372036855`, 1, "!"},
	}
	for _, tt := range tests {
		d, ok := price([]byte(tt.in), tt.divisor)
		got := d.String()
		if !ok {
			got = "!"
		}
		if got != tt.want {
			t.Errorf("price(%s, %d) = %s, want %s", tt.in, tt.divisor, got, tt.want)
		}
	}
}
