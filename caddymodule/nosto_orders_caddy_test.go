package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/internal/spectest"
)

// nostoReceiver is a fake Nosto that checks every request against the
// schema of Nosto's GraphQL API (testdata/specs/nosto-graphql.graphql) and
// records placeOrder's variables and Idempotency-Keys. slow holds the
// first placeOrder's answer past the sink's timeout: Nosto took it, the
// sink did not hear so, and delivers it again.
type nostoReceiver struct {
	mu     sync.Mutex
	places []nostoPlace
	slow   time.Duration
}

type nostoPlace struct {
	key  string
	vars map[string]any
}

func newNostoReceiver(t *testing.T, slow time.Duration) (*nostoReceiver, *httptest.Server) {
	schema := spectest.NostoSchema(t)
	rc := &nostoReceiver{slow: slow}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _, err := spectest.ValidateGraphQL(schema, body)
		if err != nil {
			t.Errorf("fake Nosto: %v\n%s", err, body)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if strings.Contains(req.Query, "placeOrder(") {
			rc.mu.Lock()
			rc.places = append(rc.places, nostoPlace{key: r.Header.Get("Idempotency-Key"), vars: req.Variables})
			first := len(rc.places) == 1
			rc.mu.Unlock()
			if first && rc.slow > 0 {
				time.Sleep(rc.slow)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"result":{"id":"5b1a481060b221115c4a251e"}}}`)
	}))
	t.Cleanup(srv.Close)
	return rc, srv
}

func (rc *nostoReceiver) placed() []nostoPlace {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]nostoPlace(nil), rc.places...)
}

// orderPage is an order confirmation page as the shop renders it: the
// signed-in customer and the order, tagged for Nosto.
const orderPage = `<html><body><div class="nosto_page_type">order</div>
<div class="nosto_customer" style="display:none"><span class="customer_reference">cust-4711</span><span class="email">jane@example.com</span></div>
<div class="nosto_purchase_order" style="display:none"><span class="order_number">100042</span>
<span class="order_status_code">pending</span><span class="payment_provider">klarna</span>
<div class="buyer"><span class="email">jane@example.com</span><span class="first_name">Jane</span><span class="marketing_permission">false</span></div>
<div class="purchased_items"><div class="line_item"><span class="product_id">181503</span><span class="quantity">2</span>
<span class="name">Running Shirt</span><span class="unit_price">19.90</span><span class="price_currency_code">EUR</span></div></div></div>
</body></html>`

// An order page through the proxy reaches Nosto as one schema-valid
// placeOrder by the hashed customer reference, without personal data;
// when the sink does not hear Nosto's answer in time, it sends the order
// again with the same Idempotency-Key, so that the redelivery is
// recognisable.
func TestNostoOrderThroughCaddy(t *testing.T) {
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, orderPage)
	}))
	t.Cleanup(shop.Close)
	rc, nosto := newNostoReceiver(t, 1500*time.Millisecond)
	tester := newTester(t)
	tester.InitServer(siteConfigWith(fmt.Sprintf(`
		forward nosto %s {
			token nosto-test-token
		}
		hmac_key %s
		delivery {
			timeout 1s
			max_backoff 100ms
		}`, nosto.URL, testHMACKey), "reverse_proxy "+strings.TrimPrefix(shop.URL, "http://"))+opsSite("", ""), "caddyfile")
	res, body := fetch(t, rawClient(t), "GET", "http://localhost:9080/checkout/success", "Sec-Fetch-Dest", "document")
	if res.StatusCode != 200 || string(body) != orderPage {
		t.Fatalf("the order page did not reach the visitor as sent: %d", res.StatusCode)
	}
	waitFor(t, "the order sent again after the timeout", func() bool { return len(rc.placed()) >= 2 })
	places := rc.placed()
	v := places[0].vars
	if v["by"] != "BY_REF" || v["id"] != delivery.NewHasher(testHMACKey).Hash("cust-4711") || v["number"] != "100042" ||
		v["orderStatus"] != "pending" || v["paymentProvider"] != "klarna" {
		t.Errorf("placeOrder variables: %v", v)
	}
	items, _ := v["purchasedItems"].([]any)
	if len(items) != 1 || !strings.Contains(fmt.Sprint(items[0]), "181503") {
		t.Errorf("purchasedItems: %v", v["purchasedItems"])
	}
	if s := fmt.Sprint(v); strings.Contains(s, "jane@example.com") || strings.Contains(s, "Jane") || strings.Contains(s, "cust-4711") {
		t.Errorf("placeOrder carries personal data without marketing permission: %v", v)
	}
	if places[0].key == "" || places[1].key != places[0].key {
		t.Errorf("the redelivery's Idempotency-Key %q, the first's %q: want the same", places[1].key, places[0].key)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(rc.placed()); n != 2 {
		t.Errorf("placeOrder sent %d times, want the first and one redelivery", n)
	}
}
