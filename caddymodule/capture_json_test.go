package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// shopifyUpstream answers Shopify's Ajax Cart API from jsonmap's fixtures.
func shopifyUpstream(t *testing.T) *httptest.Server {
	cart, err := os.ReadFile("../internal/jsonmap/testdata/shopify_cart.json")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cart.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(cart)
	})
	mux.HandleFunc("PUT /v2/customer_sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"effects":[]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestCaptureShopifyCartJSON(t *testing.T) {
	up := shopifyUpstream(t)
	tester := newTester(t)
	tester.InitServer(siteConfigWith(`
		capture json shopify
		capture json talonone`, "reverse_proxy "+strings.TrimPrefix(up.URL, "http://"))+opsSite("", ""), "caddyfile")

	m := metricsText(t, tester)
	jsonBefore, htmlBefore := metricValue(m, jsonStoredMetric), metricValue(m, storedMetric)

	c := rawClient(t)
	_, want := fetch(t, c, "GET", up.URL+"/cart.js")
	_, got := fetch(t, c, "GET", "http://localhost:9080/cart.js")
	if string(got) != string(want) {
		t.Fatal("cart.js changed on its way through")
	}
	s := sessionOf(t, c)
	if s == nil || s["cart_token"] == nil || len(s["cart"].(map[string]any)["items"].([]any)) == 0 {
		t.Fatalf("Shopify cart not captured: %v", s)
	}

	// Talon.One: the session id comes from the URL, the cart from the body,
	// and the shop's backend gets no cookie.
	body := `{"customerSession":{"profileId":"c-77","state":"open","cartItems":[{"name":"Shoe","sku":"SKU1","quantity":2,"price":99.5}]}}`
	req, _ := http.NewRequest("PUT", "http://localhost:9080/v2/customer_sessions/talon-session-1", strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("talon PUT: %d, Set-Cookie %q", res.StatusCode, res.Header.Get("Set-Cookie"))
	}
	code, got2 := apiGet(t, tester, "talon-session-1")
	if code != 200 || len(got2.Cart.Items) != 1 || got2.Cart.Items[0]["unit_price"] != 99.5 || got2.Cart.Items[0]["quantity"] != 2.0 {
		t.Errorf("Talon.One body not captured: %d %+v", code, got2)
	}
	// A dry run is not captured.
	req, _ = http.NewRequest("PUT", "http://localhost:9080/v2/customer_sessions/talon-dry?dry=true", strings.NewReader(body))
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	if code, _ := apiGet(t, tester, "talon-dry"); code != 404 {
		t.Errorf("dry run captured: %d", code)
	}
	// cart.js and the Talon.One body count as JSON captures, not as pages.
	m = metricsText(t, tester)
	if metricValue(m, jsonStoredMetric) < jsonBefore+2 || metricValue(m, storedMetric) != htmlBefore {
		t.Errorf("captures by source: json %v (was %v), html %v (was %v)",
			metricValue(m, jsonStoredMetric), jsonBefore, metricValue(m, storedMetric), htmlBefore)
	}
}

func TestCaptureCustomJSONRoute(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/cart", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"cart":{"id":"cart-9","currency":"SEK","lines":[{"product":{"id":"p-1","title":"Mug"},"qty":3,"price":{"cents":4950}}]}}}`)
	})
	up := httptest.NewServer(mux)
	defer up.Close()
	tester := newTester(t)
	tester.InitServer(siteConfigWith(`
		capture json {
			route POST /api/cart response
			items data.cart.lines
			product_id product.id
			name product.title
			quantity qty
			unit_price price.cents
			price_divisor 100
			cart_currency data.cart.currency
			token data.cart.id
		}`, "reverse_proxy "+strings.TrimPrefix(up.URL, "http://"))+opsSite("", ""), "caddyfile")
	c := rawClient(t)
	fetch(t, c, "POST", "http://localhost:9080/api/cart")
	s := sessionOf(t, c)
	if s == nil {
		t.Fatal("nothing captured")
	}
	item := s["cart"].(map[string]any)["items"].([]any)[0].(map[string]any)
	if item["unit_price"] != 49.5 || item["quantity"] != 3.0 || item["price_currency_code"] != "SEK" || s["cart_token"] != "cart-9" {
		t.Errorf("custom mapping: %v token %v", item, s["cart_token"])
	}
}
