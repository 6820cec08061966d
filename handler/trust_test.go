package handler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/jsonmap"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// A cookie value we did not sign never names a session: not a guessed
// one, not one in the format before signing, not ours with a changed id.
func TestOnlyCookiesWeSignedNameASession(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	victim := model.NewID()
	good := h.signer.sign(victim, h.day())
	mac := good[strings.LastIndexByte(good, '.')+1:]
	for name, v := range map[string]string{
		"planted":          "AAAAAAAAAAAAAAAAAAAAAA.0",
		"unsigned":         model.CookieValue(victim, h.day()),
		"another id's mac": model.CookieValue(model.NewID(), h.day()) + "." + mac,
		"another key":      newCookieSigner([]byte("0123456789abcdef-other")).sign(victim, h.day()),
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: "sessiontap_id", Value: v})
		c := ownCookie(t, serve(t, h, r))
		if c == nil {
			t.Fatalf("%s: no new cookie", name)
		}
		id, _, ok := h.signer.verify(c.Value)
		if !ok || id == victim || strings.HasPrefix(v, id) {
			t.Errorf("%s: %q became session %q", name, v, id)
		}
	}
	// Ours verifies and keeps its session, even behind a planted one of
	// the same name (a sibling domain's cookie is sent first).
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "sessiontap_id=AAAAAAAAAAAAAAAAAAAAAA.0; sessiontap_id="+good)
	if c := ownCookie(t, serve(t, h, r)); c != nil {
		t.Errorf("a valid cookie behind a planted one was replaced by %q", c.Value)
	}
}

func TestCollectRefusesWhatAFormOrAnotherSiteCanSend(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	for name, tc := range map[string]struct {
		header http.Header
		status int
	}{
		"text/plain form":       {http.Header{"Content-Type": {"text/plain"}}, http.StatusUnsupportedMediaType},
		"urlencoded form":       {http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, http.StatusUnsupportedMediaType},
		"no content type":       {http.Header{}, http.StatusUnsupportedMediaType},
		"same-site sibling":     {http.Header{"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"same-site"}}, http.StatusForbidden},
		"cross-site":            {http.Header{"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		"other origin, no SFS":  {http.Header{"Content-Type": {"application/json"}, "Origin": {"http://evil.example.com"}}, http.StatusForbidden},
		"null origin":           {http.Header{"Content-Type": {"application/json"}, "Origin": {"null"}}, http.StatusForbidden},
		"same origin":           {http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Origin": {"http://example.com"}}, http.StatusOK},
		"same-origin fetch":     {http.Header{"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"same-origin"}}, http.StatusOK},
		"not from a browser":    {http.Header{"Content-Type": {"application/json"}}, http.StatusOK},
		"user typed (SFS none)": {http.Header{"Content-Type": {"application/json"}, "Sec-Fetch-Site": {"none"}}, http.StatusOK},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://example.com/_sessiontap/collect", strings.NewReader(`{"page_type":"cart"}`))
		for k, v := range tc.header {
			r.Header[k] = v
		}
		w := serve(t, h, r)
		if w.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", name, w.Code, w.Body, tc.status)
		}
		if set := ownCookie(t, w); (set != nil) != (tc.status == http.StatusOK) {
			t.Errorf("%s: answered %d with Set-Cookie %v: only an accepted collect may set it", name, w.Code, set)
		}
	}
}

// pageWith answers like a shop whose page carries these headers.
type pageWith http.Header

func (p pageWith) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	for k, v := range p {
		w.Header()[k] = v
	}
	_, err := w.Write([]byte("page"))
	return err
}

func TestNoCookieOnAnswersASharedCacheMayStore(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	for cc, want := range map[string]bool{
		"public, max-age=60":          false,
		"max-age=600":                 false,
		"max-age=0, must-revalidate":  true,
		"s-maxage=300":                false,
		"public, max-age=60, private": true,
		"private, max-age=60":         true,
		"no-store":                    true,
		"":                            true,
	} {
		w := httptest.NewRecorder()
		page := pageWith{}
		if cc != "" {
			page["Cache-Control"] = []string{cc}
		}
		if err := serveNow(h, w, httptest.NewRequest("GET", "/", nil), page); err != nil {
			t.Fatal(err)
		}
		if got := ownCookie(t, w) != nil; got != want || w.Body.String() != "page" {
			t.Errorf("Cache-Control %q: Set-Cookie %v, want %v (body %q)", cc, got, want, w.Body)
		}
	}
}

func TestCustomerTokenMakesCollectIdentityVerified(t *testing.T) {
	key := []byte("shop-signs-customers-with-this")
	cfg := testConfig()
	cfg.CustomerTokenKey = key
	h, store := newTestHandler(t, cfg)
	now := time.Now()
	body := func(ref, email, token string) string {
		return `{"customer":{"customer_reference":"` + ref + `","email":"` + email + `"},"customer_token":"` + token + `"}`
	}
	// Each case makes the token for the visitor's own session (mine) or
	// for another one.
	type token func(session string) string
	for name, tc := range map[string]struct {
		ref, email string
		token      token
		status     int
	}{
		"valid": {"alice", "a@example.com", func(s string) string { return CustomerToken(key, s, "alice", "a@example.com", now.Add(time.Hour)) }, 200},
		"other session": {"alice", "a@example.com", func(string) string {
			return CustomerToken(key, model.NewID(), "alice", "a@example.com", now.Add(time.Hour))
		}, 400},
		"other customer": {"bob", "a@example.com", func(s string) string { return CustomerToken(key, s, "alice", "a@example.com", now.Add(time.Hour)) }, 400},
		"other email":    {"alice", "m@example.com", func(s string) string { return CustomerToken(key, s, "alice", "a@example.com", now.Add(time.Hour)) }, 400},
		"expired":        {"alice", "a@example.com", func(s string) string { return CustomerToken(key, s, "alice", "a@example.com", now.Add(-time.Second)) }, 400},
		"too long-lived": {"alice", "a@example.com", func(s string) string { return CustomerToken(key, s, "alice", "a@example.com", now.Add(2*time.Hour)) }, 400},
		"another key": {"alice", "a@example.com", func(s string) string {
			return CustomerToken([]byte("not-the-shops-key!"), s, "alice", "a@example.com", now.Add(time.Hour))
		}, 400},
		"garbage": {"alice", "a@example.com", func(string) string { return "v2.x.y" }, 400},
	} {
		v := newVisitor(t, h)
		id, _, _ := model.ParseCookieValue(v.cookie.Value)
		w := v.post(body(tc.ref, tc.email, tc.token(id)))
		if w.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", name, w.Code, w.Body, tc.status)
			continue
		}
		if tc.status == 400 && (!strings.Contains(w.Body.String(), `"field":"customer_token"`) || len(setCookies(w)) != 0) {
			t.Errorf("%s: the error does not name customer_token, or sets a cookie: %s %q", name, w.Body, setCookies(w))
		}
		if tc.status != 200 {
			continue
		}
		// A login into a stored session moves it (see below); this one
		// was new, and stays where it is.
		s, err := store.Get(context.Background(), id)
		if err != nil || !s.Customer.Verified || s.Customer.CustomerReference != "alice" {
			t.Errorf("%s: stored %+v (%v), want alice verified", name, s, err)
		}
	}
	// Without a token the customer is claimed.
	v := newVisitor(t, h)
	if w := v.post(`{"customer":{"customer_reference":"alice"}}`); w.Code != 200 {
		t.Fatalf("claimed customer: %d %s", w.Code, w.Body)
	}
	id, _, _ := model.ParseCookieValue(v.cookie.Value)
	if s, err := store.Get(context.Background(), id); err != nil || s.Customer.Verified {
		t.Errorf("a customer without a token is stored as verified: %+v %v", s, err)
	}
}

// The README's recipe, computed in Node.js with crypto.createHmac: a shop's
// backend in any language must get the token this package verifies.
func TestCustomerTokenMatchesTheREADMERecipe(t *testing.T) {
	got := CustomerToken([]byte("k-0123456789abcdef"), "sess-0123456789abcdef", "alice", "a@example.com", time.Unix(1800000000, 0))
	if want := "v2.1800000000.hNnXxgtWSx5DZn3Pw44nA8e1JmA0U_jEODfOi2b-2xU"; got != want {
		t.Fatalf("token %s, want %s", got, want)
	}
}

// A __Host- cookie is one no sibling subdomain can set: browsers take it
// only Secure, with Path=/ and no Domain, which is how we set it even
// where TLS ends before Caddy.
func TestHostPrefixedCookieIsSecure(t *testing.T) {
	cfg := testConfig()
	cfg.CookieName = "__Host-sid"
	h, _ := newTestHandler(t, cfg)
	w := serve(t, h, httptest.NewRequest("GET", "http://shop.example/", nil))
	set := w.Header().Get("Set-Cookie")
	if !strings.HasPrefix(set, "__Host-sid=") || !strings.Contains(set, "; Secure") || !strings.Contains(set, "Path=/") || strings.Contains(set, "Domain") {
		t.Fatalf("Set-Cookie %q", set)
	}
}

// A login (a verified customer the session did not have) moves the
// session to a fresh id: whoever holds the old cookie holds nothing.
func TestVerifiedLoginMovesTheSessionToAFreshID(t *testing.T) {
	key := []byte("shop-signs-customers-with-this")
	cfg := testConfig()
	cfg.CustomerTokenKey = key
	var erased []string
	cfg.Erased = func(id string) { erased = append(erased, id) }
	h, store := newTestHandler(t, cfg)
	v := newVisitor(t, h) // the cookie an attacker tossed in, and holds too
	if w := v.post(`{"cart":{"items":[{"product_id":"p1","quantity":1,"unit_price":1}]}}`); w.Code != 200 {
		t.Fatalf("cart: %d %s", w.Code, w.Body)
	}
	oldID, _, _ := model.ParseCookieValue(v.cookie.Value)
	login := func(ref string) *httptest.ResponseRecorder {
		id, _, _ := model.ParseCookieValue(v.cookie.Value)
		token := CustomerToken(key, id, ref, "", time.Now().Add(time.Minute))
		return v.post(`{"customer":{"customer_reference":"` + ref + `"},"customer_token":"` + token + `"}`)
	}
	w := login("alice")
	moved := ownCookie(t, w)
	if w.Code != 200 || moved == nil {
		t.Fatalf("login: %d %s, Set-Cookie %v", w.Code, w.Body, moved)
	}
	newID, _, ok := h.signer.verify(moved.Value)
	if !ok || newID == oldID {
		t.Fatalf("the session stayed at %q (new cookie %q)", oldID, moved.Value)
	}
	if _, err := store.Get(context.Background(), oldID); err == nil {
		t.Error("the old id still names a session")
	}
	// Erased, so that what the old id had queued is cancelled.
	if len(erased) != 1 || erased[0] != oldID {
		t.Errorf("erased %v; want the old id", erased)
	}
	s, err := store.Get(context.Background(), newID)
	if err != nil || len(s.Cart.Items) != 1 || s.Customer.CustomerReference != "alice" || !s.Customer.Verified {
		t.Fatalf("the moved session: %+v %v; want the cart and alice, verified", s, err)
	}
	// The same customer again is no login; another one is.
	v.cookie = moved
	if w := login("alice"); ownCookie(t, w) != nil {
		t.Error("the same customer moved the session again")
	}
	if w := login("bob"); ownCookie(t, w) == nil {
		t.Error("another customer's login did not move the session")
	}
}

// Another site's POST (a payment provider's return) comes without our
// SameSite=Lax cookie: it must not replace the visitor's cookie with a new
// session's. It still reaches the shop.
func TestCrossSitePostIssuesNoCookie(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	for name, header := range map[string]http.Header{
		"Sec-Fetch-Site": {"Sec-Fetch-Site": {"cross-site"}},
		"Origin (HTTP)":  {"Origin": {"https://pay.example.net"}},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://shop.example/checkout/return", strings.NewReader("PaRes=x"))
		r.Header = header
		w := serve(t, h, r)
		if c := ownCookie(t, w); c != nil || w.Body.String() != "shop" {
			t.Errorf("%s: Set-Cookie %v, body %q", name, c, w.Body)
		}
	}
	// A cross-site link (GET) is how new visitors arrive: they get one.
	r := httptest.NewRequest(http.MethodGet, "http://shop.example/", nil)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if ownCookie(t, serve(t, h, r)) == nil {
		t.Error("a visitor arriving by a link from another site got no session")
	}
}

// setCookies are every Set-Cookie of ours on w, in order.
func setCookies(w *httptest.ResponseRecorder) []string {
	var out []string
	for _, c := range w.Result().Cookies() {
		if c.Name == "sessiontap_id" {
			out = append(out, c.Value)
		}
	}
	return out
}

// A login on the first request of a day used to renew the old cookie and
// set the new one in the same answer; the browser keeps the last.
func TestLoginOnARenewalDaySetsOnlyTheNewCookie(t *testing.T) {
	key := []byte("shop-signs-customers-with-this")
	cfg := testConfig()
	cfg.CustomerTokenKey = key
	h, _ := newTestHandler(t, cfg)
	v := newVisitor(t, h)
	old := model.NewID()
	v.cookie.Value = h.signer.sign(old, h.day()-1) // due for renewal today
	if w := v.post(`{"page_type":"cart"}`); w.Code != 200 {
		t.Fatal(w.Body)
	}
	token := CustomerToken(key, old, "alice", "", time.Now().Add(time.Minute))
	w := v.post(`{"customer":{"customer_reference":"alice"},"customer_token":"` + token + `"}`)
	set := setCookies(w)
	if len(set) != 1 {
		t.Fatalf("Set-Cookie %q: want exactly one", set)
	}
	if id, _, ok := h.signer.verify(set[0]); !ok || id == old {
		t.Fatalf("the one cookie set names %q, the old session %q", id, old)
	}
}

// Two verifying cookies of ours with different ids: one was tossed in by
// another site. Neither is used, and neither is renewed (a renewal would
// make the tossed one the visitor's for the whole host).
func TestTwoOfOurCookiesAreAmbiguous(t *testing.T) {
	h, store := newTestHandler(t, testConfig())
	mine, tossed := model.NewID(), model.NewID()
	r := httptest.NewRequest("GET", "/page", nil)
	r.Header.Set("Cookie", "sessiontap_id="+h.signer.sign(tossed, h.day()-3)+"; sessiontap_id="+h.signer.sign(mine, h.day()-3))
	w := serve(t, h, r)
	if set := setCookies(w); len(set) != 0 || w.Body.String() != "shop" {
		t.Fatalf("Set-Cookie %q, body %q: want the page and no cookie", set, w.Body)
	}
	for _, id := range []string{mine, tossed} {
		if _, err := store.Get(context.Background(), id); err == nil {
			t.Errorf("session %s was written by an ambiguous request", id)
		}
	}
	// The same session twice (a path-scoped copy) is not ambiguous.
	same := h.signer.sign(mine, h.day())
	r = httptest.NewRequest("GET", "/page", nil)
	r.Header.Set("Cookie", "sessiontap_id="+same+"; sessiontap_id="+same)
	if set := setCookies(serve(t, h, r)); len(set) != 0 {
		t.Errorf("two copies of one cookie: Set-Cookie %q", set)
	}
}

// A cookie stamped longer ago than it may live does not verify: a value
// copied once is not a key for ever.
func TestStaleCookieStartsANewSession(t *testing.T) {
	h, _ := newTestHandler(t, testConfig()) // max_age 30 days
	old := model.NewID()
	for stamp, keeps := range map[int64]bool{h.day() - 30: true, h.day() - 40: false, h.day() + 5: false} {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: "sessiontap_id", Value: h.signer.sign(old, stamp)})
		set := setCookies(serve(t, h, r))
		id := ""
		if len(set) == 1 {
			id, _, _ = h.signer.verify(set[0])
		}
		if kept := id == old || len(set) == 0; kept != keeps {
			t.Errorf("stamp %d days from today: kept %v (Set-Cookie %q), want %v", stamp-h.day(), kept, set, keeps)
		}
	}
}

// An order page's buyer comes from the shop's server: verified, so that
// sinks may take the buyer as the customer. A collected order's is not.
func TestOrderBuyerFromAPageIsVerified(t *testing.T) {
	h, store, c := capturingHandler(t, nil)
	order := `<div class="nosto_purchase_order"><span class="order_number">1445</span><div class="buyer">` +
		`<span class="email">jack@example.com</span><span class="customer_reference">jack</span></div><div class="purchased_items">` +
		`<div class="line_item"><span class="product_id">p1</span><span class="quantity">1</span><span class="unit_price">5</span></div></div></div>`
	visit(t, h, c, page{header: http.Header{"Content-Type": {"text/html"}}, body: order})
	id, _, _ := model.ParseCookieValue(c.Value)
	s, err := store.Get(context.Background(), id)
	if err != nil || len(s.Orders) != 1 || !s.Orders[0].Buyer.Verified || s.Orders[0].Buyer.Email != "jack@example.com" {
		t.Fatalf("stored %+v (%v): want one order whose buyer is verified", s, err)
	}
}

// The usual shop tags the logged-in customer in its pages, so the session
// already has alice, verified, when the page posts her token: that is
// still the login that moves the session, once.
func TestTokenLoginMovesASessionTaggingAlreadyVerified(t *testing.T) {
	key := []byte("shop-signs-customers-with-this")
	h, store, c := capturingHandler(t, func(cfg *Config) { cfg.CustomerTokenKey = key })
	tagged := `<div class="nosto_customer"><span class="customer_reference">alice</span></div>`
	visit(t, h, c, page{header: http.Header{"Content-Type": {"text/html"}}, body: tagged})
	old, _, _ := model.ParseCookieValue(c.Value)
	if s, err := store.Get(context.Background(), old); err != nil || !s.Customer.Verified {
		t.Fatalf("the tagged customer: %+v %v", s, err)
	}
	v := &visitor{t: t, h: h, cookie: c}
	post := func() *httptest.ResponseRecorder {
		id, _, _ := model.ParseCookieValue(v.cookie.Value)
		token := CustomerToken(key, id, "alice", "", time.Now().Add(time.Minute))
		return v.post(`{"customer":{"customer_reference":"alice"},"customer_token":"` + token + `"}`)
	}
	set := setCookies(post())
	if len(set) != 1 {
		t.Fatalf("the token login set %q: want the moved session's cookie", set)
	}
	v.cookie = &http.Cookie{Name: "sessiontap_id", Value: set[0]}
	if again := setCookies(post()); len(again) != 0 {
		t.Errorf("the same login moved the session again: %q", again)
	}
}

// A 304 updates a cache's stored answer with its headers, and permanent
// redirects are cached unless told otherwise: no visitor's cookie on them.
func TestNoCookieOnAnswersCachesReuse(t *testing.T) {
	h, _ := newTestHandler(t, testConfig())
	for _, code := range []int{http.StatusNotModified, http.StatusMovedPermanently, http.StatusPermanentRedirect, http.StatusFound} {
		w := httptest.NewRecorder()
		// page writes an empty body: a 304 refuses a body, not an empty one.
		_ = serveNow(h, w, httptest.NewRequest("GET", "/", nil), page{status: code})
		if got, want := len(setCookies(w)) != 0, code == http.StatusFound; got != want {
			t.Errorf("%d: Set-Cookie %v, want %v", code, got, want)
		}
	}
}

// A cart API's answer from a shared cache may be another visitor's: its
// customer (verified, as the shop's server's) and cart are not taken.
func TestCachedCartAnswerIsNotTaken(t *testing.T) {
	route := jsonmap.Route{Method: "GET", Path: "/api/cart", Source: jsonmap.SourceResponse, Mapping: jsonmap.Mapping{
		Items:    "cart.items",
		Fields:   jsonmap.ItemFields{ProductID: "product_id", Quantity: "quantity", UnitPrice: "unit_price"},
		Customer: jsonmap.CustomerFields{Email: "customer.email"},
	}}
	doc := `{"cart":{"items":[{"product_id":"p1","quantity":1,"unit_price":1}]},"customer":{"email":"other@example.com"}}`
	for name, tc := range map[string]struct {
		header http.Header
		taken  bool
	}{
		"private": {http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"private"}}, true},
		"cached":  {http.Header{"Content-Type": {"application/json"}, "Age": {"120"}}, false},
	} {
		h, store, c := capturingHandler(t, func(cfg *Config) { cfg.Capture.JSON = []jsonmap.Route{route} })
		r := httptest.NewRequest("GET", "/api/cart", nil)
		r.AddCookie(c)
		if err := serveNow(h, httptest.NewRecorder(), r, page{header: tc.header, body: doc}); err != nil {
			t.Fatal(err)
		}
		id, _, _ := model.ParseCookieValue(c.Value)
		s, err := store.Get(context.Background(), id)
		taken := err == nil && s.Customer.Email != ""
		if taken != tc.taken {
			t.Errorf("%s: customer taken %v, want %v (%+v)", name, taken, tc.taken, s)
		}
	}
}
