package caddymodule

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestTalonOneEffectsReachTheShop: a cart goes to Talon.One, its effects
// are kept on the session, and the next request hands them to the shop
// through header_up {sessiontap.effects}. (The Talon.One request itself is
// validated against the OpenAPI spec in the upstream package's tests.)
func TestTalonOneEffectsReachTheShop(t *testing.T) {
	effects := `[{"campaignId":1,"rulesetId":2,"ruleIndex":0,"ruleName":"10% off","effectType":"setDiscount","props":{"name":"10% off","value":24.69}}]`
	var puts atomic.Int32
	talon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			CustomerSession struct {
				CartItems []map[string]any `json:"cartItems"`
			} `json:"customerSession"`
		}
		if r.Method != "PUT" || !strings.HasPrefix(r.URL.Path, "/v2/customer_sessions/") ||
			r.Header.Get("Authorization") != "ApiKey-v1 talon-key" || json.Unmarshal(body, &req) != nil {
			t.Errorf("unexpected Talon.One request %s %s %q", r.Method, r.URL, r.Header.Get("Authorization"))
		}
		puts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"customerSession":{},"effects":`+effects+`}`)
	}))
	defer talon.Close()
	var promotions atomic.Value
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		promotions.Store(r.Header.Get("X-Promotions"))
		io.WriteString(w, "shop")
	}))
	defer shop.Close()

	tester := newTester(t)
	tester.InitServer(siteConfigWith(`
		forward talonone `+talon.URL+` {
			api_key talon-key
		}
		hmac_key test-hmac`, `reverse_proxy `+strings.TrimPrefix(shop.URL, "http://")+` {
		header_up X-Promotions {sessiontap.effects}
		header_up X-Cart-Total {sessiontap.cart.total}
	}`)+opsSite("", ""), "caddyfile")

	s := collect(t, tester, cartBody)
	waitFor(t, "the effects on the session", func() bool {
		_, body := do(t, tester, "GET", opsURL+"/sessions/"+s.ID, "", "Authorization", "Bearer test-key")
		return strings.Contains(body, `"effects":[{`)
	})
	// The feedback is in the session's history, after the cart it answered.
	_, body := do(t, tester, "GET", opsURL+"/sessions/"+s.ID, "", "Authorization", "Bearer test-key")
	var stored struct {
		History []struct {
			Version uint64
			Source  string
			Changes []string
			Path    string
		}
	}
	json.Unmarshal([]byte(body), &stored)
	if h := stored.History; len(h) != 2 || h[0].Source != "collect" || h[1].Source != "upstream" ||
		strings.Join(h[1].Changes, ",") != "feedback" || h[1].Path != "talonone" || h[1].Version != h[0].Version+1 {
		t.Errorf("history %+v: want the collect, then talonone's feedback", h)
	}
	do(t, tester, "GET", "http://localhost:9080/", "")
	got, _ := promotions.Load().(string)
	var want, have any
	json.Unmarshal([]byte(effects), &want)
	if json.Unmarshal([]byte(got), &have) != nil || !jsonEqual(want, have) {
		t.Errorf("X-Promotions = %q, want the effects", got)
	}
	if puts.Load() != 1 {
		t.Errorf("%d PUTs to Talon.One for one cart change", puts.Load())
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
