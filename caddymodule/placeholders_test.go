package caddymodule

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// TestPlaceholdersInMatchersHeadersAndLogs: the session's placeholders
// drive a vars matcher, reach a deferred response header, and go into the
// access log with log_append, next to the session's pseudonym sessiontap
// adds.
func TestPlaceholdersInMatchersHeadersAndLogs(t *testing.T) {
	up := cartShop(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	tester := newTester(t)
	tester.InitServer(globalOptions+`
http://localhost:9080 {
	log {
		output file `+logPath+`
		format json
	}
	log_append cart_count {sessiontap.cart.count}
	sessiontap
	# Deferred: set when the response is written, after sessiontap ran.
	header >X-Cart-Count {sessiontap.cart.count}
	@emptyCheckout {
		path /checkout
		vars {sessiontap.cart.count} 0
	}
	respond @emptyCheckout "your cart is empty" 409
	reverse_proxy `+strings.TrimPrefix(up.URL, "http://")+`
}
`+opsSite("", ""), "caddyfile")

	c := rawClient(t)
	res, body := fetch(t, c, "GET", "http://localhost:9080/checkout")
	if res.StatusCode != 409 || string(body) != "your cart is empty" || res.Header.Get("X-Cart-Count") != "0" {
		t.Fatalf("empty cart: %d %q X-Cart-Count %q", res.StatusCode, body, res.Header.Get("X-Cart-Count"))
	}
	// The page's tagging puts one item in the cart.
	fetch(t, c, "GET", "http://localhost:9080/cart")
	res, body = fetch(t, c, "GET", "http://localhost:9080/checkout")
	if res.StatusCode != 200 || !strings.Contains(string(body), "nosto_cart") || res.Header.Get("X-Cart-Count") != "1" {
		t.Fatalf("full cart: %d X-Cart-Count %q", res.StatusCode, res.Header.Get("X-Cart-Count"))
	}

	// The access log gets the session's pseudonym, not its id (under the
	// key the store keeps: no hmac_key is set).
	id := storePseudonyms(t, "default").Of(sessionOf(t, c)["id"].(string))
	var lines []accessLine
	waitFor(t, "three access log lines", func() bool {
		lines = readAccessLog(t, logPath, "/checkout", "/cart")
		return len(lines) >= 3
	})
	// log_append runs after the handlers, so /cart logs the cart it captured.
	want := []string{"0", "1", "1"}
	for i, l := range lines[:3] {
		if l.SessionID != id || l.CartCount != want[i] {
			t.Errorf("log line %d (%s): sessiontap_id %q cart_count %q, want %q %q", i, l.Request.URI,
				l.SessionID, l.CartCount, id, want[i])
		}
	}
}

type accessLine struct {
	Request struct {
		URI string `json:"uri"`
	} `json:"request"`
	SessionID string `json:"sessiontap_id"`
	CartCount string `json:"cart_count"`
}

// readAccessLog returns the access log's lines for the given paths.
func readAccessLog(t *testing.T, path string, uris ...string) []accessLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []accessLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l accessLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		for _, u := range uris {
			if l.Request.URI == u {
				out = append(out, l)
			}
		}
	}
	return out
}

// Every placeholder of the README's table, from one session, and what
// makes a value safe for a header line.
func TestSessionPlaceholderValues(t *testing.T) {
	hasher := delivery.NewHasher("k")
	s := &model.Session{
		Version:   3,
		PageType:  model.PageCart,
		State:     model.StateOpen,
		Variation: "EUR",
		Cart: model.Cart{Items: []model.CartItem{
			{ProductID: "a", Quantity: 2, UnitPrice: 123_450_000, PriceCurrencyCode: "EUR"},
			{ProductID: "b", Quantity: 1, UnitPrice: 1_000_000, PriceCurrencyCode: "EUR"},
		}},
		Customer: model.Customer{CustomerReference: "c-1", Verified: true},
		Effects:  json.RawMessage("[\n  {\"effectType\": \"setDiscount\"}\n]"),
		Enrichment: model.Enrichment{PageViews: 4, LandingPage: "/shoes?utm_source=news",
			Campaign: model.Campaign{Source: "news", Medium: "email", Name: "spring"}},
	}
	want := map[string]string{
		"version": "3", "page_type": "cart", "cart.count": "3", "cart.total": "247.9", "cart.currency": "EUR",
		"effects": `[{"effectType":"setDiscount"}]`, "customer.ref_hash": hasher.Hash("c-1"),
		"customer.logged_in": "true", "state": "open", "variation": "EUR", "page_views": "4",
		"landing_page": "/shoes?utm_source=news", "utm_source": "news", "utm_medium": "email", "utm_campaign": "spring",
	}
	for name, w := range want {
		if got, ok := sessionPlaceholder(s, name, hasher); !ok || got != w {
			t.Errorf("{sessiontap.%s} = %v, %v; want %q", name, got, ok, w)
		}
	}
	if _, ok := sessionPlaceholder(s, "nope", hasher); ok {
		t.Error("an unknown name was answered")
	}
	// Before the first write: a session with nothing in it.
	if got, _ := sessionPlaceholder(nil, "cart.count", hasher); got != "0" {
		t.Errorf("cart.count of no session = %v", got)
	}
	if got, _ := sessionPlaceholder(nil, "customer.ref_hash", hasher); got != "" {
		t.Errorf("ref_hash of no session = %v", got)
	}

	// A customer only a browser claimed is no login, and has no hash.
	claimed := *s
	claimed.Customer.Verified = false
	for name, w := range map[string]string{"customer.logged_in": "false", "customer.ref_hash": ""} {
		if got, _ := sessionPlaceholder(&claimed, name, hasher); got != w {
			t.Errorf("claimed customer: {sessiontap.%s} = %v, want %q", name, got, w)
		}
	}

	// A landing page is the visitor's input: it must not split a header.
	s.Enrichment.LandingPage = "/a\r\nSet-Cookie: x=1\x00" + strings.Repeat("y", 2*maxPlaceholder)
	got, _ := sessionPlaceholder(s, "landing_page", hasher)
	if v := got.(string); strings.ContainsAny(v, "\r\n\x00") || len(v) != maxPlaceholder || !strings.HasPrefix(v, "/a  Set-Cookie: x=1 ") {
		t.Errorf("unsafe header value: %.40q (%d bytes)", v, len(v))
	}
	// Every other control character breaks a header line too (Go's client
	// refuses the request): each becomes a space.
	s.Enrichment.Campaign.Source = "a\x01b\x1bc\x7fd\te"
	if got, _ := sessionPlaceholder(s, "utm_source", hasher); got != "a b c d e" {
		t.Errorf("utm_source with control characters = %q", got)
	}
	// Effects too long for a header are left out, not cut into bad JSON.
	s.Effects = json.RawMessage(`["` + strings.Repeat("e", maxPlaceholder) + `"]`)
	if got, _ := sessionPlaceholder(s, "effects", hasher); got != "" {
		t.Errorf("oversized effects gave %d bytes", len(got.(string)))
	}
}
