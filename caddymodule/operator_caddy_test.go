package caddymodule

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// The operator handler (sessiontap_api) through a real Caddy: where it may
// be configured, what it shares with the shop's sessiontap handlers, and
// what it leaves to the handlers after it.

// assertLoadRefused loads config into the running Caddy with caddytest and
// wants the load refused with an error holding every one of wants.
func assertLoadRefused(t *testing.T, config, adapter string, wants ...string) {
	t.Helper()
	defer func() {
		// caddytest reads the error of the load; one that succeeded has none.
		if r := recover(); r != nil {
			t.Errorf("the config loaded; want it refused with %q", wants)
		}
	}()
	for _, want := range wants {
		caddytest.AssertLoadError(t, config, adapter, want)
	}
}

// lineOf is the Caddyfile line of the first s in config.
func lineOf(config, s string) int {
	return strings.Count(config[:strings.Index(config, s)], "\n") + 1
}

// The api block sessiontap once had is a Caddyfile error that names its
// successor and its line, not an option that is quietly dropped (an
// operator would find their API gone only from the 404s); the old JSON
// field is refused too. The running config stays.
func TestVisitorAPIBlockRefusedThroughCaddy(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "running"), "caddyfile")

	bad := siteConfigWith("\t\tcollect /c\n\t\tapi /x {\n\t\t\tkey k\n\t\t}", `respond "bad"`)
	assertLoadRefused(t, bad, "caddyfile", "sessiontap_api", fmt.Sprintf(", at Caddyfile:%d", lineOf(bad, "api /x")))

	badJSON := `{
	"admin": {"listen": "localhost:2999"},
	"apps": {"http": {"http_port": 9080, "servers": {"shop": {
		"listen": [":9080"],
		"routes": [{"handle": [
			{"handler": "sessiontap", "api": {"prefix": "/ops", "keys": ["k"]}},
			{"handler": "static_response", "body": "bad"}
		]}]
	}}}}
}`
	assertLoadRefused(t, badJSON, "json", `unknown field \"api\"`)

	if _, body := do(t, tester, "GET", "http://localhost:9080/", ""); body != "running" {
		t.Errorf("the running config was replaced: %q", body)
	}
}

// sameSiteConfigs put sessiontap_api beside sessiontap on the shop's
// origin, each in its own way.
var sameSiteConfigs = []struct{ name, config, adapter string }{
	{"one site block", globalOptions + `
http://localhost:9080 {
	sessiontap
	sessiontap_api /_sessiontap/api {
		key test-key
	}
	respond "bad"
}
`, "caddyfile"},
	{"handle blocks of one site", globalOptions + `
http://localhost:9080 {
	handle /_sessiontap/api/* {
		sessiontap_api /_sessiontap/api {
			key test-key
		}
	}
	handle {
		sessiontap
		respond "bad"
	}
}
`, "caddyfile"},
	// A server with a single site and no host: the adapter makes each
	// directive a top-level route of its own, all for every host.
	{"hostless site, route blocks", globalOptions + `
:9080 {
	route /shop/* {
		sessiontap
	}
	sessiontap_api /ops {
		key test-key
	}
	respond "bad"
}
`, "caddyfile"},
	{"hostless site, handle blocks", globalOptions + `
:9080 {
	handle /shop/* {
		sessiontap
		respond "bad"
	}
	handle {
		sessiontap_api /ops {
			key test-key
		}
	}
}
`, "caddyfile"},
	{"JSON routes, one without a host", jsonRoutes(`{"match": [{"host": ["localhost"]}], "handle": [{"handler": "sessiontap"}]}`,
		`{"handle": [{"handler": "sessiontap_api", "keys": ["test-key"]}]}`), "json"},
	{"JSON routes, the same host", jsonRoutes(`{"match": [{"host": ["shop.localhost"]}], "handle": [{"handler": "sessiontap"}]}`,
		`{"match": [{"host": ["*.localhost"]}], "handle": [{"handler": "sessiontap_api", "keys": ["test-key"]}]}`), "json"},
	{"one JSON route, operator first", jsonRoute(`{"handler": "sessiontap_api", "keys": ["test-key"]}`, `{"handler": "sessiontap"}`), "json"},
	{"one JSON route, visitor first", jsonRoute(`{"handler": "sessiontap"}`, `{"handler": "sessiontap_api", "keys": ["test-key"]}`), "json"},
	{"one JSON route, operator in a subroute", jsonRoute(`{"handler": "sessiontap"}`,
		`{"handler": "subroute", "routes": [{"match": [{"path": ["/_sessiontap/api/*"]}], "handle": [{"handler": "sessiontap_api", "keys": ["test-key"]}]}]}`), "json"},
}

// jsonRoute is a server on :9080 with one route of handlers, then a page.
func jsonRoute(handlers ...string) string {
	return jsonRoutes(`{"handle": [` + strings.Join(handlers, ", ") + `, {"handler": "static_response", "body": "bad"}]}`)
}

// jsonRoutes is a server on :9080 with these routes.
func jsonRoutes(routes ...string) string {
	return `{
	"admin": {"listen": "localhost:2999"},
	"apps": {"http": {"http_port": 9080, "grace_period": 1, "servers": {"shop": {
		"listen": [":9080"],
		"routes": [` + strings.Join(routes, ", ") + `],
		"automatic_https": {"disable": true}
	}}}}
}`
}

// On the shop's origin any script on a shop page could use a signed-in
// operator's cookie: sessiontap_api in the shop's site (the same top-level
// route) is refused at load, the running config staying. On another host
// of the same port it is another origin, and it loads and works.
func TestOperatorRefusedInTheShopsSite(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "running"), "caddyfile")
	for _, tc := range sameSiteConfigs {
		t.Run(tc.name, func(t *testing.T) {
			assertLoadRefused(t, tc.config, tc.adapter, "same site as a sessiontap handler")
		})
	}
	if _, body := do(t, tester, "GET", "http://localhost:9080/", ""); body != "running" {
		t.Fatalf("the running config was replaced: %q", body)
	}

	tester.InitServer(globalOptions+`
http://localhost:9080 {
	sessiontap
	respond "shop"
}

http://ops.localhost:9080 {
	sessiontap_api /_sessiontap/api {
		key test-key
	}
	respond "ops home"
}
`, "caddyfile")
	res, out := do(t, tester, "POST", "http://localhost:9080/_sessiontap/collect", cartBody, "Content-Type", "application/json")
	if res.StatusCode != 200 {
		t.Fatalf("collect: %d %s", res.StatusCode, out)
	}
	id := collectedID(t, tester, res, nil)
	res, out = do(t, tester, "GET", "http://ops.localhost:9080/_sessiontap/api/sessions/"+id, "", "Authorization", "Bearer test-key")
	if res.StatusCode != 200 || !strings.Contains(out, `"product_id":"181503"`) {
		t.Errorf("the session on the operator host: %d %s", res.StatusCode, out)
	}
	if _, body := do(t, tester, "GET", "http://ops.localhost:9080/", ""); body != "ops home" {
		t.Errorf("the operator host outside the API: %q", body)
	}
	// The shop's host of the same port serves no API.
	if res, body := do(t, tester, "GET", "http://localhost:9080/_sessiontap/api/sessions/"+id, "", "Authorization", "Bearer test-key"); res.StatusCode != 200 || body != "shop" {
		t.Errorf("the API's path on the shop's host: %d %q, want the shop's page", res.StatusCode, body)
	}
}

// The operator handler passes what is not under its prefix to the next
// handler; under it, it answers itself, key or no key.
func TestOperatorHandsOnOutsideItsPrefix(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(globalOptions+`
http://localhost:9081 {
	sessiontap_api /_sessiontap/api {
		key test-key
		inspector
	}
	respond "ops home"
}
`, "caddyfile")
	for _, path := range []string{"/", "/index.html", "/_sessiontap/apix", "/_sessiontap/api.json", "/_sessiontap/collect", "/_sessiontap"} {
		res, body := do(t, tester, "GET", "http://localhost:9081"+path, "", "Authorization", "Bearer test-key")
		if res.StatusCode != 200 || body != "ops home" {
			t.Errorf("%s: %d %q, want the next handler's answer", path, res.StatusCode, body)
		}
	}
	for path, want := range map[string]int{
		"/_sessiontap/api/sessions/nosuchsession": http.StatusUnauthorized,
		"/_sessiontap/api/ui/events":              http.StatusUnauthorized,
		"/_sessiontap/api/ui/":                    http.StatusSeeOther, // to the sign-in page
	} {
		c := &http.Client{Transport: tester.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.Get("http://localhost:9081" + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s without a key: %d, want %d", path, res.StatusCode, want)
		}
	}
	if res, body := do(t, tester, "GET", opsURL+"/sessions/nosuchsession", "", "Authorization", "Bearer test-key"); res.StatusCode != http.StatusNotFound || body == "ops home" {
		t.Errorf("the API with the key: %d %q, want its own 404", res.StatusCode, body)
	}
}

// liveFeed signs in to the inspector of the operator site and follows its
// live list: every "rows" event's data arrives on the channel until the
// test ends.
func liveFeed(t *testing.T) <-chan string {
	t.Helper()
	req, _ := http.NewRequest("GET", opsURL+"/ui/events", nil)
	req.Header.Set("Cookie", inspectorSignIn(t))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("the live list: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	rows := make(chan string, 100)
	go func() {
		defer close(rows)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				rows <- data
			}
		}
	}()
	return rows
}

// awaitRow waits for a row of session id with source in the live list.
func awaitRow(t *testing.T, rows <-chan string, id, source string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case data, ok := <-rows:
			if !ok {
				t.Fatalf("the live list ended before a %s row of %s", source, id)
			}
			var ev struct {
				Rows []struct {
					SessionID string `json:"session_id"`
					Source    string `json:"source"`
				} `json:"rows"`
			}
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Fatalf("a live list event: %v: %s", err, data)
			}
			for _, r := range ev.Rows {
				if r.SessionID == id && r.Source == source {
					return
				}
			}
		case <-timeout:
			t.Fatalf("no %s row of %s in the live list", source, id)
		}
	}
}

// The operator site shares what the shop's sessiontap handlers on its
// store do, with the embedded store and with Redis: their sessions, their
// sinks' delivery status and retry, their history size, and the live feed
// (the operator's) that they publish their changes to.
func TestOperatorSiteSharesTheShopsStore(t *testing.T) {
	eachStore(t, func(t *testing.T, store, _ string) {
		rc, srv := newReceiver(t)
		tester := newTester(t)
		tester.InitServer(siteConfigWith(store+`
		history 2
		hmac_key `+testHMACKey+`
		forward webhook `+srv.URL+` {
			secret whsec
		}`, `respond "shop"`)+opsSite(store, "\t\tinspector"), "caddyfile")
		rows := liveFeed(t)

		// A collect on the shop's site, read on the operator's.
		s := collect(t, tester, cartBody)
		if len(s.Cart.Items) != 1 || s.Cart.Items[0]["product_id"] != "181503" {
			t.Fatalf("the collected session on the operator site: %+v", s)
		}
		// The operator's live list sees it.
		awaitRow(t, rows, s.ID, "collect")

		// The shop's webhook delivers it; the operator site says so.
		waitFor(t, "the webhook delivery", func() bool { return len(rc.seen(s.ID)) > 0 })
		var st struct {
			Sinks []struct {
				Sink             string `json:"sink"`
				DeliveredVersion uint64 `json:"delivered_version"`
			} `json:"sinks"`
		}
		waitFor(t, "the delivery in the operator's status", func() bool {
			res, out := do(t, tester, "GET", opsURL+"/sessions/"+s.ID+"/deliveries", "", "Authorization", "Bearer test-key")
			st.Sinks = nil
			return res.StatusCode == 200 && json.Unmarshal([]byte(out), &st) == nil &&
				len(st.Sinks) == 1 && st.Sinks[0].Sink == "webhook" && st.Sinks[0].DeliveredVersion == s.Version
		})

		// The inspector's retry reaches the shop's sink; a sink the shop
		// does not have is not found.
		cookie := inspectorSignIn(t)
		_, me := do(t, tester, "GET", opsURL+"/ui/me", "", "Cookie", cookie)
		csrf, _ := decodeJSON(t, []byte(me))["csrf"].(string)
		res, out := do(t, tester, "POST", opsURL+"/ui/sessions/"+s.ID+"/retry?sink=webhook", "", "Cookie", cookie, "X-Sessiontap-Csrf", csrf)
		if res.StatusCode != 200 || !strings.Contains(out, `"result"`) {
			t.Errorf("retry of the shop's webhook: %d %s", res.StatusCode, out)
		}
		res, out = do(t, tester, "POST", opsURL+"/ui/sessions/"+s.ID+"/retry?sink=crm", "", "Cookie", cookie, "X-Sessiontap-Csrf", csrf)
		if res.StatusCode != 400 || !strings.Contains(out, "no sink is named crm") {
			t.Errorf("retry of a sink the shop does not have: %d %s", res.StatusCode, out)
		}

		// Two context writes through the operator site: three changes in
		// all, of which the session keeps the shop's history 2.
		acme := "/session-context/acme/context/" + s.ID
		if code, body := (ctxCall{"PUT", acme + "?upsert=true", `{"metadata":{"version":0},"context":{"a":{"n":1}}}`, ""}).send(t); code != 204 {
			t.Fatalf("create the context: %d %s", code, body)
		}
		if code, body := (ctxCall{"PUT", acme, `{"metadata":{"version":1},"context":{"a":{"n":2}}}`, ""}).send(t); code != 204 {
			t.Fatalf("update the context: %d %s", code, body)
		}
		awaitRow(t, rows, s.ID, "api")
		_, out = do(t, tester, "GET", opsURL+"/sessions/"+s.ID, "", "Authorization", "Bearer test-key")
		var got struct {
			Version uint64
			History []struct {
				Version uint64
				Source  string
			}
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if h := got.History; len(h) != 2 || h[0].Source != "api" || h[1].Source != "api" || h[1].Version != got.Version {
			t.Errorf("history %+v of version %d: want the two context writes only (the shop's history 2)", h, got.Version)
		}
	})
}

// The operator site finds the shop's handlers by the sessions its store
// holds (the embedded store's name; Redis's address and prefix), not by
// the store block's every setting: one that sets a store's ttl or timeout
// otherwise still shows the shop's deliveries.
func TestOperatorSharesTheStoreConfiguredOtherwise(t *testing.T) {
	redis := func(t *testing.T, prefix, timeout string) string {
		return fmt.Sprintf("\t\tstore redis {\n\t\t\taddress %s\n\t\t\tprefix %s\n\t\t\tindex_key %s\n\t\t\ttimeout %s\n\t\t}",
			redisAddr(t), prefix, testIndexKey, timeout)
	}
	for name, stores := range map[string]func(t *testing.T) (shop, ops string){
		"bigcache": func(*testing.T) (string, string) {
			return "\t\tstore bigcache {\n\t\t\tname shared_otherwise\n\t\t\tttl 2h\n\t\t}", "\t\tstore bigcache {\n\t\t\tname shared_otherwise\n\t\t}"
		},
		"redis": func(t *testing.T) (string, string) {
			prefix := testRedisPrefix()
			return redis(t, prefix, "2s"), redis(t, prefix, "3s")
		},
	} {
		t.Run(name, func(t *testing.T) {
			shopStore, opsStore := stores(t)
			rc, srv := newReceiver(t)
			tester := newTester(t)
			tester.InitServer(siteConfigWith(shopStore+`
		history 1
		hmac_key `+testHMACKey+`
		forward webhook `+srv.URL+` {
			secret whsec
		}`, `respond "shop"`)+opsSite(opsStore, ""), "caddyfile")
			s := collect(t, tester, cartBody)
			waitFor(t, "the webhook delivery", func() bool { return len(rc.seen(s.ID)) > 0 })
			waitFor(t, "the delivery in the operator's status", func() bool {
				res, out := do(t, tester, "GET", opsURL+"/sessions/"+s.ID+"/deliveries", "", "Authorization", "Bearer test-key")
				return res.StatusCode == 200 && strings.Contains(out, `"sink":"webhook"`)
			})
			if code, body := (ctxCall{"PUT", "/session-context/acme/context/" + s.ID + "?upsert=true", `{"metadata":{"version":0},"context":{"a":{"n":1}}}`, ""}).send(t); code != 204 {
				t.Fatalf("a context write: %d %s", code, body)
			}
			_, out := do(t, tester, "GET", opsURL+"/sessions/"+s.ID, "", "Authorization", "Bearer test-key")
			var got struct{ History []struct{ Source string } }
			if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.History) != 1 || got.History[0].Source != "api" {
				t.Errorf("history %+v (%v), want the context write only (the shop's history 1)", got.History, err)
			}
		})
	}
}
