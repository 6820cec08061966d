package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestPlaceholdersReachTheShop: {sessiontap.*} placeholders go to the shop
// through header_up, and the client address is never stored in full.
func TestPlaceholdersReachTheShop(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		io.WriteString(w, "shop")
	}))
	defer shop.Close()
	for _, mode := range []string{"truncate", "hash"} {
		tester := newTester(t)
		tester.InitServer(siteConfigWith(`
		hide_ip `+mode+`
		hmac_key test-hmac`, `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Session {sessiontap.id}
		header_up X-Views {sessiontap.page_views}
		header_up X-Campaign {sessiontap.utm_campaign}
	}`)+opsSite("", ""), "caddyfile")
		c := rawClient(t)
		fetch(t, c, "GET", "http://localhost:9080/?utm_campaign=spring", "Sec-Fetch-Dest", "document")
		fetch(t, c, "GET", "http://localhost:9080/next", "Sec-Fetch-Dest", "document")
		mu.Lock()
		last := seen[len(seen)-1]
		mu.Unlock()
		s := sessionOf(t, c)
		if last.Get("X-Session") != s["id"] || last.Get("X-Views") != "1" || last.Get("X-Campaign") != "spring" {
			t.Errorf("%s: shop got X-Session %q X-Views %q X-Campaign %q (session %v)", mode,
				last.Get("X-Session"), last.Get("X-Views"), last.Get("X-Campaign"), s["id"])
		}
		e := s["enrichment"].(map[string]any)
		ip, _ := e["client_ip"].(string)
		if ip == "" || strings.Contains(ip, "127.0.0.1") || strings.Contains(ip, "::1") {
			t.Errorf("hide_ip %s stored %q", mode, ip)
		}
		if e["page_views"] != 2.0 {
			t.Errorf("page views %v", e["page_views"])
		}
	}
}
