package caddymodule

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// These tests attack through a real Caddy. Caddy trusts X-Forwarded-For
// from loopback here (trusted_proxies), so that one test can be several
// clients: the attacker and the victims differ only in that header, as
// they would behind a real proxy.

const proxiedGlobalOptions = `{
	skip_install_trust
	admin localhost:2999
	http_port 9080
	https_port 9443
	grace_period 1ns
	servers {
		trusted_proxies static private_ranges
	}
}
`

const (
	attacker = "203.0.113.9"
	victimIP = "198.51.100.7"
)

// proxiedSite is the shop behind a trusted proxy, its sessiontap on the
// store block store ("" for the default) followed by next, and the
// operator site on the same store.
func proxiedSite(store, sessiontap, next string) string {
	return proxiedGlobalOptions + `
http://localhost:9080 {
	sessiontap {
` + store + `
` + sessiontap + `
	}
	` + next + `
}
` + opsSite(store, "")
}

// bigCart is a valid collect body of about size bytes: a cart of items
// with 1000-character names, each of which is stored.
func bigCart(size int) string {
	var items []string
	for n := 30; n < size-1100; n += 1070 {
		items = append(items, fmt.Sprintf(`{"product_id":"p%d","quantity":1,"unit_price":1,"name":"%s"}`, len(items), strings.Repeat("x", 1000)))
	}
	return `{"cart":{"items":[` + strings.Join(items, ",") + `]}}`
}

// from sends a request as client ip, with no cookie jar.
func from(t *testing.T, tester *caddytest.Tester, ip, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	tester.Client.Jar = nil
	return do(t, tester, method, url, body, append([]string{"X-Forwarded-For", ip, "Content-Type", "application/json"}, header...)...)
}

// limitedTotal is every refusal limited_total counted, of either limit.
func limitedTotal(t *testing.T, tester *caddytest.Tester) float64 {
	text := metricsText(t, tester)
	return max(0, metricValue(text, newSessionLimited)) + max(0, metricValue(text, `caddy_sessiontap_limited_total{limit="collect"}`))
}

// setCookieID is the session id of the cookie res sets.
func setCookieID(t *testing.T, res *http.Response) string {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == "sessiontap_id" {
			return model.OperatorID(c.Value)
		}
	}
	t.Fatalf("no session cookie set (%d)", res.StatusCode)
	return ""
}

const (
	collectURL        = "http://localhost:9080/_sessiontap/collect"
	newSessionLimited = `caddy_sessiontap_limited_total{limit="new_session"}`
	webhookDropped    = `caddy_sessiontap_deliveries_total{outcome="dropped",sink="webhook"}`
)

// TestCollectFloodKeepsOtherClientsSessions: 40 collects of 64 KiB from
// one client used to evict every session of a 1 MiB store. Now the
// attacker's bodies are refused (413), its next new sessions too (429),
// and the victim's session, made from another address, is still there.
func TestCollectFloodKeepsOtherClientsSessions(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(proxiedSite(`
		store bigcache {
			name limits_flood
			max_size 1MiB
		}`, "", `respond "shop"`), "caddyfile")
	limited := func() float64 { return limitedTotal(t, tester) }
	limitedBefore := limited()
	res, out := from(t, tester, victimIP, "POST", collectURL, cartBody)
	if res.StatusCode != 200 {
		t.Fatalf("victim's collect: %d %s", res.StatusCode, out)
	}
	victim := setCookieID(t, res)

	body := bigCart(64<<10 - 64)
	if len(body) <= 24<<10 || len(body) > 64<<10 {
		t.Fatalf("attack body of %d bytes: it must pass the old 64 KiB cap and not the new one", len(body))
	}
	for i := range 40 {
		if res, out := from(t, tester, attacker, "POST", collectURL, body); res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("attack %d: %d %s, want 413", i, res.StatusCode, out)
		}
	}
	// The 413s stored nothing and started no session. Small bodies, each
	// a new session (no cookie), run into the new-session limit.
	small := bigCart(2 << 10)
	var refused *http.Response
	for i := 0; i < 100 && refused == nil; i++ {
		res, out := from(t, tester, attacker, "POST", collectURL, small)
		switch res.StatusCode {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			if res.Header.Get("Retry-After") == "" || !strings.Contains(out, `"error":"too many `) || res.Header.Get("Set-Cookie") != "" {
				t.Fatalf("past the new-session limit: Retry-After %q, Set-Cookie %q, %s", res.Header.Get("Retry-After"), res.Header.Get("Set-Cookie"), out)
			}
			refused = res
		default:
			t.Fatalf("small collect %d: %d %s", i, res.StatusCode, out)
		}
	}
	if refused == nil {
		t.Fatal("100 new sessions from one address, none refused")
	}
	if code, s := apiGet(t, tester, victim); code != 200 || len(s.Cart.Items) != 1 {
		t.Fatalf("the victim's session: %d %+v, want it kept with its cart", code, s)
	}
	// Another client is not held to the attacker's limit.
	if res, out := from(t, tester, "192.0.2.44", "POST", collectURL, small); res.StatusCode != 200 {
		t.Errorf("another client's collect: %d %s", res.StatusCode, out)
	}
	if v := limited() - limitedBefore; v != 1 {
		t.Errorf("limited_total grew by %v, want the one refusal counted", v)
	}
}

// TestCollectLimit: past its collect limit a client gets 429 with
// Retry-After and the JSON error, even on its existing session; other
// clients do not.
func TestCollectLimit(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(proxiedSite("", `
		limits {
			collect 3 per 1h
		}`, `respond "shop"`), "caddyfile")
	res, out := from(t, tester, attacker, "POST", collectURL, cartBody)
	if res.StatusCode != 200 {
		t.Fatalf("the first collect: %d %s", res.StatusCode, out)
	}
	cookie := res.Header.Get("Set-Cookie")
	cookie = cookie[:strings.Index(cookie, ";")]
	for i := range 2 {
		if res, out := from(t, tester, attacker, "POST", collectURL, cartBody, "Cookie", cookie); res.StatusCode != 200 {
			t.Fatalf("collect %d within the limit: %d %s", i+2, res.StatusCode, out)
		}
	}
	res, out = from(t, tester, attacker, "POST", collectURL, cartBody, "Cookie", cookie)
	if res.StatusCode != 429 || res.Header.Get("Retry-After") != "1200" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(out, `"error":"too many collect requests`) {
		t.Fatalf("past the limit: %d Retry-After %q %s", res.StatusCode, res.Header.Get("Retry-After"), out)
	}
	if res, out := from(t, tester, victimIP, "POST", collectURL, cartBody); res.StatusCode != 200 {
		t.Errorf("another client: %d %s", res.StatusCode, out)
	}
}

// TestSessionSizeBound: session_size bounds one session however it is
// written; a collect that would pass it is refused with 413 naming the
// bound, and the session stays as it was.
func TestSessionSizeBound(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(proxiedSite("", `
		limits {
			session_size 8KiB
		}`, `respond "shop"`), "caddyfile")
	res, out := from(t, tester, victimIP, "POST", collectURL, cartBody)
	if res.StatusCode != 200 {
		t.Fatalf("small cart: %d %s", res.StatusCode, out)
	}
	id := setCookieID(t, res)
	cookie := res.Header.Get("Set-Cookie")
	cookie = cookie[:strings.Index(cookie, ";")]
	res, out = from(t, tester, victimIP, "POST", collectURL, bigCart(12<<10), "Cookie", cookie)
	if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(out, "larger than 8192 bytes") {
		t.Fatalf("a 12 KiB cart under an 8 KiB bound: %d %s", res.StatusCode, out)
	}
	if code, s := apiGet(t, tester, id); code != 200 || s.Version != 1 || len(s.Cart.Items) != 1 {
		t.Errorf("after the refusal: %d version %d, %d items; want the session as it was", code, s.Version, len(s.Cart.Items))
	}
}

// TestNewSessionFloodServesPagesUntracked: past the new-session limit a
// page still comes back 200 and byte for byte the shop's, only without our
// cookie, and no session is stored for it; another client still gets one.
func TestNewSessionFloodServesPagesUntracked(t *testing.T) {
	page := `<!doctype html><html><head><title>Shop</title></head><body><div class="nosto_page_type">product</div>` +
		strings.Repeat("<p>content</p>", 200) + `</body></html>`
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Shop", "yes")
		fmt.Fprint(w, page)
	}))
	t.Cleanup(shop.Close)
	tester := newTester(t)
	tester.InitServer(proxiedSite(`
		store bigcache {
			name limits_pages
		}`, `
		limits {
			new_sessions 5 per 1h burst 10
		}`, "reverse_proxy "+strings.TrimPrefix(shop.URL, "http://")), "caddyfile")
	before := storeEntries(t, tester, "limits_pages")
	limited := func() float64 { return limitedTotal(t, tester) }
	limitedBefore := limited()
	for i := range 25 {
		res, out := from(t, tester, attacker, "GET", "http://localhost:9080/product/1", "")
		if res.StatusCode != 200 || out != page || res.Header.Get("X-Shop") != "yes" {
			t.Fatalf("page %d: %d, %d bytes, X-Shop %q: not the shop's page", i, res.StatusCode, len(out), res.Header.Get("X-Shop"))
		}
		if cookie := res.Header.Get("Set-Cookie"); (i < 10) != (cookie != "") {
			t.Fatalf("page %d: Set-Cookie %q; want one for the first 10 only", i, cookie)
		}
	}
	// Captures are stored after the response: wait for the ten, then
	// check that no more came.
	waitFor(t, "the ten tracked pages stored", func() bool { return storeEntries(t, tester, "limits_pages")-before >= 10 })
	time.Sleep(50 * time.Millisecond)
	if n := storeEntries(t, tester, "limits_pages") - before; n != 10 {
		t.Errorf("%d sessions stored, want 10: the untracked pages stored something", n)
	}
	if res, _ := from(t, tester, victimIP, "GET", "http://localhost:9080/", ""); res.Header.Get("Set-Cookie") == "" {
		t.Error("another client got no session")
	}
	if v := limited() - limitedBefore; v != 15 {
		t.Errorf("limited_total{limit=new_session} grew by %v, want the 15 untracked pages counted", v)
	}
}

func storeEntries(t *testing.T, tester *caddytest.Tester, name string) int {
	t.Helper()
	st := adminStats(t, tester)
	s := storeNamed(st, name)
	if s == nil {
		t.Fatalf("no store %q in %+v", name, st.Stores)
	}
	return s.Entries
}

// TestQueueFairness: one client's 30 sessions with carts, against a slow
// upstream and queue_size 20, used to fill the queue so that a customer's
// update from another address was dropped. Now the flooding client holds
// one session (max(1, 20/16)), its others are dropped and counted, and the
// customer's update is delivered: with the in-process engine (bigcache)
// and the Redis outbox alike.
//
// On a Redis Cluster the queue is 64 shards of 2 sessions each, a client
// holding one of each: the flooder holds one session per shard its
// sessions fall in, and the customer's update still gets in.
func TestQueueFairness(t *testing.T) {
	eachStore(t, func(t *testing.T, store, _ string) {
		queueFairness(t, store, strings.Contains(store, "cluster "))
	})
}

func queueFairness(t *testing.T, store string, cluster bool) {
	rc, srv := newReceiver(t)
	tester := newTester(t)
	tester.InitServer(proxiedSite(store, `
		forward webhook `+srv.URL+` {
			secret whsec
		}
		hmac_key `+testHMACKey+`
		delivery {
			queue_size 20
			concurrency 1
			max_attempts 100
			timeout 5s
		}`, `respond "shop"`), "caddyfile")
	droppedBefore := max(0, metricValue(metricsText(t, tester), webhookDropped))
	release := rc.hold()
	defer func() { release() }()
	for i := range 30 {
		body := fmt.Sprintf(`{"cart":{"items":[{"product_id":"junk%d","quantity":1,"unit_price":1}]}}`, i)
		if res, out := from(t, tester, attacker, "POST", collectURL, body); res.StatusCode != 200 {
			t.Fatalf("junk collect %d: %d %s", i, res.StatusCode, out)
		}
	}
	<-rc.arrived // the flooder's one session is in flight, held by the slow upstream
	res, out := from(t, tester, victimIP, "POST", collectURL, cartBody)
	if res.StatusCode != 200 {
		t.Fatalf("customer's collect: %d %s", res.StatusCode, out)
	}
	customer := setCookieID(t, res)
	v := metricValue(metricsText(t, tester), webhookDropped) - droppedBefore
	switch {
	case !cluster && v != 29:
		t.Errorf("%v dropped, want the flooder's 29 sessions past its share, and not the customer's", v)
	case cluster && v > 29:
		t.Errorf("%v dropped, want the flooder's sessions past one per shard, and not the customer's", v)
	}
	release()
	release = func() {}
	waitFor(t, "the customer's update delivered", func() bool { return len(rc.seen(customer)) > 0 })
}
