package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/spectest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

const nostoTestToken = "nosto-api-token"

// nostoSeen is one request as a fake Nosto received it.
type nostoSeen struct {
	user, pass  string
	key         string // Idempotency-Key
	authOK      bool
	contentType string
	body        []byte
	req         struct {
		Query     string                     `json:"query"`
		Variables map[string]json.RawMessage `json:"variables"`
	}
	vars struct {
		By     string `json:"by"`
		ID     string `json:"id"`
		Params struct {
			Event      *struct{ Type, Target string } `json:"event"`
			SkipEvents *bool                          `json:"skipEvents"`
			Cart       *struct {
				Items []map[string]json.RawMessage `json:"items"`
			} `json:"cart"`
			Customer map[string]json.RawMessage `json:"customer"`
		} `json:"params"`
	}
}

// nostoFake is a loopback Nosto that records what it receives and answers
// with answer (status 200 and a GraphQL success when nil).
type nostoFake struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []*nostoSeen
	answer func(w http.ResponseWriter)
}

func newNostoFake(t *testing.T, answer func(w http.ResponseWriter)) *nostoFake {
	t.Helper()
	f := &nostoFake{answer: answer}
	schema := spectest.NostoSchema(t)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &nostoSeen{contentType: r.Header.Get("Content-Type"), key: r.Header.Get("Idempotency-Key")}
		s.user, s.pass, s.authOK = r.BasicAuth()
		s.body, _ = io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/graphql" {
			t.Errorf("got %s %s, want POST /v1/graphql", r.Method, r.URL.Path)
		}
		if err := json.Unmarshal(s.body, &s.req); err != nil {
			t.Errorf("body is not JSON: %v: %s", err, s.body)
		}
		if _, _, err := spectest.ValidateGraphQL(schema, s.body); err != nil {
			t.Errorf("against Nosto's schema: %v\n%s", err, s.body)
		}
		vars, _ := json.Marshal(s.req.Variables)
		if err := json.Unmarshal(vars, &s.vars); err != nil {
			t.Errorf("variables: %v", err)
		}
		f.mu.Lock()
		f.seen = append(f.seen, s)
		f.mu.Unlock()
		if f.answer != nil {
			f.answer(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"updateSession":{"id":"5b1a481060b221115c4a251e"}}}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *nostoFake) last(t *testing.T) *nostoSeen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the fake Nosto received nothing")
	}
	return f.seen[len(f.seen)-1]
}

func newTestNosto(t *testing.T, f *nostoFake) *Nosto {
	t.Helper()
	n, err := NewNosto(NostoConfig{URL: f.URL + "/v1/graphql", Token: nostoTestToken, Hasher: NewHasher("hash-key")})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func nostoTestUpdate(changed model.Change, consent bool) *Update {
	price, _ := model.ParseDecimal("123.45")
	return &Update{
		EventID: "evt-1",
		Changed: changed,
		Session: model.Session{
			ID:      "5b1a481060b221115c4a251e",
			Version: 7,
			Action:  model.ActionViewProduct,
			Product: &model.Product{ProductID: "181503"},
			Cart: model.Cart{Items: []model.CartItem{{
				ProductID: "181503", SkuID: "181505", Name: "Men's Running Shirt",
				Quantity: 2, UnitPrice: price, PriceCurrencyCode: "EUR",
			}}},
			Customer: model.Customer{
				CustomerReference:   "cust-4711",
				Email:               "jane.doe@example.com",
				FirstName:           "Jane",
				LastName:            "Doe",
				MarketingPermission: consent,
				Verified:            true,
			},
		},
		OccurredAt: time.Unix(1700000000, 0),
	}
}

func TestNostoRequestShape(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	if n.Name() != "nosto" {
		t.Errorf("Name() = %q", n.Name())
	}
	u := nostoTestUpdate(model.ChangeCart|model.ChangeCustomer|model.ChangeAction, false)
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	s := f.last(t)

	if !s.authOK || s.user != "" || s.pass != nostoTestToken {
		t.Errorf("basic auth = %q:%q (ok %v), want empty user and the token", s.user, s.pass, s.authOK)
	}
	if s.contentType != "application/json" {
		t.Errorf("Content-Type = %q", s.contentType)
	}
	q := s.req.Query
	if !strings.HasPrefix(strings.TrimSpace(q), "mutation") || !strings.Contains(q, "updateSession(") {
		t.Errorf("query is not an updateSession mutation: %s", q)
	}
	for _, v := range []string{"$by: LookupParams!", "$id: String!", "$params: InputSessionParams", "by: $by", "id: $id", "params: $params"} {
		if !strings.Contains(q, v) {
			t.Errorf("query lacks %q: %s", v, q)
		}
	}
	// Values travel as variables only.
	for _, v := range []string{u.Session.ID, "181503", "EUR"} {
		if strings.Contains(q, v) {
			t.Errorf("query text contains the value %q", v)
		}
	}
	for _, k := range []string{"by", "id", "params"} {
		if _, ok := s.req.Variables[k]; !ok {
			t.Errorf("variables lack %q", k)
		}
	}
	if s.vars.By != "BY_CID" || s.vars.ID != u.Session.ID {
		t.Errorf("by, id = %q, %q", s.vars.By, s.vars.ID)
	}

	p := s.vars.Params
	if p.Cart == nil || len(p.Cart.Items) != 1 {
		t.Fatalf("cart = %+v", p.Cart)
	}
	item := p.Cart.Items[0]
	want := map[string]string{
		"productId": `"181503"`, "skuId": `"181505"`, "name": `"Men's Running Shirt"`,
		"quantity": `2`, "unitPrice": `123.45`, "priceCurrencyCode": `"EUR"`,
	}
	for k, v := range want {
		if string(item[k]) != v {
			t.Errorf("cart item %s = %s, want %s", k, item[k], v)
		}
	}

	ref := NewHasher("hash-key").Hash("cust-4711")
	if string(p.Customer["customerReference"]) != `"`+ref+`"` {
		t.Errorf("customerReference = %s, want the HMAC %s", p.Customer["customerReference"], ref)
	}
	if string(p.Customer["marketingPermission"]) != "false" {
		t.Errorf("marketingPermission = %s", p.Customer["marketingPermission"])
	}
	for _, k := range []string{"email", "firstName", "lastName"} {
		if _, ok := p.Customer[k]; ok {
			t.Errorf("customer.%s sent without marketing permission", k)
		}
	}
	for _, pii := range []string{"cust-4711", "jane.doe@example.com", "Jane", "Doe"} {
		if strings.Contains(string(s.body), pii) {
			t.Errorf("body contains %q without consent: %s", pii, s.body)
		}
	}
	if p.SkipEvents == nil || *p.SkipEvents {
		t.Errorf("skipEvents = %v, want false for an action", p.SkipEvents)
	}
	if p.Event == nil || p.Event.Type != "VIEWED_PRODUCT" || p.Event.Target != "181503" {
		t.Errorf("event = %+v", p.Event)
	}
}

func TestNostoCustomerWithConsent(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	if _, err := n.Deliver(context.Background(), nostoTestUpdate(model.ChangeCustomer|model.ChangeAction, true)); err != nil {
		t.Fatal(err)
	}
	c := f.last(t).vars.Params.Customer
	want := map[string]string{
		"email": `"jane.doe@example.com"`, "firstName": `"Jane"`, "lastName": `"Doe"`,
		"marketingPermission": "true", "customerReference": `"` + NewHasher("hash-key").Hash("cust-4711") + `"`,
	}
	for k, v := range want {
		if string(c[k]) != v {
			t.Errorf("customer.%s = %s, want %s", k, c[k], v)
		}
	}
	if strings.Contains(string(f.last(t).body), "cust-4711") {
		t.Error("the customer reference left in clear")
	}
}

func TestNostoCartOnlyUpdateSkipsEvents(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	for _, changed := range []model.Change{model.ChangeCart, model.ChangeCustomer, model.ChangeCart | model.ChangeCustomer, model.ChangeOrder} {
		if _, err := n.Deliver(context.Background(), nostoTestUpdate(changed, false)); err != nil {
			t.Fatal(err)
		}
		p := f.last(t).vars.Params
		if p.SkipEvents == nil || !*p.SkipEvents {
			t.Errorf("changed %b: skipEvents = %v, want true", changed, p.SkipEvents)
		}
		if p.Event != nil {
			t.Errorf("changed %b: event %+v sent with skipEvents", changed, p.Event)
		}
		if p.Cart == nil || len(p.Cart.Items) != 1 {
			t.Errorf("changed %b: cart not sent", changed)
		}
	}
}

func TestNostoEmptyCartAndNoCustomer(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	u := nostoTestUpdate(model.ChangeCart, false)
	u.Session.Cart = model.Cart{}
	u.Session.Customer = model.Customer{}
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	s := f.last(t)
	// An emptied cart must empty Nosto's (items: []), not leave it as is.
	if !strings.Contains(string(s.body), `"cart":{"items":[]}`) {
		t.Errorf("empty cart not sent as items: []: %s", s.body)
	}
	if s.vars.Params.Customer != nil {
		t.Errorf("customer sent for an anonymous visitor: %v", s.vars.Params.Customer)
	}
}

func TestNostoEvents(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	tests := []struct {
		action               model.Action
		product              *model.Product
		category, term       string
		wantType, wantTarget string
	}{
		{action: model.ActionViewProduct, product: &model.Product{ProductID: "p-1"}, wantType: "VIEWED_PRODUCT", wantTarget: "p-1"},
		{action: model.ActionViewProduct, wantType: "VIEWED_PAGE", wantTarget: "product"},
		{action: model.ActionViewCategory, category: "/Women/Dresses", wantType: "VIEWED_CATEGORY", wantTarget: "/Women/Dresses"},
		{action: model.ActionViewCategory, wantType: "VIEWED_PAGE", wantTarget: "category"},
		{action: model.ActionViewSearch, term: "black shoes", wantType: "SEARCHED_FOR", wantTarget: "black shoes"},
		{action: model.ActionViewSearch, wantType: "VIEWED_PAGE", wantTarget: "search"},
		{action: model.ActionViewCart, wantType: "VIEWED_PAGE", wantTarget: "cart"},
		{action: model.ActionViewFrontPage, wantType: "VIEWED_PAGE", wantTarget: "front"},
		{action: model.ActionViewNotFound, wantType: "VIEWED_PAGE", wantTarget: "notfound"},
		{action: model.ActionAddOrder, wantType: "VIEWED_PAGE", wantTarget: "order"},
		{action: model.ActionViewOther, wantType: "VIEWED_PAGE", wantTarget: "other"},
	}
	for _, tc := range tests {
		u := nostoTestUpdate(model.ChangeAction, false)
		u.Session.Action = tc.action
		u.Session.Product = tc.product
		u.Session.Category = tc.category
		u.Session.SearchTerm = tc.term
		if _, err := n.Deliver(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		p := f.last(t).vars.Params
		if p.Event == nil || p.Event.Type != tc.wantType || p.Event.Target != tc.wantTarget {
			t.Errorf("%s: event = %+v, want %s %q", tc.action, p.Event, tc.wantType, tc.wantTarget)
		}
		if p.SkipEvents == nil || *p.SkipEvents {
			t.Errorf("%s: skipEvents = %v, want false", tc.action, p.SkipEvents)
		}
	}

	// An action Nosto does not know sends no event.
	u := nostoTestUpdate(model.ChangeAction, false)
	u.Session.Action = ""
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if p := f.last(t).vars.Params; p.Event != nil || p.SkipEvents == nil || !*p.SkipEvents {
		t.Errorf("no action: event %+v, skipEvents %v", p.Event, p.SkipEvents)
	}
}

func TestNostoGraphQLErrors(t *testing.T) {
	f := newNostoFake(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":null,"errors":[{"message":"Variable 'params' has an invalid value: jane.doe@example.com is not valid","locations":[{"line":1,"column":10}]}]}`)
	})
	n := newTestNosto(t, f)
	_, err := n.Deliver(context.Background(), nostoTestUpdate(model.ChangeCart|model.ChangeAction, true))
	var de *DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want a *DeliveryError", err)
	}
	if de.Retryable || Retryable(err) {
		t.Error("a GraphQL error is retryable")
	}
	if de.Status != http.StatusOK {
		t.Errorf("Status = %d", de.Status)
	}
	if !strings.Contains(de.Snippet, "has an invalid value") {
		t.Errorf("Snippet = %q, want the error message", de.Snippet)
	}
	if strings.Contains(de.Snippet, "jane.doe@example.com") || strings.Contains(err.Error(), "jane.doe@example.com") {
		t.Errorf("an echoed email reached the error: %q", de.Snippet)
	}
}

func TestNostoGraphQLRateLimit(t *testing.T) {
	f := newNostoFake(t, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "12")
		_, _ = io.WriteString(w, `{"errors":[{"message":"Rate limit exceeded, slow down"}]}`)
	})
	n := newTestNosto(t, f)
	_, err := n.Deliver(context.Background(), nostoTestUpdate(model.ChangeCart, false))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Retryable || de.RetryAfter != 12*time.Second {
		t.Fatalf("err = %#v, want retryable after 12s", err)
	}
	if !strings.Contains(de.Snippet, "Rate limit") {
		t.Errorf("Snippet = %q", de.Snippet)
	}
}

func TestNostoHTTPClassification(t *testing.T) {
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		status         int
		retryAfter     string
		retryable      bool
		minWait, maxWt time.Duration
	}{
		{status: 503, retryAfter: "7", retryable: true, minWait: 7 * time.Second, maxWt: 7 * time.Second},
		{status: 500, retryable: true},
		{status: 429, retryAfter: date, retryable: true, minWait: 25 * time.Second, maxWt: 31 * time.Second},
		{status: 429, retryAfter: "soon", retryable: true},
		{status: 400},
		{status: 401},
		{status: 403},
		{status: 404},
		{status: 302},
	}
	for _, tc := range tests {
		f := newNostoFake(t, func(w http.ResponseWriter) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			if tc.status == 302 {
				w.Header().Set("Location", "https://elsewhere.example/")
			}
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, `{"message":"nope"}`)
		})
		n := newTestNosto(t, f)
		_, err := n.Deliver(context.Background(), nostoTestUpdate(model.ChangeCart, false))
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("%d: err = %v, want a *DeliveryError", tc.status, err)
		}
		if de.Status != tc.status || de.Retryable != tc.retryable {
			t.Errorf("%d: status %d retryable %v, want retryable %v", tc.status, de.Status, de.Retryable, tc.retryable)
		}
		if de.RetryAfter < tc.minWait || de.RetryAfter > tc.maxWt {
			t.Errorf("%d (Retry-After %q): RetryAfter = %v, want %v..%v", tc.status, tc.retryAfter, de.RetryAfter, tc.minWait, tc.maxWt)
		}
		if !strings.Contains(de.Snippet, "nope") {
			t.Errorf("%d: Snippet = %q", tc.status, de.Snippet)
		}
		f.mu.Lock()
		if len(f.seen) != 1 {
			t.Errorf("%d: %d requests, want 1 (no redirects followed)", tc.status, len(f.seen))
		}
		f.mu.Unlock()
	}
}

func TestNostoNetworkErrorRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	n, err := NewNosto(NostoConfig{URL: url, Token: nostoTestToken, Hasher: NewHasher("k")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Deliver(context.Background(), nostoTestUpdate(model.ChangeCart, false))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Retryable || de.Status != 0 {
		t.Fatalf("err = %#v, want a retryable network error", err)
	}
}

func TestNostoNotGraphQL(t *testing.T) {
	f := newNostoFake(t, func(w http.ResponseWriter) { _, _ = io.WriteString(w, "<html>maintenance</html>") })
	_, err := newTestNosto(t, f).Deliver(context.Background(), nostoTestUpdate(model.ChangeCart, false))
	var de *DeliveryError
	if !errors.As(err, &de) || de.Retryable || !strings.Contains(de.Snippet, "maintenance") {
		t.Fatalf("err = %#v", err)
	}
}

func TestNewNostoConfig(t *testing.T) {
	h := NewHasher("k")
	if _, err := NewNosto(NostoConfig{Token: "t", Hasher: h}); err != nil {
		t.Errorf("default URL: %v", err)
	}
	if n, _ := NewNosto(NostoConfig{Token: "t", Hasher: h}); n != nil && n.url != DefaultNostoURL {
		t.Errorf("url = %q", n.url)
	}
	for name, cfg := range map[string]NostoConfig{
		"no token":  {Hasher: h},
		"no hasher": {Token: "t"},
		"bad url":   {URL: "api.nosto.com/v1/graphql", Token: "t", Hasher: h},
		"ftp url":   {URL: "ftp://api.nosto.com/", Token: "t", Hasher: h},
	} {
		if _, err := NewNosto(cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
