package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

const adminURL = "http://localhost:2999"

func adminStats(t *testing.T, tester *caddytest.Tester) AdminStats {
	t.Helper()
	res, body := do(t, tester, "GET", adminURL+"/sessiontap/stats", "")
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("stats: %d %q %s", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	var st AdminStats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("stats: %v: %s", err, body)
	}
	return st
}

func storeNamed(st AdminStats, name string) *StoreStats {
	for i := range st.Stores {
		if st.Stores[i].Name == name {
			return &st.Stores[i]
		}
	}
	return nil
}

func metricsText(t *testing.T, tester *caddytest.Tester) string {
	t.Helper()
	res, body := do(t, tester, "GET", adminURL+"/metrics", "")
	if res.StatusCode != 200 {
		t.Fatalf("metrics: %d %s", res.StatusCode, body)
	}
	return body
}

const (
	storedMetric     = `caddy_sessiontap_captures_total{outcome="stored",source="html"}`
	jsonStoredMetric = `caddy_sessiontap_captures_total{outcome="stored",source="json"}`
	pagesMetric      = `caddy_sessiontap_capture_pages_total{source="html"}`
)

// cartShop serves an HTML page with Nosto cart tagging at any path.
func cartShop(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<html><body><div class="nosto_cart"><div class="line_item"><span class="product_id">1</span>`+
			`<span class="quantity">1</span><span class="unit_price">2</span></div></div></body></html>`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAdminStatsAndSession(t *testing.T) {
	tester := newTester(t)
	tester.InitServer(siteConfig("", "shop"), "caddyfile")
	s := collect(t, tester, cartBody)

	d := storeNamed(adminStats(t, tester), "default")
	if d == nil || d.Entries < 1 || d.Bytes <= 0 {
		t.Fatalf("default store: %+v", d)
	}

	res, body := do(t, tester, "GET", adminURL+"/sessiontap/sessions/"+s.ID, "")
	var got session
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &got) != nil {
		t.Fatalf("session: %d %s", res.StatusCode, body)
	}
	if got.ID != s.ID || got.Version != s.Version || len(got.Cart.Items) != 1 || got.Cart.Items[0]["product_id"] != "181503" {
		t.Errorf("session: %+v", got)
	}
	if res, _ := do(t, tester, "GET", adminURL+"/sessiontap/sessions/"+s.ID+"?store=default", ""); res.StatusCode != 200 {
		t.Errorf("?store=default: %d", res.StatusCode)
	}
	// The cookie's value, as the browser shows it, names the same session.
	res, body = do(t, tester, "GET", adminURL+"/sessiontap/sessions/"+s.ID+".kx3", "")
	if res.StatusCode != 200 || !strings.Contains(body, `"id":"`+s.ID+`"`) {
		t.Errorf("by cookie value: %d %s", res.StatusCode, body)
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", "/sessiontap/sessions/no-such-session"},
		{"GET", "/sessiontap/sessions/"},
		{"GET", "/sessiontap/sessions/bad%20id"},
		{"GET", "/sessiontap/sessions/" + s.ID + "?store=no-such-store"},
	} {
		res, body := do(t, tester, tc.method, adminURL+tc.path, "")
		if res.StatusCode != 404 || !strings.Contains(body, `"error"`) || strings.Contains(body, "181503") {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, res.StatusCode, body)
		}
	}
	for _, path := range []string{"/sessiontap/sessions/" + s.ID, "/sessiontap/stats"} {
		res, body := do(t, tester, "POST", adminURL+path, "{}")
		if res.StatusCode != 405 || res.Header.Get("Allow") != "GET" {
			t.Errorf("POST %s: %d %q %s", path, res.StatusCode, res.Header.Get("Allow"), body)
		}
	}
}

func TestAdminStatsEngines(t *testing.T) {
	_, srv := newReceiver(t)
	tester := newTester(t)
	tester.InitServer(forwardConfig(srv.URL, "shop"), "caddyfile")
	collect(t, tester, cartBody)
	waitFor(t, "a delivery in the stats", func() bool {
		for _, e := range adminStats(t, tester).Engines {
			for _, s := range e.Sinks {
				if e.Store == "default" && s.Name == "webhook" && s.Delivered >= 1 {
					return true
				}
			}
		}
		return false
	})
}

func TestCaptureCountersInStatsAndMetrics(t *testing.T) {
	up := cartShop(t)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	before := adminStats(t, tester)
	m := metricsText(t, tester)
	storedBefore := metricValue(m, storedMetric)
	pagesBefore := metricValue(m, pagesMetric)
	if storedBefore < 0 || pagesBefore < 0 {
		t.Fatalf("capture metrics missing:\n%s", grepLines(m, "sessiontap"))
	}

	if res, body := do(t, tester, "GET", "http://localhost:9080/cart", ""); res.StatusCode != 200 || !strings.Contains(body, "nosto_cart") {
		t.Fatalf("page: %d %s", res.StatusCode, body)
	}
	// The session is written after the response: poll.
	waitFor(t, "the capture in the stats", func() bool {
		st := adminStats(t, tester)
		return st.Capture.HTML.Pages > before.Capture.HTML.Pages && st.Capture.HTML.Stored > before.Capture.HTML.Stored &&
			st.CaptureSinceStart.HTML.Stored > before.CaptureSinceStart.HTML.Stored
	})
	m = metricsText(t, tester)
	if metricValue(m, storedMetric) < storedBefore+1 || metricValue(m, pagesMetric) < pagesBefore+1 {
		t.Errorf("capture metrics did not move:\n%s", grepLines(m, "capture"))
	}
	// The same page again is not parsed again.
	remembered := metricValue(m, "caddy_sessiontap_capture_remembered_total")
	do(t, tester, "GET", "http://localhost:9080/cart", "")
	waitFor(t, "the page remembered", func() bool {
		return metricValue(metricsText(t, tester), "caddy_sessiontap_capture_remembered_total") >= remembered+1 &&
			adminStats(t, tester).Capture.HTML.Remembered > before.Capture.HTML.Remembered
	})
	if metricValue(m, `caddy_sessiontap_store_entries{store="default"}`) < 1 ||
		metricValue(m, `caddy_sessiontap_store_bytes{store="default"}`) <= 0 ||
		metricValue(m, `caddy_sessiontap_store_evictions_total{store="default"}`) < 0 {
		t.Errorf("store metrics:\n%s", grepLines(m, "store"))
	}
}

func TestMetricsSurviveReload(t *testing.T) {
	up := cartShop(t)
	tester := newTester(t)
	tester.InitServer(captureConfig(up.URL), "caddyfile")
	do(t, tester, "GET", "http://localhost:9080/cart", "")
	var m string
	waitFor(t, "a stored capture", func() bool {
		m = metricsText(t, tester)
		return metricValue(m, storedMetric) >= 1
	})
	names := []string{storedMetric, pagesMetric, `caddy_sessiontap_capture_dropped_fields_total{source="html"}`}
	before := map[string]float64{}
	for _, n := range names {
		before[n] = metricValue(m, n)
	}
	sinceStart := adminStats(t, tester).CaptureSinceStart

	// Another config, so that Caddy does not skip the load as unchanged.
	tester.InitServer(siteConfigWith("", "reverse_proxy "+strings.TrimPrefix(up.URL, "http://"))+
		opsSite("", "\t\tkey other-key"), "caddyfile")
	m = metricsText(t, tester)
	for _, n := range names {
		if after := metricValue(m, n); after < before[n] {
			t.Errorf("%s went down on a reload: %v, then %v", n, before[n], after)
		}
	}
	if after := adminStats(t, tester).CaptureSinceStart; after.HTML.Stored < sinceStart.HTML.Stored || after.HTML.Pages < sinceStart.HTML.Pages {
		t.Errorf("capture_since_start went down on a reload: %+v, then %+v", sinceStart, after)
	}
}
