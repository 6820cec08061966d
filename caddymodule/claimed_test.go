package caddymodule

import (
	"strings"
	"testing"
)

// TestClaimedCustomerIsNobody: a browser that posts someone else's
// customer reference to the collect endpoint must not become that
// customer anywhere: Talon.One gets a guest session (no profileId, so no
// customer-specific effects), the shop's placeholders say not logged in,
// and the webhook, the shop's own endpoint, gets the claim marked as one.
func TestClaimedCustomerIsNobody(t *testing.T) {
	talon, talonSrv := newBodyReceiver(t, false, `{"effects":[]}`)
	hook, hookSrv := newBodyReceiver(t, true, "")
	hs, shop := newHeaderShop(t)
	tester := newTester(t)
	tester.InitServer(siteConfigWith(`
		hmac_key test-hmac
		forward talonone `+talonSrv.URL+` {
			api_key talon-key
		}
		forward webhook `+hookSrv.URL+` {
			secret whsec
		}`, `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Logged-In {sessiontap.customer.logged_in}
		header_up X-Ref "ref={sessiontap.customer.ref_hash}"
	}`)+opsSite("", ""), "caddyfile")
	collect(t, tester, `{"customer":{"customer_reference":"victim","email":"v@example.com","marketing_permission":true},`+
		`"cart":{"items":[{"product_id":"p","quantity":1,"unit_price":1}]}}`)

	r := talon.waitN(t, 1)[0]
	cs, _ := r.Decoded["customerSession"].(map[string]any)
	if cs == nil || cs["profileId"] != "" {
		t.Errorf("Talon.One got profileId %v for a claimed customer: %s", cs["profileId"], r.Body)
	}
	w := hook.waitN(t, 1)[0]
	cust, _ := w.Decoded["customer"].(map[string]any)
	if cust["verified"] != false || cust["customer_reference"] != "victim" {
		t.Errorf("webhook customer %v, want the claim with verified false", cust)
	}
	do(t, tester, "GET", "http://localhost:9080/", "")
	if got := hs.last(t); got.Get("X-Logged-In") != "false" || got.Get("X-Ref") != "ref=" {
		t.Errorf("the shop got X-Logged-In %q X-Ref %q, want false and no hash", got.Get("X-Logged-In"), got.Get("X-Ref"))
	}
}
