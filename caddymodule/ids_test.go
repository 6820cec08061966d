package caddymodule

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
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
		}`, `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Session {sessiontap.id}
	}`)+opsSite("", ""), "caddyfile")
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

// ownID is the visitor's session id: our cookie's value before the '.'.
func ownID(t *testing.T, tester *caddytest.Tester) string {
	t.Helper()
	for _, ck := range tester.Client.Jar.Cookies(mustURL("http://localhost:9080/")) {
		if ck.Name == "sessiontap_id" {
			id, _, _ := strings.Cut(ck.Value, ".")
			return id
		}
	}
	t.Fatal("no cookie of ours")
	return ""
}

// TestRawIDsStayHome: our session id is the key to a visitor's session.
// Talon.One, the webhook and the access log get a stable pseudonym of it,
// never the id itself.
func TestRawIDsStayHome(t *testing.T) {
	talon, talonSrv := newBodyReceiver(t, false, `{"effects":[]}`)
	hook, hookSrv := newBodyReceiver(t, true, "")
	logPath := filepath.Join(t.TempDir(), "access.log")
	tester := newTester(t)
	tester.InitServer(globalOptions+`
http://localhost:9080 {
	log {
		output file `+logPath+`
		format json
	}
	sessiontap {
		hmac_key test-hmac
		forward talonone `+talonSrv.URL+` {
			api_key talon-key
		}
		forward webhook `+hookSrv.URL+` {
			secret whsec
		}
	}
	respond "shop"
}
`, "caddyfile")
	do(t, tester, "GET", "http://localhost:9080/", "")
	raw := ownID(t, tester)
	for q := 1; q <= 2; q++ {
		// Not collect(): it reads the session back through the API, whose
		// URL names the raw id in the access log, as an operator's would.
		body := fmt.Sprintf(`{"cart":{"items":[{"product_id":"p","quantity":%d,"unit_price":1}]}}`, q)
		if res, out := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", body, "Content-Type", "application/json"); res.StatusCode != 200 {
			t.Fatalf("collect: %d %s", res.StatusCode, out)
		}
	}

	// The pseudonym as documented: base64url(HMAC-SHA256(hmac_key,
	// "session:"+id)), 192 bits.
	want := delivery.NewPseudonyms([]byte("test-hmac")).SessionID(raw)
	for i, r := range talon.waitN(t, 2) {
		if r.Path != "/v2/customer_sessions/"+want || strings.Contains(r.Path, raw) {
			t.Errorf("Talon.One update %d: %s, want the pseudonym %s of %s", i+1, r.Path, want, raw)
		}
	}
	for i, r := range hook.waitN(t, 2) {
		if r.Decoded["session_id"] != want || strings.Contains(string(r.Body), raw) {
			t.Errorf("webhook update %d: session_id %v, want the pseudonym %s of %s", i+1, r.Decoded["session_id"], want, raw)
		}
	}
	var lines []accessLine
	waitFor(t, "the access log", func() bool {
		lines = readAccessLog(t, logPath, "/", "/_sessiontap/collect")
		return len(lines) >= 3
	})
	for _, l := range lines {
		if l.SessionID != want {
			t.Errorf("access log %s: sessiontap_id %q, want the pseudonym %s of %s", l.Request.URI, l.SessionID, want, raw)
		}
	}
	b, _ := os.ReadFile(logPath)
	if strings.Contains(string(b), raw) {
		t.Error("the raw session id is in the access log")
	}
}
