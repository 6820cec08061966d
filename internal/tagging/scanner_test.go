package tagging

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func TestFixturePages(t *testing.T) {
	product := Parse(readFixture(t, "product-100k.html"))
	want := Page{
		PageType:  model.PageProduct,
		Variation: "EUR",
		Product:   &Product{ProductID: "1802", Name: "Men's Running Shirt “Aero”", Price: dec("1299"), PriceCurrencyCode: "EUR"},
		Cart: &Cart{Items: []model.CartItem{
			{ProductID: "1802", SkuID: "1802-0", Quantity: 1, Name: "Men's Running Shirt", UnitPrice: dec("1199"), PriceCurrencyCode: "EUR"},
			item("2207", 2, "14.95", "Laufsocken 3er-Pack", "EUR"),
		}, RestoreLink: "https://www.example.com/nosto/cart/restore/h/d41d8cd98f00b204/"},
		Customer: &Customer{Customer: model.Customer{Email: "jane.doe@example.com", FirstName: "Jane", LastName: "Doe", CustomerReference: "c-5e3d4a9c", MarketingPermission: true}},
	}
	if !reflect.DeepEqual(product, want) {
		t.Errorf("product page:\n got %s\nwant %s", dump(product), dump(want))
	}

	cart := Parse(readFixture(t, "page-7k.html"))
	want = Page{
		PageType:  model.PageCart,
		Variation: "EUR",
		Cart: &Cart{Items: []model.CartItem{
			item("2207", 2, "14.95", "Laufsocken 3er-Pack", "EUR"),
			{ProductID: "1802", SkuID: "1802-0", Quantity: 1, Name: "Men's Running Shirt “Aero”", UnitPrice: dec("19"), PriceCurrencyCode: "EUR"},
			item("3310", 1, "13.95", "Trinkflasche 0,75 l", "EUR"),
		}, RestoreLink: "https://www.example.com/nosto/cart/restore?h=a81c7e3f09d2b4c6&utm_source=nosto", HCID: "4f1e2d3c4b5a69788796a5b4c3d2e1f0"},
		Customer: &Customer{Customer: model.Customer{Email: "jane.doe@example.com", FirstName: "Jane", LastName: "O'Neill", CustomerReference: "b369f1235cf4f08153c560.82515936", CustomerGroup: "Stammkunden"}},
	}
	if !reflect.DeepEqual(cart, want) {
		t.Errorf("7k page:\n got %s\nwant %s", dump(cart), dump(want))
	}
}

// scan writes page to a fresh scanner in the given pieces.
func scan(t testing.TB, s *Scanner, limit int, pieces ...[]byte) Page {
	t.Helper()
	s.Reset(limit)
	for _, p := range pieces {
		if n, err := s.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(p))
		}
	}
	return s.Result()
}

func TestEveryTwoWaySplit(t *testing.T) {
	pages := [][]byte{readFixture(t, "page-7k.html")}
	for _, tt := range parseTests {
		pages = append(pages, []byte(tt.html))
	}
	s := NewScanner(0)
	for _, page := range pages {
		want := Parse(page)
		for i := range len(page) + 1 {
			if got := scan(t, s, len(page), page[:i], page[i:]); !reflect.DeepEqual(got, want) {
				t.Fatalf("split at %d of %.40q…:\n got %s\nwant %s", i, page, dump(got), dump(want))
			}
		}
	}
}

func TestRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewScanner(0)
	for _, name := range []string{"product-100k.html", "page-7k.html"} {
		page := readFixture(t, name)
		want := Parse(page)
		for range 50 {
			var pieces [][]byte
			for rest := page; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(4096))
				pieces, rest = append(pieces, rest[:n]), rest[n:]
			}
			if got := scan(t, s, 1<<20, pieces...); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s in %d pieces:\n got %s\nwant %s", name, len(pieces), dump(got), dump(want))
			}
		}
	}
}

func TestTruncated(t *testing.T) {
	page := readFixture(t, "product-100k.html")
	full := Parse(page)
	cartAt := bytes.Index(page, []byte(`<div class="nosto_cart"`))
	secondItem := cartAt + bytes.Index(page[cartAt:], []byte(`2207`))
	tests := []struct {
		name  string
		limit int
		want  Page
	}{
		{"nothing kept", 0, Page{Truncated: true}},
		{"tagging after the limit", 50 << 10, Page{Truncated: true}},
		{"cut inside the cart", secondItem,
			Page{Truncated: true, PageType: full.PageType, Variation: full.Variation, Product: full.Product}},
		{"cut after the cart", secondItem + 400,
			Page{Truncated: true, PageType: full.PageType, Variation: full.Variation, Product: full.Product, Cart: full.Cart}},
		{"one byte short", len(page) - 1, func() Page { p := full; p.Truncated = true; return p }()},
		{"exactly the page", len(page), full},
	}
	s := NewScanner(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scan(t, s, tt.limit, page[:len(page)/3], page[len(page)/3:])
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %s\nwant %s", dump(got), dump(tt.want))
			}
			if len(s.buf) > tt.limit || cap(s.buf) > max(tt.limit, len(page)) {
				t.Errorf("kept %d bytes (cap %d) with limit %d", len(s.buf), cap(s.buf), tt.limit)
			}
		})
	}
}

func TestScannerReuse(t *testing.T) {
	product, cart := readFixture(t, "product-100k.html"), readFixture(t, "page-7k.html")
	s := NewScanner(1 << 20)
	first := scan(t, s, 1<<20, product)
	if again := s.Result(); !reflect.DeepEqual(again, first) {
		t.Error("second Result differs")
	}
	second := scan(t, s, 1<<20, cart)
	if !reflect.DeepEqual(second, Parse(cart)) {
		t.Errorf("reused scanner: got %s", dump(second))
	}
	// The first page must not share memory with the reused buffers.
	if !reflect.DeepEqual(first, Parse(product)) {
		t.Errorf("first result changed after reuse: %s", dump(first))
	}
	// A Write after Result is seen by the next Result.
	s.Reset(1 << 20)
	s.Write(cart[:100])
	_ = s.Result()
	s.Write(cart[100:])
	if got := s.Result(); !reflect.DeepEqual(got, second) {
		t.Errorf("Write after Result: got %s", dump(got))
	}
}

func TestWriteDoesNotRetain(t *testing.T) {
	page := readFixture(t, "page-7k.html")
	want := Parse(page)
	buf := bytes.Clone(page)
	s := NewScanner(len(buf))
	s.Write(buf)
	clear(buf)
	if got := s.Result(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %s", dump(got))
	}
}
