//go:build linux

package fleettest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Shop is the upstream behind every node:
//
//	GET  /page/{n}      an HTML product page (~7 KiB) with Nosto tagging: page
//	                    type product, product n, a cart of one line of n; every
//	                    answer differs (a serial), kept by Served(X-Shop-Serial)
//	POST /cart/add.js   Shopify's answer to adding product n (form id=n): the
//	                    added line alone, as the shopify capture preset reads it
//	GET  /plain         text/plain "plain", no tagging
type Shop struct {
	*httptest.Server
	serial atomic.Int64
	served sync.Map // serial string -> []byte
}

// StartShop starts the shop, closed when the test ends.
func StartShop(t testing.TB) *Shop {
	s := new(Shop)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /page/{n}", s.page)
	mux.HandleFunc("POST /cart/add.js", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.FormValue("id"))
		if err != nil || n <= 0 {
			http.Error(w, `{"status":422}`, 422)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%d,"quantity":1,"variant_id":%d,"title":"Item %d - M","price":1999,`+
			`"product_id":%d,"product_title":"Item %d"}`, 900000+n, 900000+n, n, n, n)
	})
	mux.HandleFunc("GET /plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("plain"))
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

var filler = strings.Repeat("<p>Light, breathable shirt with flat seams for long runs. Machine washable.</p>\n", 80)

func (s *Shop) page(w http.ResponseWriter, r *http.Request) {
	n := r.PathValue("n")
	serial := strconv.FormatInt(s.serial.Add(1), 10)
	body := []byte(`<!doctype html><html><head><title>Item ` + n + `</title></head><body>
<div class="nosto_page_type" style="display:none">product</div>
<div class="nosto_product" style="display:none"><span class="product_id">` + n + `</span><span class="name">Item ` + n +
		`</span><span class="price">19.99</span><span class="price_currency_code">EUR</span><span class="availability">InStock</span></div>
<div class="nosto_cart" style="display:none"><div class="line_item"><span class="product_id">` + n +
		`</span><span class="quantity">1</span><span class="unit_price">19.99</span><span class="price_currency_code">EUR</span><span class="name">Item ` + n + `</span></div></div>
<main><h1>Item ` + n + `</h1>` + filler + `<p>serial ` + serial + `</p></main></body></html>
`)
	s.served.Store(serial, body)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-cache")
	w.Header().Set("X-Shop-Serial", serial)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// Served is the body the shop sent with that X-Shop-Serial, nil if none.
func (s *Shop) Served(serial string) []byte {
	b, _ := s.served.Load(serial)
	body, _ := b.([]byte)
	return body
}

// HostPort is the shop's address for reverse_proxy.
func (s *Shop) HostPort() string { return strings.TrimPrefix(s.URL, "http://") }

// Session is what the operator API shows of a session, as far as the
// tests look.
type Session struct {
	ID       string `json:"id"`
	Version  uint64 `json:"version"`
	Cart     Cart   `json:"cart"`
	Customer struct {
		CustomerReference string `json:"customer_reference"`
	} `json:"customer"`
	PageType   string `json:"page_type"`
	Enrichment struct {
		PageViews int `json:"page_views"`
	} `json:"enrichment"`
}

// Cart is a session's cart.
type Cart struct {
	Items []Item `json:"items"`
}

// Item is a cart line.
type Item struct {
	ProductID string      `json:"product_id"`
	SkuID     string      `json:"sku_id"`
	Name      string      `json:"name"`
	Quantity  int         `json:"quantity"`
	UnitPrice json.Number `json:"unit_price"`
}

// Session reads a session through the node's API: the status, and the
// session when it is 200.
func (n *Node) Session(t testing.TB, id string) (int, Session) {
	t.Helper()
	code, b := n.API(t, "GET", "/sessions/"+id)
	var s Session
	if code == 200 {
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("node %s: session %s: %v: %s", n.Name, id, err, b)
		}
	}
	return code, s
}

// CookieName is sessiontap's default cookie.
const CookieName = "sessiontap_id"

// SessionCookie is the value of our cookie in res, "" if none was set.
func SessionCookie(res *http.Response) string {
	for _, c := range res.Cookies() {
		if c.Name == CookieName {
			return c.Value
		}
	}
	return ""
}

// CookieHeader is the Cookie header for a visitor with that cookie value.
func CookieHeader(value string) string { return CookieName + "=" + value }

// Poll calls f until it reports true or within is over, and says which.
func Poll(within time.Duration, f func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
