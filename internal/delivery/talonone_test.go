package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// talonEffects is what the fake Talon.One answers as effects.
const talonEffects = `[{"campaignId":244,"rulesetId":73,"ruleIndex":0,"ruleName":"10% off shoes","effectType":"setDiscount","props":{"name":"10% off","value":2.5}}]`

// talonAnswer is an IntegrationStateV2 (checked against the spec).
var talonAnswer = `{"effects":` + talonEffects + `,"createdCoupons":[],"createdReferrals":[]}`

const talonKey = "secret-api-key"

// fakeTalonOne stands in for Talon.One's Integration API. Each request is
// validated against the spec; answer decides what it gets (nil: 200 with
// talonAnswer).
type fakeTalonOne struct {
	*specServer
	answer atomic.Pointer[func(w http.ResponseWriter, r *http.Request)]
}

func newFakeTalonOne(t *testing.T) *fakeTalonOne {
	t.Helper()
	checkSpecSchema(t, talonOneSpec, "IntegrationStateV2", []byte(talonAnswer))
	f := &fakeTalonOne{}
	f.specServer = newSpecServer(t, talonOneSpec, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Authorization") != "ApiKey-v1 "+talonKey {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"message":"Invalid API key","StatusCode":401}`))
			return
		}
		if a := f.answer.Load(); a != nil {
			(*a)(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(talonAnswer))
	})
	return f
}

func (f *fakeTalonOne) answerWith(status int, header http.Header, body string) {
	h := func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
	f.answer.Store(&h)
}

// lastBody decodes the last request's body.
func (f *fakeTalonOne) last(t *testing.T) (seenRequest, map[string]any) {
	t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		t.Fatal("Talon.One saw no request")
	}
	r := reqs[len(reqs)-1]
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	return r, body
}

var testHasher = NewHasher("test-hmac-key")

func newTestTalonOne(t *testing.T, f *fakeTalonOne, mod func(*TalonOneConfig)) *TalonOne {
	t.Helper()
	cfg := TalonOneConfig{URL: f.URL + "/", APIKey: talonKey, Hasher: testHasher, Client: f.Client()}
	if mod != nil {
		mod(&cfg)
	}
	sink, err := NewTalonOne(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sink.Name() != "talonone" {
		t.Errorf("Name() = %q", sink.Name())
	}
	return sink
}

func price(t *testing.T, s string) model.Decimal {
	t.Helper()
	d, err := model.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// shopper is a logged-in customer, as the shop's server stated it; every
// field is personal data that must not leave in clear.
var shopper = model.Customer{
	CustomerReference: "cust-4711",
	Email:             "jane.doe@example.com",
	FirstName:         "Jane",
	LastName:          "Doe",
	CustomerGroup:     "vip",
	Verified:          true,
}

func assertNoPersonalData(t *testing.T, body []byte) {
	t.Helper()
	for _, v := range []string{shopper.CustomerReference, shopper.Email, shopper.FirstName, shopper.LastName, "jane", "4711"} {
		if bytes.Contains(bytes.ToLower(body), bytes.ToLower([]byte(v))) {
			t.Errorf("the body carries %q in clear: %s", v, body)
		}
	}
}

func testCart(t *testing.T) model.Cart {
	return model.Cart{Items: []model.CartItem{
		{ProductID: "P1", SkuID: "P1-42", Name: "Air Glide", Quantity: 2, UnitPrice: price(t, "99.99"), PriceCurrencyCode: "EUR"},
		{ProductID: "P2", Name: "Socks", Quantity: 1, UnitPrice: price(t, "0.1"), PriceCurrencyCode: "EUR"},
		{ProductID: "P3", Name: "Catalog priced", Quantity: 3},
	}}
}

func deliver(t *testing.T, s Sink, sess model.Session, changed model.Change) (Feedback, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Deliver(ctx, &Update{EventID: "ev-" + strconv.FormatUint(sess.Version, 10), Session: sess, Changed: changed, OccurredAt: time.Now()})
}

func TestTalonOneGuestSession(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	sess := model.Session{ID: "sid-guest", Version: 3, Cart: testCart(t), State: model.StateOpen, Category: "hats"}

	fb, err := deliver(t, sink, sess, model.ChangeCart)
	if err != nil {
		t.Fatal(err)
	}
	if string(fb.Effects) != talonEffects {
		t.Errorf("Effects = %s, want %s", fb.Effects, talonEffects)
	}
	r, _ := f.last(t)
	if r.Method != http.MethodPut || r.Path != "/v2/customer_sessions/sid-guest" || len(r.Query) != 0 {
		t.Errorf("request %s %s?%s", r.Method, r.Path, r.Query.Encode())
	}
	if r.Header.Get("Authorization") != "ApiKey-v1 "+talonKey || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", r.Header)
	}
	// Exact body: prices as JSON numbers from the decimals, SKU falling
	// back to the product id, no price when unknown, no category (the
	// session's last viewed category is not the items').
	want := `{"customerSession":{"profileId":"","state":"open","cartItems":[` +
		`{"name":"Air Glide","sku":"P1-42","quantity":2,"price":99.99},` +
		`{"name":"Socks","sku":"P2","quantity":1,"price":0.1},` +
		`{"name":"Catalog priced","sku":"P3","quantity":3}]}}`
	if string(r.Body) != want {
		t.Errorf("body\n got %s\nwant %s", r.Body, want)
	}
}

func TestTalonOneLoggedInCustomer(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	sess := model.Session{ID: "sid-1", Cart: testCart(t), Customer: shopper}
	if _, err := deliver(t, sink, sess, model.ChangeCustomer); err != nil {
		t.Fatal(err)
	}
	r, body := f.last(t)
	cs := body["customerSession"].(map[string]any)
	want := testHasher.Hash(shopper.CustomerReference)
	if cs["profileId"] != want || len(want) != 64 {
		t.Errorf("profileId = %v, want the HMAC %s", cs["profileId"], want)
	}
	if other := NewHasher("other-key").Hash(shopper.CustomerReference); cs["profileId"] == other {
		t.Error("profileId does not depend on the key")
	}
	if _, ok := cs["identifiers"]; ok {
		t.Error("identifiers sent")
	}
	if _, ok := cs["attributes"]; ok {
		t.Error("attributes sent")
	}
	assertNoPersonalData(t, r.Body)
	assertNoPersonalData(t, []byte(r.Path+"?"+r.Query.Encode()))

	// A customer with an email but no reference is a guest to Talon.One:
	// the email is never the profile.
	sess.Customer = model.Customer{Email: shopper.Email}
	if _, err := deliver(t, sink, sess, model.ChangeCustomer); err != nil {
		t.Fatal(err)
	}
	r, body = f.last(t)
	if p := body["customerSession"].(map[string]any)["profileId"]; p != "" {
		t.Errorf("profileId = %v for a customer without reference", p)
	}
	assertNoPersonalData(t, r.Body)
}

// TestTalonOneOrderClosesSession follows a session through two purchases
// with the real Patch logic: each purchase is its own Talon.One session,
// closed with what was bought.
func TestTalonOneOrderClosesSession(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	sess := model.Session{ID: "sid-o", Customer: shopper}
	apply := func(p model.Patch) {
		if !p.Apply(&sess) {
			t.Fatalf("patch %+v changed nothing", p)
		}
	}
	check := func(changed model.Change, path, state string, wantItems string) {
		t.Helper()
		before := len(f.requests())
		if _, err := deliver(t, sink, sess, changed); err != nil {
			t.Fatal(err)
		}
		if len(f.requests()) != before+1 {
			t.Fatalf("%d requests, want 1", len(f.requests())-before)
		}
		r, body := f.last(t)
		cs := body["customerSession"].(map[string]any)
		items, _ := json.Marshal(cs["cartItems"])
		if r.Path != path || cs["state"] != state || string(items) != wantItems {
			t.Errorf("got %s state %v items %s\nwant %s state %s items %s", r.Path, cs["state"], items, path, state, wantItems)
		}
		if cs["profileId"] != testHasher.Hash(shopper.CustomerReference) {
			t.Errorf("profileId %v", cs["profileId"])
		}
		assertNoPersonalData(t, r.Body)
	}
	line := func(sku string, q int) model.CartItem {
		return model.CartItem{ProductID: sku, Name: sku, Quantity: q, UnitPrice: price(t, "5")}
	}

	apply(model.Patch{Cart: &model.Cart{Items: []model.CartItem{line("A", 1)}}})
	check(model.ChangeCart, "/v2/customer_sessions/sid-o", "open", `[{"name":"A","price":5,"quantity":1,"sku":"A"}]`)

	// The order empties the cart; the Talon.One session is closed with the
	// order's lines.
	apply(model.Patch{Order: &model.Order{OrderNumber: "1001", Buyer: shopper, Items: []model.CartItem{line("A", 1), line("B", 2)}}})
	if sess.State != model.StateClosed || len(sess.Cart.Items) != 0 {
		t.Fatalf("after the order: %+v", sess)
	}
	check(model.ChangeOrder|model.ChangeCart, "/v2/customer_sessions/sid-o", "closed",
		`[{"name":"A","price":5,"quantity":1,"sku":"A"},{"name":"B","price":5,"quantity":2,"sku":"B"}]`)

	// Page views on the thank-you page, even a login: the Talon.One
	// session is closed and takes no updates, so nothing is sent.
	before := len(f.requests())
	for _, c := range []model.Change{model.ChangeAction, model.ChangeCustomer | model.ChangeAction} {
		if fb, err := deliver(t, sink, sess, c); err != nil || !fb.IsZero() {
			t.Errorf("closed session, change %b: %+v %v", c, fb, err)
		}
	}
	if n := len(f.requests()) - before; n != 0 {
		t.Errorf("%d requests for a closed session's page views", n)
	}

	// Shopping again reopens the sessiontap session: a new Talon.One
	// session, sid-o-1.
	apply(model.Patch{Cart: &model.Cart{Items: []model.CartItem{line("C", 1)}}})
	check(model.ChangeCart, "/v2/customer_sessions/sid-o-1", "open", `[{"name":"C","price":5,"quantity":1,"sku":"C"}]`)
	apply(model.Patch{Order: &model.Order{OrderNumber: "1002", Items: []model.CartItem{line("C", 1)}}})
	check(model.ChangeOrder, "/v2/customer_sessions/sid-o-1", "closed", `[{"name":"C","price":5,"quantity":1,"sku":"C"}]`)
	apply(model.Patch{Lines: []model.CartItem{line("D", 4)}})
	check(model.ChangeCart, "/v2/customer_sessions/sid-o-2", "open", `[{"name":"D","price":5,"quantity":4,"sku":"D"}]`)

	// An order tagged without lines closes with the cart Talon.One has.
	apply(model.Patch{Order: &model.Order{OrderNumber: "1003"}})
	check(model.ChangeOrder, "/v2/customer_sessions/sid-o-2", "closed", `null`)
	if _, body := f.last(t); strings.Contains(string(mustJSON(t, body)), "cartItems") {
		t.Error("cartItems sent for an order without lines")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTalonOneEmptiedCart(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	sess := model.Session{ID: "sid-s", Cart: testCart(t)}
	// What reaches the sink is the engine's choice (SinkOptions.On): the
	// sink sends it, page views included.
	if fb, err := deliver(t, sink, sess, model.ChangeAction); err != nil || fb.IsZero() || len(f.requests()) != 1 {
		t.Errorf("page view: %+v %v, %d requests", fb, err, len(f.requests()))
	}
	// An emptied cart is sent as an empty list, so Talon.One drops its lines.
	sess.Cart = model.Cart{}
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.last(t); !bytes.Contains(r.Body, []byte(`"cartItems":[]`)) {
		t.Errorf("emptied cart: %s", r.Body)
	}
}

// TestTalonOneClosedOnce: a closed session is closed once per sink; a dry
// close persists nothing and is repeated; a new sink (a restart) does not
// know and sends the close again.
func TestTalonOneClosedOnce(t *testing.T) {
	f := newFakeTalonOne(t)
	sess := model.Session{ID: "sid-c"}
	model.Patch{Order: &model.Order{OrderNumber: "1", Items: testCart(t).Items}}.Apply(&sess)
	count := func(sink *TalonOne, n int) int {
		before := len(f.requests())
		for range n {
			if _, err := deliver(t, sink, sess, model.ChangeOrder); err != nil {
				t.Fatal(err)
			}
		}
		return len(f.requests()) - before
	}
	dry := newTestTalonOne(t, f, func(c *TalonOneConfig) { c.Dry = true })
	if n := count(dry, 2); n != 2 {
		t.Errorf("dry: %d closes sent, want 2", n)
	}
	if n := count(newTestTalonOne(t, f, nil), 3); n != 1 {
		t.Errorf("%d closes sent, want 1", n)
	}
	// A failed close is not remembered.
	sink := newTestTalonOne(t, f, nil)
	f.answerWith(http.StatusServiceUnavailable, nil, ``)
	if _, err := deliver(t, sink, sess, model.ChangeOrder); !Retryable(err) {
		t.Fatalf("503: %v", err)
	}
	f.answer.Store(nil)
	if n := count(sink, 2); n != 1 {
		t.Errorf("after a failed close: %d closes sent, want 1", n)
	}
}

func TestTalonOneDryAndResponseContent(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, func(c *TalonOneConfig) {
		c.Dry = true
		c.ResponseContent = []string{"customerSession", "triggeredCampaigns"}
	})
	if _, err := deliver(t, sink, model.Session{ID: "sid-d", Cart: testCart(t)}, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	r, body := f.last(t)
	if r.Query.Get("dry") != "true" || len(r.Query) != 1 {
		t.Errorf("query %q, want dry=true", r.Query.Encode())
	}
	rc, _ := json.Marshal(body["responseContent"])
	if string(rc) != `["customerSession","triggeredCampaigns"]` {
		t.Errorf("responseContent %s", rc)
	}
}

func TestTalonOneEffects(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	sess := model.Session{ID: "sid-e", Cart: testCart(t)}
	for _, c := range []struct{ answer, want string }{
		{`{"effects":[],"createdCoupons":[],"createdReferrals":[]}`, `[]`}, // none now: kept, clears older ones
		{`{"createdCoupons":[],"createdReferrals":[]}`, ``},
		{`{"effects":null}`, ``},
		{talonAnswer, talonEffects},
	} {
		f.answerWith(http.StatusOK, nil, c.answer)
		fb, err := deliver(t, sink, sess, model.ChangeCart)
		if err != nil {
			t.Fatal(err)
		}
		if string(fb.Effects) != c.want || (c.want == "" && fb.Effects != nil) {
			t.Errorf("answer %s: Effects %q, want %q", c.answer, fb.Effects, c.want)
		}
	}
	f.answerWith(http.StatusOK, nil, `<html>`)
	if _, err := deliver(t, sink, sess, model.ChangeCart); err == nil {
		t.Error("a 200 that is not JSON was accepted")
	}
}

func TestTalonOneErrors(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	sess := model.Session{ID: "sid-x", Cart: testCart(t)}
	date := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	cases := []struct {
		status    int
		header    http.Header
		body      string
		retryable bool
		minAfter  time.Duration
		maxAfter  time.Duration
	}{
		{http.StatusConflict, nil, `{}`, true, 0, 0},
		{http.StatusBadRequest, nil, `{"message":"Invalid request","errors":[{"title":"quantity must be at least 1"}]}`, false, 0, 0},
		{http.StatusUnauthorized, nil, `{"message":"Invalid API key"}`, false, 0, 0},
		{http.StatusServiceUnavailable, nil, `upstream connect error`, true, 0, 0},
		{http.StatusTooManyRequests, http.Header{"Retry-After": {"17"}}, `{"message":"rate limited"}`, true, 17 * time.Second, 17 * time.Second},
		{http.StatusTooManyRequests, http.Header{"Retry-After": {date}}, ``, true, 110 * time.Second, 2 * time.Minute},
	}
	for _, c := range cases {
		f.answerWith(c.status, c.header, c.body)
		fb, err := deliver(t, sink, sess, model.ChangeCart)
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("%d: %v, want a *DeliveryError", c.status, err)
		}
		if !fb.IsZero() || de.Status != c.status || de.Retryable != c.retryable || Retryable(err) != c.retryable ||
			de.RetryAfter < c.minAfter || de.RetryAfter > c.maxAfter || de.Snippet != c.body {
			t.Errorf("%d: %+v, want retryable %v, Retry-After in [%v, %v], snippet %q", c.status, de, c.retryable, c.minAfter, c.maxAfter, c.body)
		}
	}

	// A long error answer is cut to the snippet size.
	f.answerWith(http.StatusBadRequest, nil, `{"message":"`+strings.Repeat("x", 2000)+`"}`)
	_, err := deliver(t, sink, sess, model.ChangeCart)
	var de *DeliveryError
	if !errors.As(err, &de) || len(de.Snippet) != MaxSnippet || de.Retryable {
		t.Errorf("long 400: %v", err)
	}

	// A network error is retryable.
	f.Close()
	if _, err := deliver(t, sink, sess, model.ChangeCart); !errors.As(err, &de) || de.Status != 0 || !de.Retryable {
		t.Errorf("server gone: %v", err)
	}
}

func TestTalonOneSessionIDEscaped(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	id := "shop:a/b+c=d~e.f"
	if !model.ValidID(id) {
		t.Fatal("test id is not a valid session id")
	}
	sess := model.Session{ID: id, Cart: testCart(t), State: model.StateOpen, Orders: []model.Order{{OrderNumber: "1"}}}
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	if r, _ := f.last(t); r.Path != "/v2/customer_sessions/shop:a%2Fb+c=d~e.f-1" {
		t.Errorf("path %s", r.Path)
	}
}

func TestTalonOneLimits(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	var items []model.CartItem
	for i := range 1200 {
		items = append(items, model.CartItem{ProductID: "P" + strconv.Itoa(i), Quantity: 1, UnitPrice: price(t, "1")})
	}
	items[5].Quantity = 0   // refused by Talon.One: left out
	items[6].ProductID = "" // no SKU: left out
	sess := model.Session{ID: "sid-l", Cart: model.Cart{Items: items}}
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	_, body := f.last(t)
	got := body["customerSession"].(map[string]any)["cartItems"].([]any)
	if len(got) != 1000 {
		t.Errorf("%d lines, want 1000", len(got))
	}

	sess.Cart.Items = []model.CartItem{{ProductID: "A", Quantity: 9000}, {ProductID: "B", Quantity: 5000}, {ProductID: "C", Quantity: 1}}
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	_, body = f.last(t)
	if b := mustJSON(t, body["customerSession"].(map[string]any)["cartItems"]); string(b) != `[{"quantity":9000,"sku":"A"},{"quantity":1000,"sku":"B"}]` {
		t.Errorf("units over 10000: %s", b)
	}
}

func TestTalonOneConfig(t *testing.T) {
	ok := TalonOneConfig{URL: "https://x.talon.one", APIKey: "k", Hasher: testHasher}
	if _, err := NewTalonOne(ok); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*TalonOneConfig){
		"no key":          func(c *TalonOneConfig) { c.APIKey = "" },
		"no hasher":       func(c *TalonOneConfig) { c.Hasher = nil },
		"query":           func(c *TalonOneConfig) { c.URL += "?x=1" },
		"scheme":          func(c *TalonOneConfig) { c.URL = "ftp://x.talon.one" },
		"relative":        func(c *TalonOneConfig) { c.URL = "x.talon.one" },
		"responseContent": func(c *TalonOneConfig) { c.ResponseContent = []string{"effects"} },
	} {
		c := ok
		mod(&c)
		if _, err := NewTalonOne(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The API key stays out of error messages.
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	f.answerWith(http.StatusInternalServerError, nil, `oops`)
	if _, err := deliver(t, sink, model.Session{ID: "k", Cart: testCart(t)}, model.ChangeCart); err == nil || strings.Contains(err.Error(), talonKey) {
		t.Errorf("error %v", err)
	}
}

// A session id of dots only would make the path name another resource
// (/v2/customer_sessions/.. is /v2/): it is refused, never sent.
func TestTalonOneRefusesDotIDs(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	for _, id := range []string{".", ".."} {
		_, err := deliver(t, sink, model.Session{ID: id, Cart: testCart(t)}, model.ChangeCart)
		if err == nil || Retryable(err) {
			t.Errorf("id %q: err %v, want a final refusal", id, err)
		}
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests sent for dot ids", n)
	}
}
