package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// largeCart is a collect body with n cart lines as a real shop sends them,
// with long product names, and a customer.
func largeCart(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"product_id":"PRD-%06d","sku_id":"PRD-%06d-XL-BLK","name":"Organic cotton crew-neck T-shirt, relaxed fit, black, XL %d","quantity":%d,"unit_price":1234.95,"price_currency_code":"EUR"}`, i, i, i, 1+i%5)
	}
	return `{"cart":{"items":[` + strings.Join(items, ",") + `]},"customer":{"customer_reference":"c-1234567890","email":"first.last@example.com","first_name":"Firstname","last_name":"Lastname","marketing_permission":true},"page_type":"cart"}`
}

// TestCollectBodyFitsALargeCart: the default body cap takes a 100-line
// cart with long names, and the session it makes stays well inside the
// default session bound of the Caddy glue (64 KiB) with a full history.
func TestCollectBodyFitsALargeCart(t *testing.T) {
	body := largeCart(100)
	t.Logf("a 100-line cart: %d bytes of JSON (cap %d)", len(body), DefaultCollectBody)
	if len(body) > DefaultCollectBody*7/8 {
		t.Fatalf("a 100-line cart is %d bytes: too close to the %d-byte cap", len(body), DefaultCollectBody)
	}
	cfg := testConfig()
	cfg.History = 100
	h, store := newTestHandler(t, cfg)
	v := newVisitor(t, h)
	for i := range 100 { // a full history
		if w := v.post(fmt.Sprintf(`{"page_type":"%s"}`, []string{"cart", "product"}[i%2])); w.Code != http.StatusOK {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	decodeView(t, v.post(body))
	id, _, _ := model.ParseCookieValue(v.cookie.Value)
	s, err := store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	size := len(s.AppendBinary(nil))
	t.Logf("its session with 100 history entries: %d bytes encoded", size)
	if size > 32<<10 {
		t.Errorf("%d bytes: a 64 KiB session bound leaves less than half for orders and feedback", size)
	}
}

// TestCollectBodyCap: a body over the cap is refused before it is read
// (413 when its length is declared, 400 naming the body when it is not),
// and nothing is stored.
func TestCollectBodyCap(t *testing.T) {
	cfg := testConfig()
	cfg.CollectBody = 4 << 10
	h, store := newTestHandler(t, cfg)
	body := `{"page_type":"` + strings.Repeat("x", 5<<10) + `"}`
	for _, declared := range []bool{true, false} {
		v := newVisitor(t, h)
		r := collectReq(body, v.cookie)
		want := http.StatusRequestEntityTooLarge
		if !declared {
			r.ContentLength, r.Body = -1, io.NopCloser(strings.NewReader(body))
			want = http.StatusBadRequest
		}
		w := serve(t, h, r)
		var e struct{ Error string }
		if w.Code != want || json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, "larger than 4096 bytes") {
			t.Errorf("length declared %v: %d %s, want %d naming the cap", declared, w.Code, w.Body, want)
		}
		id, _, _ := model.ParseCookieValue(v.cookie.Value)
		if _, err := store.Get(context.Background(), id); err != cache.ErrNotFound {
			t.Errorf("something was stored: %v", err)
		}
	}
}

// stubLimits refuses what it is told to.
type stubLimits struct {
	newSession, collect bool
	newSessions         int
}

func (s *stubLimits) NewSession(*http.Request) bool { s.newSessions++; return s.newSession }
func (s *stubLimits) NewSessionWait(*http.Request) time.Duration {
	return 2500 * time.Millisecond
}
func (s *stubLimits) Collect(*http.Request) (bool, time.Duration) { return s.collect, 90 * time.Second }

// TestLimitedNewSessionServedUntracked: a page past the new-session limit
// reaches the shop with no cookie and nothing stored; a collect is 429.
func TestLimitedNewSessionServedUntracked(t *testing.T) {
	cfg := testConfig()
	lim := &stubLimits{collect: true}
	cfg.Limits = lim
	h, store := newTestHandler(t, cfg)
	w := serve(t, h, httptest.NewRequest("GET", "/page", nil))
	if w.Code != http.StatusOK || w.Body.String() != "shop" || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("page: %d %q Set-Cookie %q", w.Code, w.Body, w.Header().Get("Set-Cookie"))
	}
	w = serve(t, h, collectReq(`{"page_type":"cart"}`))
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3" || w.Header().Get("Set-Cookie") != "" {
		t.Errorf("collect: %d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if st := store.Stats(); st.Entries != 0 || lim.newSessions != 2 {
		t.Errorf("%d sessions stored, %d asked for", st.Entries, lim.newSessions)
	}
	// A visitor who has a session keeps it: only new ones are limited.
	v := newVisitor(t, h)
	decodeView(t, v.post(`{"page_type":"cart"}`))
}

// TestLimitedCollect: past the collect limit, 429 with Retry-After and the
// JSON error, and nothing stored.
func TestLimitedCollect(t *testing.T) {
	cfg := testConfig()
	cfg.Limits = &stubLimits{newSession: true}
	h, store := newTestHandler(t, cfg)
	v := newVisitor(t, h)
	w := v.post(`{"page_type":"cart"}`)
	var e struct{ Error string }
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "90" ||
		json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, "too many collect requests") {
		t.Errorf("%d Retry-After %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if store.Stats().Entries != 0 {
		t.Error("a refused collect was stored")
	}
}
