package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

const twoItems = `{"cart":{"items":[
 {"product_id":"181503","sku_id":"181505","name":"Men's Running Shirt","quantity":2,"unit_price":123.45,"price_currency_code":"EUR"},
 {"product_id":"34552","sku_id":"39912","name":"Men's Training Shoe","quantity":1,"unit_price":999.00,"price_currency_code":"EUR"}]},
 "customer":{"customer_reference":"b369f1235cf4f08153c560.82515936","email":"devnull@nosto.com","first_name":"Nosto","last_name":"Test","newsletter":true},
 "page_type":"cart"}`

// visitor posts bodies to the collect endpoint with one session cookie.
type visitor struct {
	t      *testing.T
	h      *Handler
	cookie *http.Cookie
}

func newVisitor(t *testing.T, h *Handler) *visitor {
	return &visitor{t: t, h: h, cookie: &http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(model.NewID(), h.day())}}
}

func (v *visitor) post(body string) *httptest.ResponseRecorder {
	return serve(v.t, v.h, collectReq(body, v.cookie))
}

func TestCollectSemantics(t *testing.T) {
	h, store := newTestHandler(t, testConfig())
	v := newVisitor(t, h)

	got := decodeView(t, v.post(twoItems))
	if got.Version != 1 || len(got.Cart.Items) != 2 || got.PageType != model.PageCart {
		t.Fatalf("first collect: %+v", got)
	}
	it := got.Cart.Items[0]
	if it.UnitPrice.String() != "123.45" || it.Quantity != 2 || it.SkuID != "181505" || it.PriceCurrencyCode != "EUR" {
		t.Errorf("item: %+v", it)
	}
	if !got.Customer.MarketingPermission || got.Customer.Email != "devnull@nosto.com" {
		t.Errorf("customer (newsletter alias): %+v", got.Customer)
	}

	// Missing and null leave cart and customer untouched.
	for _, body := range []string{`{"page_type":"product"}`, `{"cart":null,"customer":null,"page_type":"product"}`} {
		got = decodeView(t, v.post(body))
		if len(got.Cart.Items) != 2 || got.Customer.Email == "" {
			t.Errorf("%s changed cart or customer: %+v", body, got)
		}
	}

	// A cart replaces the stored one 1:1.
	got = decodeView(t, v.post(`{"cart":{"items":[{"product_id":"9","quantity":3,"unit_price":0.1}]}}`))
	if len(got.Cart.Items) != 1 || got.Cart.Items[0].ProductID != "9" || got.Cart.Total().String() != "0.3" {
		t.Errorf("cart not replaced: %+v", got.Cart)
	}

	// {} resets.
	got = decodeView(t, v.post(`{"cart":{},"customer":{}}`))
	if len(got.Cart.Items) != 0 || !got.Customer.IsZero() {
		t.Errorf("{} did not reset: %+v", got)
	}
	stored, err := store.Get(context.Background(), got.ID)
	if err != nil || stored.Version != got.Version || len(stored.Cart.Items) != 0 {
		t.Errorf("stored %+v, %v; answered version %d", stored, err, got.Version)
	}
}

func TestCollectUnchangedKeepsVersion(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	v := newVisitor(t, h)
	first := decodeView(t, v.post(twoItems))
	again := decodeView(t, v.post(twoItems))
	if again.Version != first.Version {
		t.Errorf("an identical collect moved the version %d → %d", first.Version, again.Version)
	}
}

func TestMarketingPermissionDefaultsFalse(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	got := decodeView(t, newVisitor(t, h).post(`{"customer":{"customer_reference":"c1"}}`))
	if got.Customer.MarketingPermission {
		t.Error("marketing permission without consent")
	}
}

func TestCollectRejects(t *testing.T) {
	item := func(fields string) string {
		return `{"cart":{"items":[{"product_id":"1","quantity":1,"unit_price":1},{` + fields + `}]}}`
	}
	manyItems := `{"cart":{"items":[` + strings.TrimSuffix(strings.Repeat(`{"product_id":"1","quantity":1,"unit_price":1},`, 1001), ",") + `]}}`
	cases := []struct{ name, body, field string }{
		{"bad JSON", `{"cart":`, "body"},
		{"not an object", `[1,2]`, "body"},
		{"empty body", ``, "body"},
		{"cart wrong type", `{"cart":[1]}`, "cart"},
		{"items wrong type", `{"cart":{"items":"all"}}`, "cart.items"},
		{"over 1000 items", manyItems, "cart.items"},
		{"item not an object", `{"cart":{"items":[7]}}`, "cart.items[0]"},
		{"quantity zero", item(`"product_id":"2","quantity":0,"unit_price":1`), "cart.items[1].quantity"},
		{"quantity negative", item(`"product_id":"2","quantity":-1,"unit_price":1`), "cart.items[1].quantity"},
		{"quantity fraction", item(`"product_id":"2","quantity":1.5,"unit_price":1`), "cart.items[1].quantity"},
		{"quantity string", item(`"product_id":"2","quantity":"2","unit_price":1`), "cart.items[1].quantity"},
		{"quantity missing", item(`"product_id":"2","unit_price":1`), "cart.items[1].quantity"},
		{"price negative", item(`"product_id":"2","quantity":1,"unit_price":-0.01`), "cart.items[1].unit_price"},
		{"price string", item(`"product_id":"2","quantity":1,"unit_price":"1"`), "cart.items[1].unit_price"},
		{"price exponent", item(`"product_id":"2","quantity":1,"unit_price":1e3`), "cart.items[1].unit_price"},
		{"price missing", item(`"product_id":"2","quantity":1`), "cart.items[1].unit_price"},
		{"product id missing", item(`"quantity":1,"unit_price":1`), "cart.items[1].product_id"},
		{"product id number", item(`"product_id":2,"quantity":1,"unit_price":1`), "cart.items[1].product_id"},
		{"currency", item(`"product_id":"2","quantity":1,"unit_price":1,"price_currency_code":"euro"`), "cart.items[1].price_currency_code"},
		{"customer wrong type", `{"customer":"me"}`, "customer"},
		{"email", `{"customer":{"email":"not an email"}}`, "customer.email"},
		{"permission string", `{"customer":{"marketing_permission":"yes"}}`, "customer.marketing_permission"},
		{"page type unknown", `{"page_type":"landing"}`, "page_type"},
		{"page type number", `{"page_type":3}`, "page_type"},
		{"action unknown", `{"action":"buyEverything"}`, "action"},
		// A body whose meaning depends on the parser is refused.
		{"duplicate key", `{"cart":"x","cart":{"items":[]}}`, "cart"},
		{"duplicate item key", item(`"product_id":"2","product_id":"3","quantity":1,"unit_price":1`), "cart.items[1].product_id"},
		{"name not UTF-8", item("\"product_id\":\"2\",\"name\":\"a\xffb\",\"quantity\":1,\"unit_price\":1"), "cart.items[1].name"},
		{"name lone surrogate", item(`"product_id":"2","name":"a\ud800b","quantity":1,"unit_price":1`), "cart.items[1].name"},
		{"email lone surrogate", `{"customer":{"email":"a\udfff@example.com"}}`, "customer.email"},
		{"control character", item(`"product_id":"2","name":"a\u0007b","quantity":1,"unit_price":1`), "cart.items[1].name"},
		{"id with a tab", item(`"product_id":"2\t3","quantity":1,"unit_price":1`), "cart.items[1].product_id"},
	}
	cfg := testConfig()
	cfg.CollectBody = 64 << 10 // room for 1001 items: the item bound is tested, not the body's
	h, store := newTestHandler(t, cfg)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVisitor(t, h)
			w := v.post(tc.body)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", w.Code, w.Body)
			}
			var e struct{ Error, Field string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Field != tc.field || !strings.HasPrefix(e.Error, tc.field+": ") {
				t.Errorf("field %q error %q, want field %q", e.Field, e.Error, tc.field)
			}
			id, _, _ := model.ParseCookieValue(v.cookie.Value)
			if _, err := store.Get(context.Background(), id); err != cache.ErrNotFound {
				t.Errorf("something was stored: %v", err)
			}
		})
	}
}

func TestCollectErrorsDoNotEchoPersonalData(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	w := newVisitor(t, h).post(`{"customer":{"email":"jane doe@example.com","first_name":"Jane"}}`)
	if w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "jane") {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

func TestCollectMethodNotAllowed(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		w := serve(t, h, httptest.NewRequest(m, "/_sessiontap/collect", nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
			t.Errorf("%s: %d Allow=%q", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

func TestCollectRefusesCrossSite(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	r := collectReq(twoItems)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if w := serve(t, h, r); w.Code != http.StatusForbidden {
		t.Errorf("cross-site collect: %d", w.Code)
	}
}

func TestCollectConcurrentWritesKeepEveryVersion(t *testing.T) {
	h, store := newTestHandler(t, testConfig())
	v := newVisitor(t, h)
	const n = 40
	done := make(chan int, n)
	for i := range n {
		go func() {
			w := httptest.NewRecorder()
			body := fmt.Sprintf(`{"cart":{"items":[{"product_id":"p%d","quantity":1,"unit_price":1}]}}`, i)
			_ = serveNow(h, w, collectReq(body, v.cookie), &shopNext{})
			done <- w.Code
		}()
	}
	for range n {
		if code := <-done; code != http.StatusOK {
			t.Errorf("status %d", code)
		}
	}
	id, _, _ := model.ParseCookieValue(v.cookie.Value)
	s, err := store.Get(context.Background(), id)
	if err != nil || s.Version != n {
		t.Errorf("version %v after %d distinct writes (%v)", s, n, err)
	}
}

func TestPublishReportsWhatChanged(t *testing.T) {
	cfg := testConfig()
	var got []model.Change
	var versions []uint64
	cfg.Publish = func(_ context.Context, c model.SessionChange) {
		got = append(got, c.Entry.Changes)
		versions = append(versions, c.Session.Version)
		if c.Entry.Version != c.Session.Version || c.Entry.Source != model.SourceCollect {
			t.Errorf("change %+v of version %d: want the entry of that version, from collect", c.Entry, c.Session.Version)
		}
	}
	h, _ := newTestHandler(t, cfg)
	v := newVisitor(t, h)
	v.post(`{"cart":{"items":[{"product_id":"1","quantity":1,"unit_price":1}]}}`)
	v.post(`{"cart":{"items":[{"product_id":"1","quantity":1,"unit_price":1}]}}`) // no change: no call
	v.post(`{"page_type":"product"}`)
	v.post(`{"customer":{"customer_reference":"c1"},"page_type":"cart"}`)
	want := []model.Change{model.ChangeCart, model.ChangeAction, model.ChangeCustomer | model.ChangeAction}
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(versions) != "[1 2 3]" {
		t.Errorf("changes %v versions %v, want %v [1 2 3]", got, versions, want)
	}
}

// OnSession hears every write a request makes, unchanged ones too, with
// the request's own context.
func TestOnSessionSeesEveryWrite(t *testing.T) {
	cfg := testConfig()
	type ctxKey struct{}
	var versions []uint64
	cfg.OnSession = func(ctx context.Context, s *model.Session) {
		if ctx.Value(ctxKey{}) == nil {
			t.Error("OnSession got another context than the request's")
		}
		versions = append(versions, s.Version)
	}
	h, _ := newTestHandler(t, cfg)
	v := newVisitor(t, h)
	body := `{"cart":{"items":[{"product_id":"1","quantity":1,"unit_price":1}]}}`
	for range 2 { // the second changes nothing: still told, at the same version
		r := collectReq(body, v.cookie)
		serve(t, h, r.WithContext(context.WithValue(r.Context(), ctxKey{}, true)))
	}
	if fmt.Sprint(versions) != "[1 1]" {
		t.Errorf("versions %v, want [1 1]", versions)
	}
}

// A collect that would take the session past MaxEncodedSize is refused
// with 413 and stores nothing.
func TestCollectRefusesOversizedSession(t *testing.T) {
	h, store := newTestHandler(t, testConfig())
	v := newVisitor(t, h)
	id, _, _ := model.ParseCookieValue(v.cookie.Value)
	// Orders are kept across collects; one near the bound leaves no room.
	_, err := store.Update(context.Background(), id, func(s *model.Session) error {
		s.Orders = []model.Order{{OrderNumber: "o1", Items: []model.CartItem{
			{ProductID: "p", Quantity: 1, Name: strings.Repeat("x", model.MaxEncodedSize-2048)}}}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	item := `{"product_id":"1","quantity":1,"unit_price":1,"name":"` + strings.Repeat("y", 1000) + `"}`
	w := v.post(`{"cart":{"items":[` + strings.TrimSuffix(strings.Repeat(item+",", 4), ",") + `]}}`)
	if w.Code != http.StatusRequestEntityTooLarge || !strings.Contains(w.Body.String(), "larger than") {
		t.Fatalf("oversized: %d %s", w.Code, w.Body)
	}
	if s, _ := store.Get(context.Background(), id); s.Version != 1 || len(s.Cart.Items) != 0 {
		t.Errorf("the refused collect was stored: version %d, %d items", s.Version, len(s.Cart.Items))
	}
}
