package api

// Tests of the Emporix-compatible session-context API. Every request the
// tests mean to be valid is validated against Emporix's spec with
// kin-openapi before it is served, and every response after. The spec is
// found by internal/spectest.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/internal/spectest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

const apiPrefix = "/_sessiontap/api"

func validateRequest(t testing.TB, r *http.Request, body []byte) error {
	return spectest.Load(t, spectest.Emporix).ValidateRequest(r, apiPrefix, body)
}

func validateResponse(t testing.TB, r *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	return spectest.Load(t, spectest.Emporix).ValidateResponse(r, apiPrefix, reqBody, status, header, body)
}

// ctxReq is one request to the session-context API.
type ctxReq struct {
	method, tenant, id string
	body               string
	upsert             bool
	token              string
	// invalid marks a request the spec itself rejects (the test checks
	// that it does); it is sent anyway.
	invalid bool
}

func (q ctxReq) build() *http.Request {
	path := apiPrefix + "/session-context/" + q.tenant + "/context/" + q.id
	if q.upsert {
		path += "?upsert=true"
	}
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r := httptest.NewRequest(q.method, path, body)
	r.Header.Set("Authorization", "Bearer secret-key")
	if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.token != "" {
		r.Header.Set("saas-token", q.token)
	}
	return r
}

// do validates q, serves it and validates the answer.
func do(t *testing.T, h *API, q ctxReq) *httptest.ResponseRecorder {
	t.Helper()
	err := validateRequest(t, q.build(), []byte(q.body))
	if q.invalid && err == nil {
		t.Errorf("%s %s: the spec accepts a request the test thinks invalid: %s", q.method, q.id, q.body)
	}
	if !q.invalid && err != nil {
		t.Fatalf("the test's request is not valid by the spec: %v", err)
	}
	w := serve(t, h, q.build())
	if err := validateResponse(t, q.build(), []byte(q.body), w.Code, w.Header(), w.Body.Bytes()); err != nil {
		t.Errorf("%s %s → %d %s: %v", q.method, q.id, w.Code, w.Body, err)
	}
	return w
}

func put(version any, extra string) string {
	md := "{}"
	if version != nil {
		md = fmt.Sprintf(`{"version":%v}`, version)
	}
	if extra != "" {
		extra = "," + extra
	}
	return `{"metadata":` + md + extra + `}`
}

func decodeContext(t *testing.T, w *httptest.ResponseRecorder) (v struct {
	SessionID      string                    `json:"sessionId"`
	CustomerID     string                    `json:"customerId"`
	SiteCode       string                    `json:"siteCode"`
	Currency       string                    `json:"currency"`
	CartID         string                    `json:"cartId"`
	TargetLocation string                    `json:"targetLocation"`
	Context        map[string]map[string]any `json:"context"`
	Metadata       struct {
		Version    uint64 `json:"version"`
		CreatedAt  string `json:"createdAt"`
		ModifiedAt string `json:"modifiedAt"`
	} `json:"metadata"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	return v
}

func ctxHandler(t *testing.T, verifier TokenVerifier) (*API, cache.Store) {
	cfg := testConfig()
	cfg.SaaSTokens = verifier
	return newTestAPI(t, cfg)
}

// seed stores a session with a cart, and a verified customer with this
// reference if given.
func seed(t *testing.T, store cache.Store, id, customer string) {
	t.Helper()
	seedCustomer(t, store, id, model.Customer{CustomerReference: customer, Verified: customer != ""})
}

// seedCustomer stores a session with a cart and the customer c.
func seedCustomer(t *testing.T, store cache.Store, id string, c model.Customer) {
	t.Helper()
	_, err := store.Update(context.Background(), id, func(s *model.Session) error {
		s.Cart = model.Cart{Items: []model.CartItem{{ProductID: "181503", Quantity: 2, UnitPrice: 123_4500, PriceCurrencyCode: "EUR"}}}
		s.Customer = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
}

func TestSessionContextRoundTrip(t *testing.T) {
	h, store := ctxHandler(t, nil)
	seed(t, store, "s1", "")

	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1"}), 404)
	w := do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true,
		body: put(nil, `"siteCode":"main","currency":"EUR","context":{"loyalty":{"tier":"gold"},"cart":{"ignored":true}}`)})
	wantStatus(t, w, 204)
	if w.Body.Len() != 0 {
		t.Errorf("204 with a body: %s", w.Body)
	}

	w = do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1"})
	wantStatus(t, w, 200)
	got := decodeContext(t, w)
	if got.SessionID != "s1" || got.SiteCode != "main" || got.Currency != "EUR" || got.Metadata.Version != 1 {
		t.Errorf("GET: %s", w.Body)
	}
	if got.Context["loyalty"]["tier"] != "gold" {
		t.Errorf("attributes: %v", got.Context)
	}
	items, _ := got.Context["cart"]["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["product_id"] != "181503" || got.Context["cart"]["ignored"] != nil {
		t.Errorf("cart: %v", got.Context["cart"])
	}
	if _, ok := got.Context["customer"]; !ok {
		t.Errorf("no customer: %v", got.Context)
	}
	created, err := time.Parse(time.RFC3339Nano, got.Metadata.CreatedAt)
	if err != nil || created.IsZero() || got.Metadata.ModifiedAt == "" {
		t.Errorf("metadata: %+v", got.Metadata)
	}

	// A GET body sent back, changed, is an update.
	var back map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	back["currency"] = "CHF"
	back["context"].(map[string]any)["wishlist"] = map[string]any{"ids": []any{"a"}}
	b, _ := json.Marshal(back)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", body: string(b)}), 204)
	got = decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1"}))
	if got.Currency != "CHF" || got.SiteCode != "main" || got.Metadata.Version != 2 ||
		got.Context["wishlist"] == nil || got.Context["loyalty"]["tier"] != "gold" || got.Metadata.CreatedAt != back["metadata"].(map[string]any)["createdAt"] {
		t.Errorf("after update: %+v", got)
	}

	// A context replaces the attributes; absent fields are left.
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", body: put(2, `"context":{}`)}), 204)
	got = decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1"}))
	if len(got.Context) != 2 || got.Currency != "CHF" || got.Metadata.Version != 3 {
		t.Errorf("after clearing: %+v", got)
	}
	// The session's own version moved; the operator API shows the context.
	s, _ := store.Get(context.Background(), "s1")
	if tc := s.TenantContext("acme"); tc == nil || tc.Version != 3 || tc.Attributes != nil {
		t.Errorf("stored: %+v", s.Contexts)
	}
}

func TestSessionContextVersions(t *testing.T) {
	h, store := ctxHandler(t, nil)

	// Without upsert nothing is created, not even the session.
	w := do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "new", body: put(0, "")})
	wantStatus(t, w, 404)
	if got := decodeContext(t, w); got.SessionID != "new" || got.Code != 404 {
		t.Errorf("404 body: %s", w.Body)
	}
	if _, err := store.Get(context.Background(), "new"); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("a failed PUT stored a session: %v", err)
	}
	// Upsert: a missing context has version 0.
	w = do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "new", upsert: true, body: put(5, "")})
	wantStatus(t, w, 409)
	if got := decodeContext(t, w); got.Metadata.Version != 0 {
		t.Errorf("409 on create: %s", w.Body)
	}
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "new", upsert: true, body: put(0, "")}), 204)
	// Upsert without a version only creates.
	w = do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "new", upsert: true, body: put(nil, "")})
	wantStatus(t, w, 409)
	if got := decodeContext(t, w); got.Metadata.Version != 1 {
		t.Errorf("409: %s", w.Body)
	}
	// Upsert with the current version updates.
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "new", upsert: true, body: put(1, "")}), 204)

	// Stale.
	w = do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "new", body: put(1, "")})
	wantStatus(t, w, 409)
	if got := decodeContext(t, w); got.Metadata.Version != 2 || got.Code != 409 || got.SessionID != "new" {
		t.Errorf("stale: %s", w.Body)
	}
	// Missing version.
	for _, q := range []ctxReq{
		{body: put(nil, "")},
		{body: `{"currency":"EUR"}`, invalid: true},
		{body: `{"metadata":{"version":null}}`, invalid: true},
	} {
		q.method, q.tenant, q.id = "PUT", "acme", "new"
		w = do(t, h, q)
		wantStatus(t, w, 400)
		if got := decodeContext(t, w); !strings.HasPrefix(got.Field, "metadata") || !strings.Contains(got.Message, "metadata") {
			t.Errorf("missing version: %s", w.Body)
		}
	}
	for _, tc := range []struct {
		body, field string
		specInvalid bool
	}{
		{`{"metadata":{"version":"2"}}`, "metadata.version", true},
		{`{"metadata":{"version":-1}}`, "metadata.version", false},
		{`{"metadata":{"version":1.5}}`, "metadata.version", true},
		{`{"metadata":{"version":2},"context":{"a":"str"}}`, "context.a", true},
		{`{"metadata":{"version":2},"sessionId":"other"}`, "sessionId", false},
	} {
		w = do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "new", body: tc.body, invalid: tc.specInvalid})
		wantStatus(t, w, 400)
		if got := decodeContext(t, w); got.Field != tc.field {
			t.Errorf("%s: %s", tc.body, w.Body)
		}
	}
	if got := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "new"})); got.Metadata.Version != 2 {
		t.Errorf("version after refused writes: %d", got.Metadata.Version)
	}
}

// Two PUTs with the same version, truly concurrent, many times: exactly one
// wins.
func TestSessionContextConcurrentPUTs(t *testing.T) {
	h, _ := ctxHandler(t, nil)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "race", upsert: true, body: put(0, "")}), 204)
	const rounds, writers = 200, 2
	for round := range rounds {
		version := round + 1
		reqs := make([]ctxReq, writers)
		for i := range reqs {
			reqs[i] = ctxReq{method: "PUT", tenant: "acme", id: "race",
				body: put(version, fmt.Sprintf(`"context":{"w":{"writer":%d,"round":%d}}`, i, round))}
			if err := validateRequest(t, reqs[i].build(), []byte(reqs[i].body)); err != nil {
				t.Fatal(err)
			}
		}
		recs := make([]*httptest.ResponseRecorder, writers)
		var ready, done sync.WaitGroup
		start := make(chan struct{})
		for i := range reqs {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				r, w := reqs[i].build(), httptest.NewRecorder()
				ready.Done()
				<-start
				h.ServeHTTP(w, r)
				recs[i] = w
			}()
		}
		ready.Wait()
		close(start)
		done.Wait()
		codes := map[int]int{}
		for i, w := range recs {
			codes[w.Code]++
			if err := validateResponse(t, reqs[i].build(), []byte(reqs[i].body), w.Code, w.Header(), w.Body.Bytes()); err != nil {
				t.Error(err)
			}
			if w.Code == 409 {
				var v struct{ Metadata struct{ Version int } }
				if json.Unmarshal(w.Body.Bytes(), &v); v.Metadata.Version != version+1 {
					t.Errorf("round %d: 409 says version %d", round, v.Metadata.Version)
				}
			}
		}
		if codes[204] != 1 || codes[409] != writers-1 {
			t.Fatalf("round %d: %v", round, codes)
		}
	}
	got := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "race"}))
	if got.Metadata.Version != rounds+1 || got.Context["w"]["round"] != float64(rounds-1) {
		t.Errorf("after the races: %+v", got)
	}
}

func TestSessionContextTenantIsolation(t *testing.T) {
	h, store := ctxHandler(t, nil)
	seed(t, store, "s1", "")
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "tenant-a", id: "s1", upsert: true,
		body: put(0, `"siteCode":"a-site","context":{"secret":{"of":"a"}}`)}), 204)

	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "tenant-b", id: "s1"}), 404)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "tenant-b", id: "s1", body: put(1, "")}), 404)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "tenant-b", id: "s1", upsert: true, body: put(0, `"currency":"USD"`)}), 204)

	b := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "tenant-b", id: "s1"}))
	if b.SiteCode != "" || b.Currency != "USD" || b.Context["secret"] != nil || b.Metadata.Version != 1 {
		t.Errorf("tenant-b sees: %+v", b)
	}
	a := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "tenant-a", id: "s1"}))
	if a.SiteCode != "a-site" || a.Currency != "" || a.Context["secret"]["of"] != "a" || a.Metadata.Version != 1 {
		t.Errorf("tenant-a sees: %+v", a)
	}
	// Tenant names are case-sensitive and checked.
	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "Tenant-A", id: "s1"}), 404)
	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "a.b", id: "s1"}), 400)
}

func TestSessionContextSaaSToken(t *testing.T) {
	h, store := ctxHandler(t, NewStaticVerifier(map[string]string{"tok-1": "cust-1", "tok-2": "cust-2"}))
	seed(t, store, "logged-in", "cust-1")
	seed(t, store, "anon", "")

	// The session's customer owns a new context: creating it needs a token.
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "logged-in", upsert: true, body: put(0, "")}), 403)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "logged-in", upsert: true, body: put(0, ""), token: "tok-2"}), 403)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "logged-in", upsert: true, body: put(0, ""), token: "tok-1"}), 204)

	for tok, want := range map[string]int{"": 403, "tok-2": 403, "forged": 403, "tok-1": 200} {
		w := do(t, h, ctxReq{method: "GET", tenant: "acme", id: "logged-in", token: tok})
		wantStatus(t, w, want)
		if want == 403 && (strings.Contains(w.Body.String(), "cust-1") || strings.Contains(w.Body.String(), "version")) {
			t.Errorf("403 tells: %s", w.Body)
		}
		if want == 200 && decodeContext(t, w).CustomerID != "cust-1" {
			t.Errorf("customerId: %s", w.Body)
		}
	}
	// 403 comes before 409: a stale version from a stranger learns nothing.
	w := do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "logged-in", body: put(7, ""), token: "tok-2"})
	wantStatus(t, w, 403)

	// An anonymous context is open; setting customerId makes it the
	// customer's, and needs that customer's token.
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "anon", upsert: true, body: put(0, "")}), 204)
	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "anon"}), 200)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "anon", body: put(1, `"customerId":"cust-2"`), token: "tok-1"}), 403)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "anon", body: put(1, `"customerId":"cust-2"`)}), 403)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "anon", body: put(1, `"customerId":"cust-2"`), token: "tok-2"}), 204)
	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "anon"}), 403)
	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "anon", token: "tok-2"}), 200)
	// … and the customer cannot be changed afterwards, even by the new one.
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "anon", body: put(2, `"customerId":"cust-1"`), token: "tok-1"}), 403)
}

func TestSessionContextHMACToken(t *testing.T) {
	key := []byte("issuer-key")
	v, err := NewHMACVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	h, store := ctxHandler(t, v)
	seed(t, store, "s1", "cust-9")
	now := time.Now()
	good := emporixToken(t, key, "cust-9", now.Add(time.Hour))
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, ""), token: good}), 204)
	for name, tc := range map[string]struct {
		token string
		want  int
	}{
		"valid":        {good, 200},
		"expired":      {emporixToken(t, key, "cust-9", now.Add(-time.Minute)), 403},
		"other":        {emporixToken(t, key, "cust-8", now.Add(time.Hour)), 403},
		"wrong key":    {emporixToken(t, []byte("nope"), "cust-9", now.Add(time.Hour)), 403},
		"old format":   {oldFormatToken(key, "cust-9", now.Add(time.Hour)), 403},
		"static-style": {"tok-1", 403},
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: tc.token}), tc.want)
		})
	}
}

// The session's verified customer owns every context on it, whoever
// created the context and whatever customerId it names.
func TestSessionContextOwnerIsTheSessionsCustomer(t *testing.T) {
	h, store := ctxHandler(t, NewStaticVerifier(map[string]string{"alice": "cust-a", "mallory": "cust-m"}))
	seedCustomer(t, store, "s1", model.Customer{CustomerReference: "cust-a", Email: "alice@example.com", Verified: true})
	// Mallory cannot create a context of hers on Alice's session.
	w := do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, `"customerId":"cust-m"`), token: "mallory"})
	wantStatus(t, w, 403)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, `"customerId":"cust-m"`), token: "alice"}), 403)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, `"customerId":"cust-a"`), token: "alice"}), 204)
	got := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: "alice"}))
	if got.CustomerID != "cust-a" || got.Context["customer"]["email"] != "alice@example.com" {
		t.Errorf("Alice's view: %+v", got)
	}
	w = do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: "mallory"})
	wantStatus(t, w, 403)
	if strings.Contains(w.Body.String(), "alice") {
		t.Errorf("403 tells: %s", w.Body)
	}
}

// A context naming another customer than the session's verified one (a
// leftover: stored before the customer logged in) is detached: 404 to
// both, and an upsert replaces it.
func TestSessionContextForeignIsDetached(t *testing.T) {
	h, store := ctxHandler(t, NewStaticVerifier(map[string]string{"alice": "cust-a", "mallory": "cust-m"}))
	seedCustomer(t, store, "s1", model.Customer{CustomerReference: "cust-a", Email: "alice@example.com", Verified: true})
	_, err := store.Update(context.Background(), "s1", func(s *model.Session) error {
		_, err := s.AddTenantContext(model.TenantContext{Tenant: "acme", Version: 4, CustomerID: "cust-m", Attributes: []byte(`{"m":{"x":1}}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"alice", "mallory"} {
		wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: tok}), 404)
		wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", body: put(4, ""), token: tok}), 404)
	}
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, ""), token: "mallory"}), 403)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, ""), token: "alice"}), 204)
	got := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: "alice"}))
	if got.Metadata.Version != 1 || got.Context["m"] != nil || got.CustomerID != "cust-a" {
		t.Errorf("the replaced context: %+v", got)
	}
}

// A claimed customer decides nothing: the context's customerId does, and
// the claim is not shown.
func TestSessionContextClaimedCustomerGrantsNothing(t *testing.T) {
	h, store := ctxHandler(t, NewStaticVerifier(map[string]string{"victim": "cust-v", "mallory": "cust-m"}))
	seedCustomer(t, store, "s1", model.Customer{CustomerReference: "cust-v", Email: "victim@example.com"})
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, `"customerId":"cust-m"`), token: "mallory"}), 204)
	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: "victim"}), 403)
	w := do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: "mallory"})
	wantStatus(t, w, 200)
	if got := decodeContext(t, w); got.CustomerID != "cust-m" || strings.Contains(w.Body.String(), "victim") {
		t.Errorf("a claimed customer shown: %s", w.Body)
	}
}

// Without a verifier, customers' contexts are closed to everyone.
func TestSessionContextFailsClosedWithoutVerifier(t *testing.T) {
	h, store := ctxHandler(t, nil)
	seed(t, store, "s1", "cust-1")
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, ""), token: "anything"}), 403)
	_, err := store.Update(context.Background(), "s1", func(s *model.Session) error {
		_, err := s.AddTenantContext(model.TenantContext{Tenant: "acme", Version: 1})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1", token: "anything"}), 403)
}

func TestSessionContextBounds(t *testing.T) {
	h, _ := ctxHandler(t, nil)
	for i := range model.MaxTenantContexts {
		wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: fmt.Sprint("t", i), id: "s1", upsert: true, body: put(0, "")}), 204)
	}
	w := do(t, h, ctxReq{method: "PUT", tenant: "one-more", id: "s1", upsert: true, body: put(0, "")})
	wantStatus(t, w, 400)
	if !strings.Contains(decodeContext(t, w).Message, "tenants") {
		t.Errorf("too many tenants: %s", w.Body)
	}

	fits := fmt.Sprintf(`"context":{"big":{"v":%q}}`, strings.Repeat("x", model.MaxContextAttributes-20))
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "t0", id: "s1", body: put(1, fits)}), 204)
	tooBig := fmt.Sprintf(`"context":{"big":{"v":%q}}`, strings.Repeat("x", model.MaxContextAttributes))
	w = do(t, h, ctxReq{method: "PUT", tenant: "t0", id: "s1", body: put(2, tooBig)})
	wantStatus(t, w, 413)
	if got := decodeContext(t, w); got.Field != "context" || !strings.Contains(got.Message, "16384") {
		t.Errorf("too big: %s", w.Body)
	}
	huge := fmt.Sprintf(`"context":{"big":{"v":%q}}`, strings.Repeat("x", contextBodyLimit))
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "t0", id: "s1", body: put(2, huge)}), 413)
	long := fmt.Sprintf(`"siteCode":%q`, strings.Repeat("x", maxContextField+1))
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "t0", id: "s1", body: put(2, long)}), 400)
	if got := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "t0", id: "s1"})); got.Metadata.Version != 2 || len(got.Context["big"]["v"].(string)) != model.MaxContextAttributes-20 {
		t.Errorf("after refused writes: version %d", got.Metadata.Version)
	}
}

func TestSessionContextAuthAndMethods(t *testing.T) {
	h, _ := ctxHandler(t, nil)
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(0, "")}), 204)
	// The operator API's bearer key comes first.
	r := ctxReq{method: "GET", tenant: "acme", id: "s1"}.build()
	r.Header.Del("Authorization")
	if w := serve(t, h, r); w.Code != 401 || strings.Contains(w.Body.String(), "s1") {
		t.Errorf("no key: %d %s", w.Code, w.Body)
	}
	r = ctxReq{method: "DELETE", tenant: "acme", id: "s1"}.build()
	w := serve(t, h, r)
	if w.Code != 405 || w.Header().Get("Allow") != "GET, PUT" {
		t.Errorf("DELETE: %d %v", w.Code, w.Header())
	}
	for _, path := range []string{"/session-context/acme", "/session-context/acme/context/", "/session-context/acme/other/s1"} {
		r := httptest.NewRequest("GET", apiPrefix+path, nil)
		r.Header.Set("Authorization", "Bearer secret-key")
		if w := serve(t, h, r); w.Code != 404 {
			t.Errorf("%s: %d", path, w.Code)
		}
	}
}

// The validation must be able to fail: wrong answers are caught.
func TestSessionContextValidatorRejectsWrongResponses(t *testing.T) {
	get := ctxReq{method: "GET", tenant: "acme", id: "s1"}
	putReq := ctxReq{method: "PUT", tenant: "acme", id: "s1", body: put(1, "")}
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	for name, tc := range map[string]struct {
		q      ctxReq
		status int
		header http.Header
		body   string
	}{
		"version not an integer": {get, 200, jsonCT, `{"sessionId":"s1","metadata":{"version":"1"}}`},
		"context value a string": {get, 200, jsonCT, `{"sessionId":"s1","context":{"cart":"x"}}`},
		"sessionId a number":     {get, 200, jsonCT, `{"sessionId":1}`},
		"not JSON":               {get, 200, http.Header{"Content-Type": {"text/plain"}}, `hello`},
		"404 code a string":      {get, 404, jsonCT, `{"code":"404","message":"x"}`},
		"status not in the spec": {get, 418, jsonCT, `{"code":418,"message":"x"}`},
		"409 code a string":      {putReq, 409, jsonCT, `{"code":"409","message":"x"}`},
		"403 without message":    {putReq, 403, jsonCT, `{"code":403}`},
		"400 not JSON":           {putReq, 400, http.Header{"Content-Type": {"text/plain"}}, `bad`},
		"PUT answered 200":       {putReq, 200, jsonCT, `{}`},
	} {
		if err := validateResponse(t, tc.q.build(), []byte(tc.q.body), tc.status, tc.header, []byte(tc.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// And a right one passes.
	ok := `{"sessionId":"s1","context":{"cart":{"items":[]}},"metadata":{"version":1,"createdAt":"x","modifiedAt":"y"}}`
	if err := validateResponse(t, get.build(), nil, 200, jsonCT, []byte(ok)); err != nil {
		t.Errorf("a right answer: %v", err)
	}
	// Requests, too.
	if err := validateRequest(t, ctxReq{method: "PUT", tenant: "acme", id: "s1", body: `{"context":{}}`}.build(), []byte(`{"context":{}}`)); err == nil {
		t.Error("a PUT without metadata was accepted")
	}
}

// A PUT whose meaning depends on the parser is refused, naming the field,
// and nothing is stored: what a later GET serves is valid UTF-8 JSON.
func TestSessionContextRefusesAmbiguousJSON(t *testing.T) {
	h, store := ctxHandler(t, nil)
	seed(t, store, "s1", "")
	for body, field := range map[string]string{
		`{"metadata":{},"currency":"EUR","currency":"USD"}`:       "currency",
		"{\"metadata\":{},\"siteCode\":\"a\xffb\"}":               "siteCode",
		`{"metadata":{},"context":{"x":{"note":"\ud800"}}}`:       "context.x.note",
		`{"metadata":{},"context":{"x":{"a":1},"x":{"a":2}}}`:     "context.x",
		`{"metadata":{},"targetLocation":"a\u0007b"}`:             "targetLocation",
		`{"metadata":{"version":1,"version":2},"currency":"EUR"}`: "metadata.version",
		`{"metadata":{},"customerId":"c\tid"}`:                    "customerId",
	} {
		q := ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: body}
		w := serve(t, h, q.build())
		e := decodeContext(t, w)
		if w.Code != 400 || e.Field != field || !utf8.Valid(w.Body.Bytes()) {
			t.Errorf("%q: %d field %q, want 400 naming %q: %s", body, w.Code, e.Field, field, w.Body)
		}
	}
	if s, _ := store.Get(context.Background(), "s1"); s.TenantContext("acme") != nil {
		t.Errorf("a refused PUT stored a context: %+v", s.Contexts)
	}
	// Lower-case currencies are cleaned as everywhere else.
	wantStatus(t, do(t, h, ctxReq{method: "PUT", tenant: "acme", id: "s1", upsert: true, body: put(nil, `"currency":"eur"`)}), 204)
	if got := decodeContext(t, do(t, h, ctxReq{method: "GET", tenant: "acme", id: "s1"})); got.Currency != "EUR" {
		t.Errorf("currency %q, want EUR", got.Currency)
	}
}
