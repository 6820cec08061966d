package api

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
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

	takeout := func() []string {
		w := serve(t, h, apiReq("GET", "/customers/c1/sessions", "secret-key"))
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
	if w := serve(t, h, apiReq("GET", "/customers/c1/sessions", "")); w.Code != http.StatusUnauthorized {
		t.Errorf("takeout without key: %d", w.Code)
	}
	if w := serve(t, h, apiReq("POST", "/customers/c1/sessions", "secret-key")); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
	w := serve(t, h, apiReq("DELETE", "/customers/c1/sessions", "secret-key"))
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
