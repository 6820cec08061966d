package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// These tests drive a real Caddy in this process through caddytest: its
// admin endpoint is localhost:2999 and the sites listen on fixed ports, so
// this package's tests must not run in parallel (go test -p 1).

const globalOptions = `{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
}
`

// opsURL is the operator API on the operator site of these tests (opsSite).
const opsURL = "http://localhost:9081/_sessiontap/api"

// opsSite is the operator handler on a site of its own, :9081 (never the
// shop's site, which it refuses): sessiontap_api at /_sessiontap/api with
// key test-key, the store block store ("" for the default bigcache; give
// it the shop's, so that both see the same sessions) and more options.
func opsSite(store, options string) string {
	return `
http://localhost:9081 {
	sessiontap_api /_sessiontap/api {
` + store + `
		key test-key
` + options + `
	}
}
`
}

// siteConfig is the shop on :9080, whose sessiontap (on the default store)
// answers body, and the operator site on :9081.
func siteConfig(sessiontap, body string) string {
	if strings.Contains(sessiontap, "store ") {
		// The operator site would read another store: say it with storeSiteConfig.
		panic("siteConfig: a store block belongs in storeSiteConfig")
	}
	return storeSiteConfig("", sessiontap, body)
}

// storeSiteConfig is siteConfig with the store block store on both sites.
func storeSiteConfig(store, sessiontap, body string) string {
	return siteConfigWith(store+"\n"+sessiontap, `respond "`+body+`"`) + opsSite(store, "")
}

// siteConfigWith is the shop alone: a site on :9080 with a sessiontap
// block and one handler. Add opsSite for the operator side.
func siteConfigWith(sessiontap, next string) string {
	return globalOptions + `
http://localhost:9080 {
	sessiontap {
` + sessiontap + `
	}
	` + next + `
}
`
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

const cartBody = `{"cart":{"items":[{"product_id":"181503","sku_id":"181505","name":"Shirt","quantity":2,"unit_price":123.45,"price_currency_code":"EUR"}]},"page_type":"cart"}`

type session struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	Cart    struct {
		Items []map[string]any `json:"items"`
	} `json:"cart"`
	Consent *model.Consent `json:"consent"`
}

// newTester starts (or reuses) the in-process Caddy. caddytest skips a test
// whose prerequisites are missing; here that is a failure, so a broken
// setup can never pass as green.
func newTester(t *testing.T) *caddytest.Tester {
	t.Cleanup(func() {
		if t.Skipped() {
			t.Error("caddytest skipped the test: the in-process Caddy did not start")
		}
	})
	return caddytest.NewTester(t)
}

func do(t *testing.T, tester *caddytest.Tester, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := tester.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// collect posts body to the collect endpoint, which answers the version
// and nothing else, and reads the session it wrote through the operator API
// (the config's operator site, opsSite, with key test-key). A header pair naming
// X-Shop-Session with a valid id says the session is that one; otherwise it
// is the one of our cookie in the tester's jar.
func collect(t *testing.T, tester *caddytest.Tester, body string, header ...string) session {
	t.Helper()
	res, out := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", body,
		append([]string{"Content-Type", "application/json"}, header...)...)
	var answer map[string]uint64
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(out), &answer) != nil || len(answer) != 1 {
		t.Fatalf("collect: %d %s", res.StatusCode, out)
	}
	code, s := apiGet(t, tester, collectedID(t, tester, res, header))
	// Later writes (a sink's feedback) may have moved it on since.
	if code != http.StatusOK || s.Version < answer["version"] {
		t.Fatalf("reading the collected session: %d, version %d, collect said %d", code, s.Version, answer["version"])
	}
	return s
}

func collectedID(t *testing.T, tester *caddytest.Tester, res *http.Response, header []string) string {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == "sessiontap_id" {
			return model.OperatorID(c.Value)
		}
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "X-Shop-Session" && model.ValidID(header[i+1]) {
			return header[i+1]
		}
	}
	if tester.Client.Jar == nil {
		t.Fatal("no session cookie after collect")
	}
	for _, c := range tester.Client.Jar.Cookies(mustURL("http://localhost:9080/")) {
		if c.Name == "sessiontap_id" {
			return model.OperatorID(c.Value)
		}
	}
	t.Fatal("no session cookie after collect")
	return ""
}

func apiGet(t *testing.T, tester *caddytest.Tester, id string) (int, session) {
	t.Helper()
	res, out := do(t, tester, "GET", opsURL+"/sessions/"+id, "", "Authorization", "Bearer test-key")
	var s session
	if res.StatusCode == 200 {
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, s
}

func TestCaddyfileEndToEnd(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "shop page"), "caddyfile")

	// A first visit gets the shop's page and a session cookie.
	res, body := do(t, tester, "GET", "http://localhost:9080/", "")
	if body != "shop page" || !strings.Contains(res.Header.Get("Set-Cookie"), "sessiontap_id=") {
		t.Fatalf("first visit: %q, Set-Cookie %q", body, res.Header.Get("Set-Cookie"))
	}
	// The cookie jar sends it back: the collect lands in that session.
	s := collect(t, tester, cartBody)
	if !strings.Contains(res.Header.Get("Set-Cookie"), "sessiontap_id="+s.ID+".") {
		t.Errorf("collect used session %s, cookie was %s", s.ID, res.Header.Get("Set-Cookie"))
	}
	code, got := apiGet(t, tester, s.ID)
	if code != 200 || got.Version != 1 || len(got.Cart.Items) != 1 || got.Cart.Items[0]["unit_price"] != 123.45 {
		t.Fatalf("API GET: %d %+v", code, got)
	}

	// Without the key: 401 and nothing else.
	res, body = do(t, tester, "GET", opsURL+"/sessions/"+s.ID, "")
	if res.StatusCode != 401 || strings.Contains(body, "181503") {
		t.Errorf("no key: %d %s", res.StatusCode, body)
	}
	// The shop's site serves no API: with the key, the API's path there is
	// one of the shop's pages like any other (its next handler answers).
	res, body = do(t, tester, "GET", "http://localhost:9080/_sessiontap/api/sessions/"+s.ID, "", "Authorization", "Bearer test-key")
	if res.StatusCode != 200 || body != "shop page" {
		t.Errorf("the API's path on the shop's site: %d %q, want the shop's page", res.StatusCode, body)
	}
	// Bad input: 400 naming the field; wrong method: 405.
	res, body = do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", `{"cart":{"items":[{"product_id":"1","quantity":0,"unit_price":1}]}}`, "Content-Type", "application/json")
	if res.StatusCode != 400 || !strings.Contains(body, `"field":"cart.items[0].quantity"`) {
		t.Errorf("bad quantity: %d %s", res.StatusCode, body)
	}
	if res, _ = do(t, tester, "GET", "http://localhost:9080/_sessiontap/collect", ""); res.StatusCode != 405 {
		t.Errorf("GET collect: %d", res.StatusCode)
	}

	// GDPR delete, then the session is gone.
	res, _ = do(t, tester, "DELETE", opsURL+"/sessions/"+s.ID, "", "Authorization", "Bearer test-key")
	if res.StatusCode != 204 {
		t.Errorf("DELETE: %d", res.StatusCode)
	}
	if code, _ := apiGet(t, tester, s.ID); code != 404 {
		t.Errorf("GET after DELETE: %d", code)
	}
	_, metrics := do(t, tester, "GET", "http://localhost:2999/metrics", "")
	for _, m := range []string{
		`caddy_sessiontap_api_requests_total{route="sessions",status="200"}`,
		`caddy_sessiontap_api_requests_total{route="sessions",status="401"}`,
		`caddy_sessiontap_api_requests_total{route="sessions",status="204"}`,
	} {
		if metricValue(metrics, m) < 1 {
			t.Errorf("%s not counted", m)
		}
	}
}

func TestExternalIDAndDoNotTrack(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("\t\tsession header X-Shop-Session", "shop page"), "caddyfile")

	s := collect(t, tester, cartBody, "X-Shop-Session", "shop-session-77")
	if s.ID != "shop-session-77" {
		t.Errorf("external id lost to %q", s.ID)
	}
	// A malformed external id is ignored: our own id is used instead.
	s = collect(t, tester, cartBody, "X-Shop-Session", "bad id;")
	if s.ID == "bad id;" || len(s.ID) != 22 {
		t.Errorf("malformed external id used: %q", s.ID)
	}

	res, body := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", cartBody, "X-Shop-Session", "dnt-session", "DNT", "1", "Content-Type", "application/json")
	if res.StatusCode != 204 || res.Header.Get("Set-Cookie") != "" || body != "" {
		t.Errorf("DNT collect: %d %q %q", res.StatusCode, res.Header.Get("Set-Cookie"), body)
	}
	if code, _ := apiGet(t, tester, "dnt-session"); code != 404 {
		t.Errorf("DNT session stored: %d", code)
	}
	res, body = do(t, tester, "GET", "http://localhost:9080/", "", "Sec-GPC", "1")
	if body != "shop page" || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("GPC page view: %q %q", body, res.Header.Get("Set-Cookie"))
	}
}

func TestJSONConfig(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(`{
	"admin": {"listen": "localhost:2999"},
	"apps": {"http": {"http_port": 9080, "grace_period": 1, "servers": {"shop": {
		"listen": [":9080"],
		"routes": [{"handle": [
			{"handler": "sessiontap",
			 "cookie": {"name": "shop_sid", "max_age": 3600000000000},
			 "sessions": [{"from": "cookie", "name": "2c.cId"}],
			 "store": {"backend": "bigcache", "name": "json-test", "ttl": 7200000000000, "max_size": 16777216},
			 "collect": "/collect"},
			{"handler": "static_response", "body": "shop page"}
		]}],
		"automatic_https": {"disable": true}
	}, "ops": {
		"listen": [":9081"],
		"routes": [{"handle": [
			{"handler": "sessiontap_api", "prefix": "/ops", "keys": ["json-key"],
			 "store": {"backend": "bigcache", "name": "json-test", "ttl": 7200000000000, "max_size": 16777216}},
			{"handler": "static_response", "body": "ops home"}
		]}],
		"automatic_https": {"disable": true}
	}}}}
}`, "json")

	res, body := do(t, tester, "GET", "http://localhost:9080/", "")
	if body != "shop page" || !strings.Contains(res.Header.Get("Set-Cookie"), "shop_sid=") || !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=3600") {
		t.Fatalf("first visit: %q %q", body, res.Header.Get("Set-Cookie"))
	}
	res, body = do(t, tester, "POST", "http://localhost:9080/collect", cartBody, "Cookie", "2c.cId=nosto-xyz", "Content-Type", "application/json")
	if res.StatusCode != 200 || body != `{"version":1}`+"\n" {
		t.Fatalf("collect: %d %s", res.StatusCode, body)
	}
	res, body = do(t, tester, "GET", "http://localhost:9081/ops/sessions/nosto-xyz", "", "Authorization", "Bearer json-key")
	if res.StatusCode != 200 || !strings.Contains(body, `"product_id":"181503"`) {
		t.Errorf("API: %d %s", res.StatusCode, body)
	}
	// Outside its prefix the operator handler hands on; the shop's server
	// has no API.
	if _, body := do(t, tester, "GET", "http://localhost:9081/", ""); body != "ops home" {
		t.Errorf("operator site outside the prefix: %q", body)
	}
	if res, body := do(t, tester, "GET", "http://localhost:9080/ops/sessions/nosto-xyz", "", "Authorization", "Bearer json-key"); res.StatusCode != 200 || body != "shop page" {
		t.Errorf("the API's path on the shop's server: %d %q", res.StatusCode, body)
	}
}

// TestReloadKeepsSessions loads a config, writes a session, loads a changed
// config (as `caddy reload` does) and reads the same session back.
func TestReloadKeepsSessions(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "before reload"), "caddyfile")
	s := collect(t, tester, cartBody)

	for i := range 3 {
		changed := storeSiteConfig(fmt.Sprintf("\t\tstore bigcache {\n\t\t\tttl %dh\n\t\t}", 2+i), "", fmt.Sprintf("after reload %d", i))
		tester.InitServer(changed, "caddyfile")
		if _, body := do(t, tester, "GET", "http://localhost:9080/", ""); body != fmt.Sprintf("after reload %d", i) {
			t.Fatalf("new config not active: %q", body)
		}
		code, got := apiGet(t, tester, s.ID)
		if code != 200 || got.Version != s.Version || len(got.Cart.Items) != 1 {
			t.Fatalf("after reload %d: %d %+v", i, code, got)
		}
	}
	// The store still takes writes after the reloads (its janitor and
	// locks belong to the store, not to a config).
	if again := collect(t, tester, `{"cart":{}}`); again.ID != s.ID || again.Version != s.Version+1 {
		t.Errorf("write after reload: %+v", again)
	}
}
