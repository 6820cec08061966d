package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// headerShop is a shop that answers 200 "shop" and keeps the headers of
// every request it gets.
type headerShop struct {
	mu   sync.Mutex
	seen []http.Header
}

func newHeaderShop(t *testing.T) (*headerShop, *httptest.Server) {
	hs := &headerShop{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.mu.Lock()
		hs.seen = append(hs.seen, r.Header.Clone())
		hs.mu.Unlock()
		io.WriteString(w, "shop")
	}))
	t.Cleanup(srv.Close)
	return hs, srv
}

// last is the headers of the last request the shop got.
func (hs *headerShop) last(t *testing.T) http.Header {
	t.Helper()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if len(hs.seen) == 0 {
		t.Fatal("the shop got no request")
	}
	return hs.seen[len(hs.seen)-1]
}

// TestControlCharacterInCampaignKeepsVisitorServed: one visit with
// ?utm_source=%01 must not make the visitor's later requests fail. Go's
// proxy refuses a header value with a control character, so a placeholder
// holding one answered every later request of the visitor with 502.
func TestControlCharacterInCampaignKeepsVisitorServed(t *testing.T) {
	hs, shop := newHeaderShop(t)
	tester := newTester(t)
	tester.InitServer(siteConfigWith("", `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Src {sessiontap.utm_source}
	}`)+opsSite("", ""), "caddyfile")
	c := rawClient(t)
	if res, _ := fetch(t, c, "GET", "http://localhost:9080/?utm_source=a%01b%7Fc%0Ad", "Sec-Fetch-Dest", "document"); res.StatusCode != 200 {
		t.Fatalf("the attack visit: %d", res.StatusCode)
	}
	res, body := fetch(t, c, "GET", "http://localhost:9080/next", "Sec-Fetch-Dest", "document")
	if res.StatusCode != 200 || string(body) != "shop" {
		t.Fatalf("the next request: %d %q, want the shop's 200", res.StatusCode, body)
	}
	if got := hs.last(t).Get("X-Src"); got != "a b c d" {
		t.Errorf("X-Src = %q, want the campaign with its control characters made spaces", got)
	}
}

// TestLandingPageSentKeepsOnlyCampaignParams: a landing page's query may
// carry a password-reset token or an email; what the webhook gets keeps
// only the campaign parameters.
func TestLandingPageSentKeepsOnlyCampaignParams(t *testing.T) {
	hook, srv := newBodyReceiver(t, true, "")
	tester := newTester(t)
	tester.InitServer(forwardConfig(srv.URL, "shop"), "caddyfile")
	do(t, tester, "GET", "http://localhost:9080/reset?token=s3cret&email=v%40example.com&utm_source=news&gclid=g1", "",
		"Sec-Fetch-Dest", "document")
	collect(t, tester, cartBody)
	body := hook.waitN(t, 1)[0]
	landing, _ := body.Decoded["enrichment"].(map[string]any)["landing_page"].(string)
	if landing != "/reset?utm_source=news&gclid=g1" {
		t.Errorf("landing_page sent = %q, want the path with utm_source and gclid only", landing)
	}
	for _, secret := range []string{"token", "s3cret", "example.com", "email"} {
		if strings.Contains(string(body.Body), secret) {
			t.Errorf("the webhook got %q: %s", secret, body.Body)
		}
	}
}

// TestUntrackedRequestsGetEmptyPlaceholders: a visitor who opted out
// (DNT, Sec-GPC, the opt-out cookie) has no session; the shop must get
// empty values, not the placeholders' literal text.
func TestUntrackedRequestsGetEmptyPlaceholders(t *testing.T) {
	hs, shop := newHeaderShop(t)
	tester := newTester(t)
	tester.InitServer(siteConfigWith(`
		opt_out_cookie no_tracking`, `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Session "id={sessiontap.id}"
		header_up X-Cart "count={sessiontap.cart.count}"
		header_up X-Login "in={sessiontap.customer.logged_in}"
		header_up X-Landing "page={sessiontap.landing_page}"
	}`)+opsSite("", ""), "caddyfile")
	optOuts := [][]string{{"DNT", "1"}, {"Sec-GPC", "1"}, {"Cookie", "no_tracking=1"}}
	for _, h := range optOuts {
		c := rawClient(t)
		if res, body := fetch(t, c, "GET", "http://localhost:9080/", h...); res.StatusCode != 200 || string(body) != "shop" {
			t.Fatalf("%s: %d %q", h[0], res.StatusCode, body)
		}
		got := hs.last(t)
		want := map[string]string{"X-Session": "id=", "X-Cart": "count=", "X-Login": "in=", "X-Landing": "page="}
		for name, w := range want {
			if got.Get(name) != w {
				t.Errorf("%s: the shop got %s %q, want %q", h[0], name, got.Get(name), w)
			}
		}
	}
	// A tracked visitor still gets them.
	c := rawClient(t)
	fetch(t, c, "GET", "http://localhost:9080/")
	if got := hs.last(t); len(got.Get("X-Session")) != len("id=")+22 || got.Get("X-Cart") != "count=0" {
		t.Errorf("tracked: X-Session %q X-Cart %q", got.Get("X-Session"), got.Get("X-Cart"))
	}
}
