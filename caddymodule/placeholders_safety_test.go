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
	tester.InitServer(siteConfigWith(`
		api /_sessiontap/api {
			key test-key
		}`, `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Src {sessiontap.utm_source}
	}`), "caddyfile")
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
