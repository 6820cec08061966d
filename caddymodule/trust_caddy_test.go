package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/handler"
	"github.com/sessiontap/caddy-sessiontap/model"
)

const planted = "AAAAAAAAAAAAAAAAAAAAAA"

// postJSON posts body to collect with c's cookies and the given headers.
func postJSON(t *testing.T, c *http.Client, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://localhost:9080/_sessiontap/collect", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The attack: an attacker who can set a cookie for the shop's domain (a
// sibling subdomain) plants an id, waits for the victim to shop and log in
// under it, and reads the customer back through collect.
func TestPlantedSessionIDIsNoKeyToTheCustomer(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "shop page"), "caddyfile")

	victim := rawClient(t)
	victim.Jar.SetCookies(mustURL("http://localhost:9080/"), []*http.Cookie{{Name: "sessiontap_id", Value: planted + ".0"}})
	res, _ := fetch(t, victim, "GET", "http://localhost:9080/")
	setCookie := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(setCookie, "sessiontap_id=") || strings.Contains(setCookie, planted) {
		t.Fatalf("the planted id was kept or re-stamped: Set-Cookie %q", setCookie)
	}
	if res, body := postJSON(t, victim, `{"customer":{"customer_reference":"victim-ref","email":"victim@example.com","first_name":"Vic"}}`); res.StatusCode != 200 {
		t.Fatalf("victim's collect: %d %s", res.StatusCode, body)
	}

	attacker := rawClient(t)
	attacker.Jar.SetCookies(mustURL("http://localhost:9080/"), []*http.Cookie{{Name: "sessiontap_id", Value: planted + ".0"}})
	res, body := postJSON(t, attacker, `{}`)
	if res.StatusCode != 200 || body != `{"version":0}`+"\n" {
		t.Fatalf("collect told the holder of a session id something: %d %q", res.StatusCode, body)
	}
	if code, _ := apiGet(t, tester, planted); code != 404 {
		t.Errorf("a session exists under the planted id: %d", code)
	}
	if s := sessionOf(t, victim); s == nil || s["customer"].(map[string]any)["email"] != "victim@example.com" {
		t.Errorf("the victim's own session lost their customer: %v", s)
	}
}

// A sibling subdomain posts into the visitor's session: as a form (no
// preflight), or as a fetch over plain HTTP where browsers send no
// Sec-Fetch-Site. Neither is taken, and neither touches the cookie.
func TestCrossSiteCollectIsRefusedAndKeepsTheCookie(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "shop page"), "caddyfile")
	visitor := rawClient(t)
	fetch(t, visitor, "GET", "http://localhost:9080/")
	if res, _ := postJSON(t, visitor, cartBody); res.StatusCode != 200 {
		t.Fatalf("the visitor's own collect: %d", res.StatusCode)
	}
	before := sessionOf(t, visitor)

	for name, header := range map[string][]string{
		"text/plain form":                {"Content-Type", "text/plain"},
		"urlencoded form":                {"Content-Type", "application/x-www-form-urlencoded"},
		"sibling over HTTP (Origin)":     {"Origin", "http://evil.localhost:9080"},
		"sibling over HTTPS (same-site)": {"Sec-Fetch-Site", "same-site", "Origin", "https://evil.localhost"},
		"cross-site":                     {"Sec-Fetch-Site", "cross-site"},
	} {
		res, body := postJSON(t, visitor, `{"cart":{}}`, header...)
		if res.StatusCode != 415 && res.StatusCode != 403 {
			t.Errorf("%s: %d %s, want 403 or 415", name, res.StatusCode, body)
		}
		if sc := res.Header.Get("Set-Cookie"); sc != "" {
			t.Errorf("%s: a refused request set a cookie: %q", name, sc)
		}
	}
	after := sessionOf(t, visitor)
	if after["version"] != before["version"] || after["id"] != before["id"] {
		t.Errorf("refused requests changed the session: %v -> %v", before["version"], after["version"])
	}
}

// A page the shop marks cacheable by a shared cache must not carry one
// visitor's cookie to the next.
func TestSharedCacheableAnswerCarriesNoSessionCookie(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfigWith("", `
	@public path /public
	header @public Cache-Control "public, max-age=60"
	@edge path /edge
	header @edge Cache-Control "s-maxage=300"
	respond "page"`), "caddyfile")
	for path, want := range map[string]bool{"/public": false, "/edge": false, "/private": true} {
		res, body := fetch(t, rawClient(t), "GET", "http://localhost:9080"+path)
		if got := res.Header.Get("Set-Cookie") != ""; got != want || string(body) != "page" {
			t.Errorf("%s: Set-Cookie %q, want one: %v (body %q)", path, res.Header.Get("Set-Cookie"), want, body)
		}
	}
}

// A review whose markup keeps class attributes carries a customer block
// and an empty cart. The page then has two of each, and no viewer takes
// either: neither Alice's own (the shop's) nor the review's.
func TestUserContentInAPageSetsNobodysIdentity(t *testing.T) {
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<html><body><div class="nosto_page_type">product</div>`+
			`<div class="nosto_customer"><span class="email">alice@example.com</span><span class="customer_reference">alice</span></div>`+
			`<div class="nosto_cart"><div class="line_item"><span class="product_id">p1</span><span class="quantity">1</span><span class="unit_price">5</span></div></div>`+
			`<section class="reviews"><p>Great!</p><div class="nosto_customer"><span class="email">mallory@example.com</span>`+
			`<span class="customer_reference">mallory</span></div><div class="nosto_cart"></div></section></body></html>`)
	}))
	t.Cleanup(shop.Close)
	tester := newTester(t)
	tester.InitServer(captureConfig(shop.URL), "caddyfile")
	guest := rawClient(t)
	fetch(t, guest, "GET", "http://localhost:9080/product", "Sec-Fetch-Dest", "document")
	var s map[string]any
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s = sessionOf(t, guest); s != nil {
			break
		}
	}
	if s == nil || s["page_type"] != "product" {
		t.Fatalf("the page view was not recorded: %v", s)
	}
	if c := s["customer"].(map[string]any); c["email"] != nil || c["customer_reference"] != nil {
		t.Errorf("an ambiguous page set the customer: %v", c)
	}
	if items := s["cart"].(map[string]any)["items"].([]any); len(items) != 0 {
		t.Errorf("an ambiguous page set the cart: %v", items)
	}
	if v := metricValue(metricsText(t, tester), `caddy_sessiontap_captures_total{outcome="ambiguous",source="html"}`); v != 1 {
		t.Errorf("ambiguous pages counted %v, want 1", v)
	}
}

// visitorID is the session id of c's cookie, after a first page view
// when c has none yet: what the shop is handed as {sessiontap.id} and
// binds a customer token to.
func visitorID(t *testing.T, c *http.Client) string {
	t.Helper()
	jarID := func() string {
		for _, ck := range c.Jar.Cookies(mustURL("http://localhost:9080/")) {
			if ck.Name == "sessiontap_id" {
				return model.OperatorID(ck.Value)
			}
		}
		return ""
	}
	if id := jarID(); id != "" {
		return id
	}
	fetch(t, c, "GET", "http://localhost:9080/")
	if id := jarID(); id != "" {
		return id
	}
	t.Fatal("no session cookie after a page view")
	return ""
}

// tokenSiteConfig is a site whose collect takes customer tokens under key.
func tokenSiteConfig(key string) string {
	return siteConfig(`
		collect /_sessiontap/collect {
			customer_token hmac `+key+`
		}`, "shop page")
}

// A customer posted by the page is claimed unless the shop's backend
// signed it.
func TestCustomerTokenThroughCaddy(t *testing.T) {
	const key = "the-shops-customer-token-key"
	tester := newTester(t)
	tester.InitServer(tokenSiteConfig(key), "caddyfile")
	customer := func(token string) string {
		body := `{"customer":{"customer_reference":"alice","email":"alice@example.com"}`
		if token != "" {
			body += `,"customer_token":"` + token + `"`
		}
		return body + "}"
	}
	for name, tc := range map[string]struct {
		token    func(session string) string
		verified bool
	}{
		"claimed": {func(string) string { return "" }, false},
		"verified": {func(s string) string {
			return handler.CustomerToken([]byte(key), s, "alice", "alice@example.com", time.Now().Add(time.Hour))
		}, true},
	} {
		c := rawClient(t)
		if res, body := postJSON(t, c, customer(tc.token(visitorID(t, c)))); res.StatusCode != 200 {
			t.Fatalf("%s: %d %s", name, res.StatusCode, body)
		}
		s := sessionOf(t, c)
		if got := s["customer"].(map[string]any)["verified"]; got != tc.verified {
			t.Errorf("%s: verified %v, want %v", name, got, tc.verified)
		}
	}
	c := rawClient(t)
	id := visitorID(t, c)
	for name, token := range map[string]string{
		"another key":     handler.CustomerToken([]byte("someone-elses-key"), id, "alice", "alice@example.com", time.Now().Add(time.Hour)),
		"another session": handler.CustomerToken([]byte(key), model.NewID(), "alice", "alice@example.com", time.Now().Add(time.Hour)),
	} {
		res, body := postJSON(t, c, customer(token))
		if res.StatusCode != 400 || !strings.Contains(body, `"field":"customer_token"`) || res.Header.Get("Set-Cookie") != "" {
			t.Errorf("a token for %s: %d %s, Set-Cookie %q", name, res.StatusCode, body, res.Header.Get("Set-Cookie"))
		}
	}
}

// The cookie's key is the store's when none is configured, and survives
// a reload with the store: visitors keep their sessions.
func TestCookieKeySurvivesReload(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "before"), "caddyfile")
	c := rawClient(t)
	fetch(t, c, "GET", "http://localhost:9080/")
	tester.InitServer(siteConfig("", "after"), "caddyfile")
	res, body := fetch(t, c, "GET", "http://localhost:9080/")
	if string(body) != "after" || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("after a reload the cookie was replaced: %q (body %q)", res.Header.Get("Set-Cookie"), body)
	}
	var id string
	for _, ck := range c.Jar.Cookies(mustURL("http://localhost:9080/")) {
		id = model.OperatorID(ck.Value)
	}
	if len(id) != 22 {
		t.Errorf("cookie id %q", id)
	}
}

// Fixation with a cookie of ours: the attacker gets a valid cookie by
// visiting, tosses it into the victim's browser, and waits for the victim
// to log in. The login moves the victim to a fresh id; the attacker's
// cookie then names an empty session.
func TestLoginMovesTheSessionAwayFromAFixedCookie(t *testing.T) {
	const key = "the-shops-customer-token-key"
	tester := newTester(t)
	tester.InitServer(tokenSiteConfig(key), "caddyfile")
	attacker := rawClient(t)
	fetch(t, attacker, "GET", "http://localhost:9080/")
	victim := rawClient(t)
	victim.Jar.SetCookies(mustURL("http://localhost:9080/"), attacker.Jar.Cookies(mustURL("http://localhost:9080/")))
	if res, body := postJSON(t, victim, cartBody); res.StatusCode != 200 {
		t.Fatalf("the victim's cart: %d %s", res.StatusCode, body)
	}
	token := handler.CustomerToken([]byte(key), visitorID(t, victim), "victim-ref", "victim@example.com", time.Now().Add(time.Minute))
	res, body := postJSON(t, victim, `{"customer":{"customer_reference":"victim-ref","email":"victim@example.com"},"customer_token":"`+token+`"}`)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Set-Cookie"), "sessiontap_id=") {
		t.Fatalf("the victim's login: %d %s, Set-Cookie %q", res.StatusCode, body, res.Header.Get("Set-Cookie"))
	}
	if s := sessionOf(t, attacker); s != nil {
		t.Errorf("the attacker's cookie still names the session: %v", s["customer"])
	}
	s := sessionOf(t, victim)
	if s == nil || s["customer"].(map[string]any)["verified"] != true || len(s["cart"].(map[string]any)["items"].([]any)) != 1 {
		t.Errorf("the victim's moved session: %v", s)
	}
}
