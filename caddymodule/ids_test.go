package caddymodule

import (
	"strings"
	"testing"
)

// TestDotShopSessionIDRefused: a shop session cookie of ".." is no session
// id. Taken as one, it would reach Talon.One as /v2/customer_sessions/..,
// a path that names another resource.
func TestDotShopSessionIDRefused(t *testing.T) {
	hs, shop := newHeaderShop(t)
	talon, talonSrv := newBodyReceiver(t, false, `{"effects":[]}`)
	tester := newTester(t)
	tester.InitServer(siteConfigWith(`
		session cookie shopsid
		hmac_key test-hmac
		forward talonone `+talonSrv.URL+` {
			api_key talon-key
		}
		api /_sessiontap/api {
			key test-key
		}`, `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Session {sessiontap.id}
	}`), "caddyfile")
	for _, dots := range []string{"..", ".", "..."} {
		c := rawClient(t)
		res, _ := fetch(t, c, "GET", "http://localhost:9080/", "Cookie", "shopsid="+dots)
		if got := hs.last(t).Get("X-Session"); got == dots || len(got) != 22 {
			t.Errorf("shop cookie %q: the session id is %q, want one of ours", dots, got)
		}
		if !strings.HasPrefix(res.Header.Get("Set-Cookie"), "sessiontap_id=") {
			t.Errorf("shop cookie %q: no cookie of ours set: %q", dots, res.Header.Get("Set-Cookie"))
		}
		tester.Client.Jar = nil // a new visitor, with only the shop's cookie
		collect(t, tester, cartBody, "Cookie", "shopsid="+dots)
	}
	for _, r := range talon.waitN(t, 3) {
		id := strings.TrimPrefix(r.Path, "/v2/customer_sessions/")
		if strings.Trim(id, ".") == "" || strings.Contains(r.Path, "/.") {
			t.Errorf("Talon.One got %s", r.Path)
		}
	}
}
