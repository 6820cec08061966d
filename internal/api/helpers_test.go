package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

func testConfig() Config {
	// The empty key stands for an unset {env.X}: it must open nothing.
	return Config{Prefix: "/_sessiontap/api", Keys: []string{"", "secret-key"}}
}

func newTestAPI(t testing.TB, cfg Config) (*API, cache.Store) {
	t.Helper()
	store, err := cache.NewBigcache(context.Background(), cache.BigcacheConfig{MaxSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	a, err := New(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, store
}

// serve runs one request through a and returns the recorded response.
func serve(t *testing.T, a *API, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	if !a.Owns(r.URL.Path) {
		t.Fatalf("%s is not the API's", r.URL.Path)
	}
	w := httptest.NewRecorder()
	a.ServeHTTP(w, r)
	return w
}

// visitor is a session as a visitor's browser made it: our id, the value
// of our cookie, a cart of two lines and a customer.
type visitor struct{ id, cookie string }

func newVisitor(t *testing.T, store cache.Store) visitor {
	t.Helper()
	id := model.NewID()
	price, _ := model.ParseDecimal("123.45")
	shoe, _ := model.ParseDecimal("999")
	_, err := store.Update(context.Background(), id, func(s *model.Session) error {
		s.Cart = model.Cart{Items: []model.CartItem{
			{ProductID: "181503", SkuID: "181505", Name: "Men's Running Shirt", Quantity: 2, UnitPrice: price, PriceCurrencyCode: "EUR"},
			{ProductID: "34552", SkuID: "39912", Name: "Men's Training Shoe", Quantity: 1, UnitPrice: shoe, PriceCurrencyCode: "EUR"},
		}}
		s.Customer = model.Customer{CustomerReference: "b369f1235cf4f08153c560.82515936", Email: "devnull@nosto.com",
			FirstName: "Nosto", LastName: "Test", MarketingPermission: true}
		s.PageType = model.PageCart
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return visitor{id: id, cookie: model.CookieValue(id, time.Now().Unix()/86400)}
}
