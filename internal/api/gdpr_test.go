package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

func TestCustomerTakeoutAndDelete(t *testing.T) {
	cfg := testConfig()
	var cancelled []string
	cfg.OnDelete = func(id string) { cancelled = append(cancelled, id) }
	h, store := newTestAPI(t, cfg)
	ctx := context.Background()
	put := func(id string, p model.Patch) {
		if _, err := store.Update(ctx, id, func(s *model.Session) error { p.Apply(s); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	put("s-customer", model.Patch{Customer: &model.Customer{CustomerReference: "c1", Email: "a@b"}})
	put("s-buyer", model.Patch{Order: &model.Order{OrderNumber: "o1", Buyer: model.Customer{CustomerReference: "c1"}}})
	put("s-other", model.Patch{Customer: &model.Customer{CustomerReference: "c2"}})

	ref := `{"customer_reference":"c1"}`
	takeout := func() []string {
		w := serve(t, h, keyed("POST", "/_sessiontap/api/customers/takeout", ref))
		if w.Code != http.StatusOK {
			t.Fatalf("takeout: %d %s", w.Code, w.Body)
		}
		var out struct {
			Sessions []struct{ ID string } `json:"sessions"`
		}
		json.Unmarshal(w.Body.Bytes(), &out)
		var ids []string
		for _, s := range out.Sessions {
			ids = append(ids, s.ID)
		}
		slices.Sort(ids)
		return ids
	}
	if got := takeout(); !slices.Equal(got, []string{"s-buyer", "s-customer"}) {
		t.Fatalf("takeout %v", got)
	}
	noKey := keyed("POST", "/_sessiontap/api/customers/takeout", ref)
	noKey.Header.Del("Authorization")
	if w := serve(t, h, noKey); w.Code != http.StatusUnauthorized {
		t.Errorf("takeout without key: %d", w.Code)
	}
	// The reference is personal data: never in a URL, where logs keep it.
	for _, r := range []*http.Request{apiReq("GET", "/customers/c1/sessions", "secret-key"), apiReq("DELETE", "/customers/c1/sessions", "secret-key")} {
		if w := serve(t, h, r); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "customers/takeout") {
			t.Errorf("%s %s: %d %s; want 404 naming the body routes", r.Method, r.URL.Path, w.Code, w.Body)
		}
	}
	for body, field := range map[string]string{`{}`: "give either", `{"customer_reference":"c1","x":1}`: "nothing else", `c1`: "JSON object"} {
		if w := serve(t, h, keyed("POST", "/_sessiontap/api/customers/delete", body)); w.Code != http.StatusBadRequest ||
			!strings.Contains(w.Body.String(), field) || !strings.Contains(w.Body.String(), `"field":"customer_reference"`) {
			t.Errorf("delete with %s: %d %s", body, w.Code, w.Body)
		}
	}
	if w := serve(t, h, keyed("GET", "/_sessiontap/api/customers/takeout", ref)); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET takeout: %d", w.Code)
	}
	w := serve(t, h, keyed("POST", "/_sessiontap/api/customers/delete", ref))
	if w.Code != http.StatusOK || w.Body.String() != "{\"deleted\":2}\n" {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	slices.Sort(cancelled)
	if !slices.Equal(cancelled, []string{"s-buyer", "s-customer"}) {
		t.Errorf("pending deliveries cancelled for %v", cancelled)
	}
	if got := takeout(); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	if _, err := store.Get(ctx, "s-other"); err != nil {
		t.Errorf("another customer's session went too: %v", err)
	}
}

func TestSingleDeleteCancelsDeliveries(t *testing.T) {
	cfg := testConfig()
	var cancelled []string
	cfg.OnDelete = func(id string) { cancelled = append(cancelled, id) }
	h, store := newTestAPI(t, cfg)
	id := newVisitor(t, store).id
	serve(t, h, apiReq("DELETE", "/sessions/"+id, "secret-key"))
	if !slices.Equal(cancelled, []string{id}) {
		t.Errorf("cancelled %v", cancelled)
	}
}

// A guest who left only an email, and a session linked to a customer only
// through a tenant's context, are found and erased too.
func TestGDPRFindsGuestsByEmailAndTenantLinks(t *testing.T) {
	h, store := newTestAPI(t, testConfig())
	ctx := context.Background()
	put := func(id string, fn func(s *model.Session)) {
		if _, err := store.Update(ctx, id, func(s *model.Session) error { fn(s); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	put("guest", func(s *model.Session) { s.Customer = model.Customer{Email: "Guest@Example.com"} })
	put("buyer", func(s *model.Session) {
		s.Orders = []model.Order{{OrderNumber: "o1", Buyer: model.Customer{Email: "guest@example.com"}}}
	})
	put("tenant", func(s *model.Session) { s.Contexts = []model.TenantContext{{Tenant: "shop", CustomerID: "c9"}} })
	put("other", func(s *model.Session) { s.Customer = model.Customer{Email: "other@example.com"} })
	ids := func(body string) []string {
		w := serve(t, h, keyed("POST", "/_sessiontap/api/customers/takeout", body))
		var out struct {
			Sessions []struct{ ID string } `json:"sessions"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil {
			t.Fatalf("takeout %s: %d %s", body, w.Code, w.Body)
		}
		var got []string
		for _, s := range out.Sessions {
			got = append(got, s.ID)
		}
		slices.Sort(got)
		return got
	}
	if got := ids(`{"email":" GUEST@example.com "}`); !slices.Equal(got, []string{"buyer", "guest"}) {
		t.Errorf("by email: %v, want buyer and guest", got)
	}
	if got := ids(`{"customer_reference":"c9"}`); !slices.Equal(got, []string{"tenant"}) {
		t.Errorf("by a tenant context's customerId: %v", got)
	}
	w := serve(t, h, keyed("POST", "/_sessiontap/api/customers/delete", `{"email":"guest@example.com"}`))
	if w.Code != 200 || w.Body.String() != "{\"deleted\":2}\n" {
		t.Fatalf("delete by email: %d %s", w.Code, w.Body)
	}
	if got := ids(`{"email":"guest@example.com"}`); len(got) != 0 {
		t.Errorf("after the delete: %v", got)
	}
}
