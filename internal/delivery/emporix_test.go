package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

const (
	emporixTenant = "acme"
	emporixID     = "client-id"
	emporixSecret = "client-secret-123"
)

// fakeEmporix stands in for Emporix: an OAuth2 token endpoint and the
// Session Context Service, with optimistic locking as the spec describes
// (a PUT must carry the current metadata.version; it answers 204 without a
// body and the version goes up by one; upsert=true creates a missing
// context at version 1). Session-context requests are validated against the
// spec.
type fakeEmporix struct {
	*specServer
	t *testing.T

	mu          sync.Mutex
	contexts    map[string]*storedContext // by escaped tenant/sessionId path
	tokens      map[string]bool           // valid tokens
	issued      int                       // token endpoint hits
	acceptNoTok bool                      // token endpoint issues tokens the API refuses
	conflict    int                       // 409 or 412 for version mismatches
	alwaysStale bool                      // another writer bumps the version before every PUT
	failPut     int                       // status to answer PUTs with, 0 for normal
}

type storedContext struct {
	version int64
	body    map[string]any
}

func newFakeEmporix(t *testing.T) *fakeEmporix {
	t.Helper()
	f := &fakeEmporix{t: t, contexts: map[string]*storedContext{}, tokens: map[string]bool{}, conflict: http.StatusConflict}
	f.specServer = newSpecServer(t, emporixSpec, f.serve, "/oauth/token")
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeEmporix) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/oauth/token" {
		f.token(w, r, body)
		return
	}
	if !f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": 401, "message": "Unauthorized"})
		return
	}
	key := strings.TrimPrefix(r.URL.EscapedPath(), "/session-context/")
	c := f.contexts[key]
	switch r.Method {
	case http.MethodGet:
		if c == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"sessionId": key, "code": 404, "message": "Session context not found"})
			return
		}
		answer := map[string]any{}
		for k, v := range c.body {
			answer[k] = v
		}
		answer["metadata"] = map[string]any{"version": c.version, "createdAt": "2026-01-01T00:00:00Z", "modifiedAt": "2026-01-02T00:00:00Z"}
		blob, _ := json.Marshal(answer)
		if err := specSchemaError(f.t, emporixSpec, "SessionContext_GET", blob); err != nil {
			f.t.Error(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(blob)
	case http.MethodPut:
		if f.failPut != 0 {
			writeJSON(w, f.failPut, map[string]any{"code": f.failPut, "message": "failure"})
			return
		}
		var in map[string]any
		json.Unmarshal(body, &in)
		version, _ := in["metadata"].(map[string]any)["version"].(float64)
		if c == nil {
			if r.URL.Query().Get("upsert") != "true" {
				writeJSON(w, http.StatusNotFound, map[string]any{"code": 404, "message": "Session context not found"})
				return
			}
			f.contexts[key] = &storedContext{version: 1, body: in}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if f.alwaysStale {
			c.version++
		}
		if int64(version) != c.version {
			writeJSON(w, f.conflict, map[string]any{"code": f.conflict, "message": fmt.Sprintf("version %v is outdated", version)})
			return
		}
		c.version++
		c.body = in
		w.WriteHeader(http.StatusNoContent)
	}
}

func (f *fakeEmporix) token(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
		form.Get("grant_type") != "client_credentials" {
		f.t.Errorf("bad token request: %s %s %s", r.Method, r.Header.Get("Content-Type"), body)
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_request"})
		return
	}
	if form.Get("client_id") != emporixID || form.Get("client_secret") != emporixSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
		return
	}
	f.issued++
	tok := fmt.Sprintf("token-%d", f.issued)
	if !f.acceptNoTok {
		f.tokens[tok] = true
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 14399, "scope": "tenant=acme sessioncontext.context_manage"})
}

func (f *fakeEmporix) tokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

// revokeTokens makes every token issued so far invalid, as their expiry
// would.
func (f *fakeEmporix) revokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.tokens)
}

// setVersion is another writer (the storefront) moving a context on.
func (f *fakeEmporix) setVersion(key string, v int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.contexts[key] == nil {
		f.contexts[key] = &storedContext{body: map[string]any{"sessionId": "storefront", "siteCode": "main"}}
	}
	f.contexts[key].version = v
}

func (f *fakeEmporix) version(key string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.contexts[key]; c != nil {
		return c.version
	}
	return 0
}

func (f *fakeEmporix) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// methods lists the requests seen, as "METHOD path", token requests
// included.
func (f *fakeEmporix) methods() []string {
	var out []string
	for _, r := range f.requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func newTestEmporix(t *testing.T, f *fakeEmporix, mod func(*EmporixConfig)) *Emporix {
	t.Helper()
	cfg := EmporixConfig{URL: f.URL, Tenant: emporixTenant, ClientID: emporixID, ClientSecret: emporixSecret,
		SiteCode: "main", Hasher: testHasher, Client: f.Client()}
	if mod != nil {
		mod(&cfg)
	}
	sink, err := NewEmporix(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sink.Name() != "emporix" {
		t.Errorf("Name() = %q", sink.Name())
	}
	return sink
}

func lastPut(t *testing.T, f *fakeEmporix) (seenRequest, map[string]any) {
	t.Helper()
	reqs := f.requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == http.MethodPut {
			var body map[string]any
			if err := json.Unmarshal(reqs[i].Body, &body); err != nil {
				t.Fatal(err)
			}
			return reqs[i], body
		}
	}
	t.Fatal("no PUT seen")
	return seenRequest{}, nil
}

func TestEmporixGuestSessionAndVersions(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, nil)
	sess := model.Session{ID: "sid-g", Cart: testCart(t), CartToken: "cart-77", Variation: "wholesale"}

	for i := int64(1); i <= 3; i++ {
		fb, err := deliver(t, sink, sess, model.ChangeCart)
		if err != nil {
			t.Fatal(err)
		}
		if fb.ContextVersion != i || f.version("acme/context/sid-g") != i {
			t.Errorf("delivery %d: ContextVersion %d, Emporix at %d", i, fb.ContextVersion, f.version("acme/context/sid-g"))
		}
		_, body := lastPut(t, f)
		if v := body["metadata"].(map[string]any)["version"]; v != float64(max(i-1, 1)) {
			t.Errorf("delivery %d: PUT with version %v", i, v)
		}
	}
	want := []string{
		"POST /oauth/token",
		"GET /session-context/acme/context/sid-g", // unknown session: 404
		"PUT /session-context/acme/context/sid-g", // created by upsert, version 1
		"PUT /session-context/acme/context/sid-g", // 1 -> 2
		"PUT /session-context/acme/context/sid-g", // 2 -> 3
	}
	if got := f.methods(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f.tokensIssued() != 1 {
		t.Errorf("token endpoint hit %d times for 3 deliveries", f.tokensIssued())
	}

	r, body := lastPut(t, f)
	if r.Query.Get("upsert") != "true" || r.Header.Get("Authorization") != "Bearer token-1" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s?%s %v", r.Path, r.Query.Encode(), r.Header)
	}
	// The variation is a price group here, not a currency: the cart's
	// currency is used.
	want2 := `{"cartId":"cart-77","context":{"cart":{"currency":"EUR","items":[` +
		`{"currency":"EUR","name":"Air Glide","productId":"P1","quantity":2,"skuId":"P1-42","unitPrice":99.99},` +
		`{"currency":"EUR","name":"Socks","productId":"P2","quantity":1,"unitPrice":0.1},` +
		`{"name":"Catalog priced","productId":"P3","quantity":3,"unitPrice":0}],"total":200.08}},` +
		`"currency":"EUR","metadata":{"version":2},"sessionId":"sid-g","siteCode":"main"}`
	if got := string(mustJSON(t, body)); got != want2 {
		t.Errorf("body\n got %s\nwant %s", got, want2)
	}
	if !strings.Contains(string(r.Body), `"unitPrice":99.99`) {
		t.Errorf("prices are not exact decimals: %s", r.Body)
	}
}

func TestEmporixLoggedInCustomer(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, func(c *EmporixConfig) { c.SiteCode = "" })
	sess := model.Session{ID: "sid-c", Customer: shopper, Variation: "CHF"}
	if _, err := deliver(t, sink, sess, model.ChangeCustomer); err != nil {
		t.Fatal(err)
	}
	r, body := lastPut(t, f)
	assertNoPersonalData(t, r.Body)
	if _, ok := body["customerId"]; ok {
		t.Error("customerId sent: it needs the customer's saas-token and is Emporix's own id")
	}
	if _, ok := body["siteCode"]; ok {
		t.Error("siteCode sent though not configured")
	}
	if body["currency"] != "CHF" {
		t.Errorf("currency %v, want the variation CHF for an empty cart", body["currency"])
	}
	cust := body["context"].(map[string]any)["customer"].(map[string]any)
	if cust["id"] != testHasher.Hash(shopper.CustomerReference) || cust["group"] != "vip" || len(cust) != 2 {
		t.Errorf("context.customer %v", cust)
	}
	if b := mustJSON(t, body["context"].(map[string]any)["cart"]); string(b) != `{"items":[],"total":0}` {
		t.Errorf("empty cart %s", b)
	}
}

func TestEmporixExistingContext(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, nil)
	f.setVersion("acme/context/sid-e", 7) // the storefront made it
	fb, err := deliver(t, sink, model.Session{ID: "sid-e", Cart: testCart(t)}, model.ChangeCart)
	if err != nil || fb.ContextVersion != 8 || f.version("acme/context/sid-e") != 8 {
		t.Fatalf("%+v %v, Emporix at %d", fb, err, f.version("acme/context/sid-e"))
	}
}

func TestEmporixConflict(t *testing.T) {
	for _, status := range []int{http.StatusConflict, http.StatusPreconditionFailed} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			f := newFakeEmporix(t)
			f.set(func() { f.conflict = status })
			sink := newTestEmporix(t, f, nil)
			const key = "acme/context/sid-k"
			sess := model.Session{ID: "sid-k", Cart: testCart(t)}
			if fb, err := deliver(t, sink, sess, model.ChangeCart); err != nil || fb.ContextVersion != 1 {
				t.Fatalf("%+v %v", fb, err)
			}
			// The storefront writes twice meanwhile.
			f.setVersion(key, 3)
			before := len(f.requests())
			fb, err := deliver(t, sink, sess, model.ChangeCart)
			if err != nil || fb.ContextVersion != 4 || f.version(key) != 4 {
				t.Fatalf("after a conflict: %+v %v, Emporix at %d", fb, err, f.version(key))
			}
			got := f.methods()[before:]
			want := []string{"PUT /session-context/" + key, "GET /session-context/" + key, "PUT /session-context/" + key}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("requests %v, want %v", got, want)
			}
			// The version is tracked: the next write goes straight through.
			before = len(f.requests())
			if fb, err := deliver(t, sink, sess, model.ChangeCart); err != nil || fb.ContextVersion != 5 || len(f.requests()) != before+1 {
				t.Errorf("next write: %+v %v, %d requests", fb, err, len(f.requests())-before)
			}

			// A context that keeps moving: one retry, then a retryable error.
			f.set(func() { f.alwaysStale = true })
			before = len(f.requests())
			fb, err = deliver(t, sink, sess, model.ChangeCart)
			var de *DeliveryError
			if !errors.As(err, &de) || !de.Retryable || de.Status != status || !fb.IsZero() {
				t.Errorf("double conflict: %+v %v", fb, err)
			}
			if n := len(f.requests()) - before; n != 3 {
				t.Errorf("double conflict: %d requests, want PUT, GET, PUT", n)
			}
		})
	}
}

func TestEmporixTokenRefresh(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, nil)
	sess := model.Session{ID: "sid-t", Cart: testCart(t)}
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil {
		t.Fatal(err)
	}
	// Emporix stops accepting the token before its expires_in: 401, one
	// new token, the write goes through.
	f.revokeTokens()
	before := len(f.requests())
	if fb, err := deliver(t, sink, sess, model.ChangeCart); err != nil || fb.ContextVersion != 2 {
		t.Fatalf("%+v %v", fb, err)
	}
	got := f.methods()[before:]
	want := []string{"PUT /session-context/acme/context/sid-t", "POST /oauth/token", "PUT /session-context/acme/context/sid-t"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("requests %v, want %v", got, want)
	}
	if r, _ := lastPut(t, f); r.Header.Get("Authorization") != "Bearer token-2" {
		t.Errorf("retried with %q", r.Header.Get("Authorization"))
	}

	// Tokens that never work: one refresh only, then a non-retryable 401.
	f.set(func() { f.acceptNoTok = true })
	f.revokeTokens()
	before = len(f.requests())
	_, err := deliver(t, sink, sess, model.ChangeCart)
	var de *DeliveryError
	if !errors.As(err, &de) || de.Status != http.StatusUnauthorized || de.Retryable {
		t.Errorf("persistent 401: %v", err)
	}
	if n := len(f.requests()) - before; n != 3 {
		t.Errorf("persistent 401: %d requests, want PUT, token, PUT", n)
	}
}

func TestEmporixTokenExpiry(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, nil)
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sink.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sess := model.Session{ID: "sid-x", Cart: testCart(t)}
	for range 2 {
		if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil {
			t.Fatal(err)
		}
	}
	advance(14399*time.Second - 2*time.Minute) // still valid, outside the margin
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil || f.tokensIssued() != 1 {
		t.Fatalf("%v, %d tokens", err, f.tokensIssued())
	}
	advance(90 * time.Second) // within the last minute: renewed before use
	if _, err := deliver(t, sink, sess, model.ChangeCart); err != nil || f.tokensIssued() != 2 {
		t.Fatalf("%v, %d tokens", err, f.tokensIssued())
	}
}

func TestEmporixConcurrentDeliveriesShareToken(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := deliver(t, sink, model.Session{ID: fmt.Sprintf("sid-%d", i), Cart: testCart(t)}, model.ChangeCart); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if f.tokensIssued() != 1 {
		t.Errorf("%d tokens for concurrent deliveries", f.tokensIssued())
	}
	if n := sink.versions.(memState).m.len(); n != 20 {
		t.Errorf("%d versions tracked", n)
	}
}

func TestEmporixPathEscaping(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, func(c *EmporixConfig) { c.Tenant = "acme/eu" })
	id := "shop:a/b+c=d"
	if fb, err := deliver(t, sink, model.Session{ID: id, Cart: testCart(t)}, model.ChangeCart); err != nil || fb.ContextVersion != 1 {
		t.Fatalf("%+v %v", fb, err)
	}
	r, body := lastPut(t, f)
	if r.Path != "/session-context/acme%2Feu/context/shop:a%2Fb+c=d" {
		t.Errorf("path %s", r.Path)
	}
	if body["sessionId"] != id {
		t.Errorf("sessionId %v", body["sessionId"])
	}
}

func TestEmporixErrors(t *testing.T) {
	sess := model.Session{ID: "sid-f", Cart: testCart(t)}
	for _, c := range []struct {
		status    int
		retryable bool
	}{{http.StatusServiceUnavailable, true}, {http.StatusTooManyRequests, true}, {http.StatusBadRequest, false}, {http.StatusForbidden, false}} {
		f := newFakeEmporix(t)
		sink := newTestEmporix(t, f, nil)
		f.set(func() { f.failPut = c.status })
		_, err := deliver(t, sink, sess, model.ChangeCart)
		var de *DeliveryError
		if !errors.As(err, &de) || de.Status != c.status || de.Retryable != c.retryable || !strings.Contains(de.Snippet, "failure") {
			t.Errorf("%d: %v", c.status, err)
		}
	}

	// Wrong credentials: the token endpoint's 401 is not retryable, and the
	// secret is in no error.
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, func(c *EmporixConfig) { c.ClientSecret = "wrong-secret" })
	_, err := deliver(t, sink, sess, model.ChangeCart)
	var de *DeliveryError
	if !errors.As(err, &de) || de.Status != http.StatusUnauthorized || de.Retryable || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("bad credentials: %v", err)
	}

	// A separate token endpoint.
	f = newFakeEmporix(t)
	sink = newTestEmporix(t, f, func(c *EmporixConfig) { c.URL = "http://127.0.0.1:1"; c.AuthURL = f.URL + "/oauth/token" })
	if _, err := deliver(t, sink, sess, model.ChangeCart); !Retryable(err) || f.tokensIssued() != 1 {
		t.Errorf("API down, auth up: %v, %d tokens", err, f.tokensIssued())
	}
}

func TestEmporixConfig(t *testing.T) {
	ok := EmporixConfig{URL: "https://api.emporix.io", Tenant: "acme", ClientID: "id", ClientSecret: "s", Hasher: testHasher}
	e, err := NewEmporix(ok)
	if err != nil {
		t.Fatal(err)
	}
	if e.authURL != "https://api.emporix.io/oauth/token" {
		t.Errorf("default AuthURL %s", e.authURL)
	}
	for name, mod := range map[string]func(*EmporixConfig){
		"no tenant":    func(c *EmporixConfig) { c.Tenant = "" },
		"no client id": func(c *EmporixConfig) { c.ClientID = "" },
		"no secret":    func(c *EmporixConfig) { c.ClientSecret = "" },
		"no hasher":    func(c *EmporixConfig) { c.Hasher = nil },
		"bad URL":      func(c *EmporixConfig) { c.URL = "api.emporix.io" },
		"bad auth URL": func(c *EmporixConfig) { c.AuthURL = "https://auth?x=1" },
	} {
		c := ok
		mod(&c)
		if _, err := NewEmporix(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEmporixVersionMapBound(t *testing.T) {
	m := newBoundedMap[int64](3)
	for i, id := range []string{"a", "b", "c"} {
		m.put(id, int64(i+1))
	}
	m.get("a") // used: "b" is now the oldest
	m.put("d", 4)
	if _, ok := m.get("b"); ok || m.len() != 3 {
		t.Errorf("b kept, len %d", m.len())
	}
	for _, id := range []string{"a", "c", "d"} {
		if _, ok := m.get(id); !ok {
			t.Errorf("%s dropped", id)
		}
	}
	m.put("a", 9)
	if v, _ := m.get("a"); v != 9 || m.len() != 3 {
		t.Errorf("update: %d, len %d", v, m.len())
	}
}

// As for Talon.One: /context/.. would be the tenant's context collection.
func TestEmporixRefusesDotIDs(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, nil)
	for _, id := range []string{".", ".."} {
		_, err := deliver(t, sink, model.Session{ID: id, Cart: testCart(t)}, model.ChangeCart)
		if err == nil || Retryable(err) {
			t.Errorf("id %q: err %v, want a final refusal", id, err)
		}
	}
	if m := f.methods(); len(m) != 0 {
		t.Errorf("requests sent for dot ids: %v", m)
	}
}
