package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
)

// outageTimeout is the store's per-command timeout in the outage tests.
const outageTimeout = 200 * time.Millisecond

// outageSite reads the session before proxying (header_up) and after
// (a deferred header), and captures the page: three store calls a
// request, none of which may hold it past one timeout.
func outageSite(redis, prefix, shop string) string {
	return globalOptions + fmt.Sprintf(`
http://localhost:9080 {
	sessiontap {
		store redis {
			name outage
			address %s
			prefix %s
			index_key %s
			timeout %s
		}
		# The outage loop posts collects as fast as it can from one address.
		limits {
			new_sessions off
			collect off
		}
	}
	header >X-Cart-Count {sessiontap.cart.count}
	reverse_proxy %s {
		header_up X-Cart-Count {sessiontap.cart.count}
	}
}
`, redis, prefix, testIndexKey, outageTimeout, strings.TrimPrefix(shop, "http://"))
}

// The Redis store cut off (connections reset, dials refused) or hung
// (SIGSTOP-like) after provisioning: pages are proxied byte for byte with
// 200, none held past the store's timeout plus slack; collect answers 503
// with Retry-After and a JSON error; the failures are counted in
// caddy_sessiontap_store_errors_total and logged at most once per
// interval, with nothing of the visitor in the lines; and once Redis is
// back, sessions are stored again with nothing restarted.
func TestRedisDownThroughCaddy(t *testing.T) {
	p := redistest.NewProxy(t, redisAddr(t))
	shop := cartShop(t)
	tester := newTester(t)
	tester.InitServer(outageSite(p.Addr(), testRedisPrefix(), shop.URL), "caddyfile")
	logs := observeOutages(t, p.Addr(), time.Second)

	c := rawClient(t)
	_, want := fetch(t, c, "GET", shop.URL+"/")
	fetch(t, c, "GET", "http://localhost:9080/") // captures the page's cart
	if res, got := fetch(t, c, "GET", "http://localhost:9080/"); string(got) != string(want) || res.Header.Get("X-Cart-Count") != "1" {
		t.Fatalf("before the outage: %q, X-Cart-Count %q", got, res.Header.Get("X-Cart-Count"))
	}
	before := storeErrorsMetric(t, tester)

	for _, mode := range []string{"cut", "hang"} {
		if mode == "cut" {
			p.Cut()
		} else {
			p.Hang()
		}
		slowest := visitDuringOutage(t, c, mode, string(want), 1500*time.Millisecond)
		t.Logf("%s: the slowest page took %s (store timeout %s)", mode, slowest, outageTimeout)
		p.Restore(t)
		waitFor(t, "collect after the "+mode, func() bool {
			res, _ := postCollect(t, c, outageCollect)
			return res.StatusCode == http.StatusOK
		})
	}
	if after := storeErrorsMetric(t, tester); after <= before {
		t.Errorf("caddy_sessiontap_store_errors_total{store=\"outage\"} went from %v to %v", before, after)
	}
	// Back: the page's cart is captured and read again.
	fetch(t, c, "GET", "http://localhost:9080/")
	if res, _ := fetch(t, c, "GET", "http://localhost:9080/"); res.Header.Get("X-Cart-Count") != "1" {
		t.Errorf("after the outage: X-Cart-Count %q", res.Header.Get("X-Cart-Count"))
	}
	checkOutageLines(t, logs, time.Second)
}

// visitDuringOutage loads pages and posts collects for a while, checking
// each, and returns the slowest page's time.
func visitDuringOutage(t *testing.T, c *http.Client, mode, want string, d time.Duration) time.Duration {
	t.Helper()
	var slowest time.Duration
	for end := time.Now().Add(d); time.Now().Before(end); {
		start := time.Now()
		res, got := fetch(t, c, "GET", "http://localhost:9080/")
		took := time.Since(start)
		slowest = max(slowest, took)
		if res.StatusCode != http.StatusOK || string(got) != want || res.Header.Get("X-Cart-Count") != "" {
			t.Fatalf("%s: page %d %q, X-Cart-Count %q (want empty: unknown)", mode, res.StatusCode, got, res.Header.Get("X-Cart-Count"))
		}
		// Slack for a busy two-core machine under the race detector, less
		// than a second timeout: a page that waited twice must fail.
		if took > outageTimeout+outageTimeout*3/4 {
			t.Errorf("%s: a page took %s, store timeout %s", mode, took, outageTimeout)
		}
		res, body := postCollect(t, c, outageCollect)
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" ||
			!strings.Contains(body["error"], "session store is unavailable") {
			t.Fatalf("%s: collect %d Retry-After %q %v", mode, res.StatusCode, res.Header.Get("Retry-After"), body)
		}
		if res, _ := fetch(t, c, "GET", "http://localhost:2999/sessiontap/sessions/any-id?store=outage"); res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s: admin session read %d, want 503", mode, res.StatusCode)
		}
	}
	return slowest
}

// outageCollect carries personal data, which no log line may show.
const outageCollect = `{"customer":{"email":"ada.outage@example.com","first_name":"Ada","last_name":"Lovelace",` +
	`"customer_reference":"ref-outage-77"},"cart":{"items":[{"product_id":"p1","quantity":1,"unit_price":2}]}}`

// observeOutages sends the outage log of the store at addr to an
// observer, with a shorter interval.
func observeOutages(t *testing.T, addr string, interval time.Duration) *observer.ObservedLogs {
	t.Helper()
	var g *guardedStore
	stores.Range(func(_, v any) bool {
		if p, ok := v.(pooledRedis); ok && slices.Contains(p.Config().Addresses, addr) {
			g = p.guarded
		}
		return g == nil
	})
	if g == nil {
		t.Fatalf("no pooled Redis store for %s", addr)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	g.log.setLogger(zap.New(core))
	g.log.mu.Lock()
	g.log.interval = interval
	g.log.mu.Unlock()
	t.Cleanup(func() {
		g.log.setLogger(zap.NewNop())
		g.log.mu.Lock()
		g.log.interval = outageLogInterval
		g.log.mu.Unlock()
	})
	return logs
}

// checkOutageLines: lines at least an interval apart, the outage in them,
// the recovery said, nothing personal.
func checkOutageLines(t *testing.T, logs *observer.ObservedLogs, interval time.Duration) {
	t.Helper()
	waitFor(t, "a line saying the store answers again", func() bool {
		ls := logs.All()
		return len(ls) > 0 && (ls[len(ls)-1].Message == "session store answering again" ||
			ls[len(ls)-1].ContextMap()["answering_again"] == true)
	})
	lines := logs.All()
	if lines[0].Level != zapcore.ErrorLevel || lines[0].ContextMap()["failed_calls"] == nil {
		t.Errorf("first line: %v %v", lines[0].Message, lines[0].ContextMap())
	}
	for i, e := range lines {
		t.Logf("%s %s %v", e.Time.Format("15:04:05.000"), e.Message, e.ContextMap())
		if i > 0 && e.Time.Sub(lines[i-1].Time) < interval-10*time.Millisecond {
			t.Errorf("line %d only %s after the one before", i, e.Time.Sub(lines[i-1].Time))
		}
		text := fmt.Sprint(e.Message, e.ContextMap())
		for _, personal := range []string{"ada.outage", "Ada", "Lovelace", "ref-outage-77"} {
			if strings.Contains(text, personal) {
				t.Errorf("line %d shows %q: %s", i, personal, text)
			}
		}
	}
}

// storeErrorsMetric sums the outage store's error series on /metrics.
func storeErrorsMetric(t *testing.T, tester *caddytest.Tester) float64 {
	t.Helper()
	sum := 0.0
	for _, line := range strings.Split(metricsText(t, tester), "\n") {
		if strings.HasPrefix(line, "caddy_sessiontap_store_errors_total{") && strings.Contains(line, `store="outage"`) {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			sum += v
		}
	}
	return sum
}

// postCollect posts body to the collect endpoint with c's cookies.
func postCollect(t *testing.T, c *http.Client, body string) (*http.Response, map[string]string) {
	t.Helper()
	res, err := c.Post("http://localhost:9080/_sessiontap/collect", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]string
	_ = json.NewDecoder(res.Body).Decode(&m) // a 200's body has more than strings
	return res, m
}
