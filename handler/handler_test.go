package handler

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// nextFunc adapts a function to Next.
type nextFunc func(http.ResponseWriter, *http.Request) error

func (f nextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// shopNext stands in for the shop: it answers 200 "shop" and counts calls.
type shopNext struct{ calls int }

func (u *shopNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.calls++
	_, err := io.WriteString(w, "shop")
	return err
}

func testConfig() Config {
	return Config{
		CookieName:   "sessiontap_id",
		CookieMaxAge: 30 * 24 * time.Hour,
		RespectDNT:   true,
		OptOutCookie: "sessiontap_optout",
		CollectPath:  "/_sessiontap/collect",
		// Collect answers 204 and nothing else; the tests read what it
		// stored here.
		OnSession: func(_ context.Context, s *model.Session) { lastCollected.Store(s) },
	}
}

// lastCollected is the session the last write stored (testConfig).
var lastCollected atomic.Pointer[model.Session]

// collectView is what the collect tests check of a stored session.
type collectView struct {
	ID       string
	Version  uint64
	Cart     model.Cart
	Customer model.Customer
	PageType model.PageType
}

func newTestHandler(t testing.TB, cfg Config) (*Handler, cache.Store) {
	t.Helper()
	store, err := cache.NewBigcache(context.Background(), cache.BigcacheConfig{MaxSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h, err := New(cfg, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h, store
}

// serveNow is h.Serve, returning once the writes it queued are stored.
func serveNow(h *Handler, w http.ResponseWriter, r *http.Request, next Next) error {
	err := h.Serve(w, r, next)
	h.later.wait()
	return err
}

// serve runs one request through h and returns the recorded response.
func serve(t *testing.T, h *Handler, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	if err := serveNow(h, w, r, &shopNext{}); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return w
}

func ownCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == "sessiontap_id" {
			return c
		}
	}
	return nil
}

func collectReq(body string, cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/_sessiontap/collect", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// decodeView checks that collect answered 200 with the version alone,
// and returns the session the request stored.
func decodeView(t *testing.T, w *httptest.ResponseRecorder) collectView {
	t.Helper()
	s := lastCollected.Swap(nil)
	if w.Code != http.StatusOK || s == nil || w.Body.String() != fmt.Sprintf(`{"version":%d}`+"\n", s.Version) {
		t.Fatalf("status %d, body %q, stored %v", w.Code, w.Body, s)
	}
	return collectView{ID: s.ID, Version: s.Version, Cart: s.Cart, Customer: s.Customer, PageType: s.PageType}
}

func TestCookieIssuedAndHonoured(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	w := serve(t, h, httptest.NewRequest("GET", "/", nil))
	c := ownCookie(t, w)
	if c == nil {
		t.Fatal("no session cookie on a first visit")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie attributes: %+v", c)
	}
	if c.MaxAge != 30*24*3600 {
		t.Errorf("max age %d", c.MaxAge)
	}
	id, _, ok := model.ParseCookieValue(c.Value)
	if !ok || len(id) != 22 {
		t.Fatalf("cookie value %q is not an own id", c.Value)
	}

	// The same cookie on the same day: honoured, not set again.
	w = serve(t, h, collectReq(`{"page_type":"front"}`, c))
	if got := decodeView(t, w).ID; got != id {
		t.Errorf("session %q, want the cookie's %q", got, id)
	}
	if ownCookie(t, w) != nil {
		t.Error("cookie re-set on the day it was issued")
	}
}

func TestCookieRenewedOnceADay(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return now }
	first := ownCookie(t, serve(t, h, httptest.NewRequest("GET", "/", nil)))

	now = now.Add(25 * time.Hour)
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(first)
	renewed := ownCookie(t, serve(t, h, r))
	if renewed == nil {
		t.Fatal("cookie not renewed a day later")
	}
	oldID, _, _ := model.ParseCookieValue(first.Value)
	newID, _, _ := model.ParseCookieValue(renewed.Value)
	if oldID != newID {
		t.Errorf("renewal changed the id: %q → %q", oldID, newID)
	}
}

func TestSecureCookieOverTLS(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	r := httptest.NewRequest("GET", "https://shop.example/", nil) // sets r.TLS
	if c := ownCookie(t, serve(t, h, r)); c == nil || !c.Secure {
		t.Errorf("cookie over TLS: %+v", c)
	}
}

func TestMalformedOwnCookieReplaced(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	for _, v := range []string{"garbage", "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA!A.k", "short.k", "AAAAAAAAAAAAAAAAAAAAAA.-1"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: "sessiontap_id", Value: v})
		c := ownCookie(t, serve(t, h, r))
		if c == nil {
			t.Errorf("%q: not replaced", v)
			continue
		}
		if _, _, ok := model.ParseCookieValue(c.Value); !ok || strings.HasPrefix(c.Value, strings.Split(v, ".")[0]) {
			t.Errorf("%q: replaced by %q", v, c.Value)
		}
	}
}

func TestExternalIDWins(t *testing.T) {
	cfg := testConfig()
	cfg.Sources = []IDSource{{From: "header", Name: "X-Session-Id"}, {From: "cookie", Name: "2c.cId"}}
	h, store := newTestHandler(t, cfg)

	r := collectReq(`{"page_type":"cart"}`, &http.Cookie{Name: "2c.cId", Value: "nosto-abc"},
		&http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(model.NewID(), h.day())})
	w := serve(t, h, r)
	if got := decodeView(t, w).ID; got != "nosto-abc" {
		t.Errorf("session %q, want the external cookie's", got)
	}
	if ownCookie(t, w) != nil {
		t.Error("own cookie set although an external id was used")
	}

	// The header comes first in the list, so it wins over the cookie.
	r = collectReq(`{"page_type":"cart"}`, &http.Cookie{Name: "2c.cId", Value: "nosto-abc"})
	r.Header.Set("X-Session-Id", "shop:42")
	if got := decodeView(t, serve(t, h, r)).ID; got != "shop:42" {
		t.Errorf("session %q, want the header's", got)
	}
	if _, err := store.Get(context.Background(), "shop:42"); err != nil {
		t.Errorf("external session not stored: %v", err)
	}
}

func TestMalformedExternalIDsNeverStored(t *testing.T) {
	cfg := testConfig()
	cfg.Sources = []IDSource{{From: "header", Name: "X-Session-Id"}}
	h, store := newTestHandler(t, cfg)
	for _, bad := range []string{"has space", "semi;colon", "quote\"d", "ümlaut", strings.Repeat("a", 257), "<script>"} {
		r := collectReq(`{"page_type":"cart"}`)
		r.Header.Set("X-Session-Id", bad)
		v := decodeView(t, serve(t, h, r))
		if v.ID == bad {
			t.Errorf("%q used as a session id", bad)
		}
		if _, err := store.Get(context.Background(), bad); err == nil {
			t.Errorf("%q stored", bad)
		}
	}
	// 256 bytes is still fine.
	ok := strings.Repeat("a", 256)
	r := collectReq(`{"page_type":"cart"}`)
	r.Header.Set("X-Session-Id", ok)
	if v := decodeView(t, serve(t, h, r)); v.ID != ok {
		t.Errorf("a 256-byte id was refused")
	}
}

func TestDoNotTrackStoresNothing(t *testing.T) {
	cases := map[string]func(*http.Request){
		"DNT":     func(r *http.Request) { r.Header.Set("DNT", "1") },
		"Sec-GPC": func(r *http.Request) { r.Header.Set("Sec-GPC", "1") },
		"opt-out": func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "sessiontap_optout", Value: "1"}) },
	}
	for name, mark := range cases {
		t.Run(name, func(t *testing.T) {
			h, store := newTestHandler(t, testConfig())
			id := model.NewID()
			own := &http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(id, 0)}

			// A page view is proxied as usual, with no cookie.
			r := httptest.NewRequest("GET", "/", nil)
			mark(r)
			u := &shopNext{}
			w := httptest.NewRecorder()
			if err := serveNow(h, w, r, u); err != nil || u.calls != 1 || w.Body.String() != "shop" {
				t.Fatalf("not proxied: err %v calls %d body %q", err, u.calls, w.Body)
			}
			if len(w.Result().Cookies()) != 0 {
				t.Errorf("cookie set: %v", w.Result().Cookies())
			}
			// A collect with an old cookie is accepted and forgotten.
			r = collectReq(`{"cart":{"items":[{"product_id":"1","quantity":1,"unit_price":1}]}}`, own)
			mark(r)
			w = serve(t, h, r)
			if w.Code != http.StatusNoContent || len(w.Result().Cookies()) != 0 {
				t.Errorf("collect: %d %v", w.Code, w.Result().Cookies())
			}
			if _, err := store.Get(context.Background(), id); err != cache.ErrNotFound {
				t.Errorf("stored despite %s: %v", name, err)
			}
		})
	}
}

func TestDNTIgnoredWhenOff(t *testing.T) {
	cfg := testConfig()
	cfg.RespectDNT = false
	h, _ := newTestHandler(t, cfg)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("DNT", "1")
	if ownCookie(t, serve(t, h, r)) == nil {
		t.Error("respect_dnt off, yet no cookie")
	}
}

func TestOnIdentityHook(t *testing.T) {
	cfg := testConfig()
	var seen []Identity
	cfg.OnIdentity = func(_ *http.Request, id Identity) { seen = append(seen, id) }
	h, _ := newTestHandler(t, cfg)
	serve(t, h, httptest.NewRequest("GET", "/", nil))
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("DNT", "1")
	serve(t, h, r)
	if len(seen) != 1 || seen[0].Source != "new" || !model.ValidID(seen[0].ID) {
		t.Errorf("hook saw %+v", seen)
	}
}
