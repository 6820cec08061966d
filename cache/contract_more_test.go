package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// The contract's size, scan, index and Close subtests; see testStoreContract.

// MaxEncodedSize binds: just under is stored, just over is refused with
// the limit in the error, and the refused write changes nothing.
func contractTooLarge(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	withName := func(n int) UpdateFunc {
		return func(s *model.Session) error {
			s.Cart.Items = []model.CartItem{{ProductID: "p", Quantity: 1, Name: strings.Repeat("x", n)}}
			return nil
		}
	}
	if _, err := b.Update(ctx, "small", addItem("p")); err != nil {
		t.Fatal(err)
	}
	s, err := b.Update(ctx, "s", withName(model.MaxEncodedSize-1024))
	if err != nil {
		t.Fatalf("a session just under the bound: %v", err)
	}
	if n := len(s.AppendBinary(nil)); n > model.MaxEncodedSize {
		t.Fatalf("the test's session encodes to %d bytes", n)
	}
	_, err = b.Update(ctx, "s", withName(model.MaxEncodedSize))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprint(model.MaxEncodedSize)) {
		t.Fatalf("a session over the bound: %v", err)
	}
	if got, err := b.Get(ctx, "s"); err != nil || got.Version != 1 {
		t.Errorf("the refused write changed the session: %v %v", got, err)
	}
	if _, err := b.Update(ctx, "new", withName(model.MaxEncodedSize)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a new session over the bound: %v", err)
	}
	if _, err := b.Get(ctx, "new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused new session was stored: %v", err)
	}
	if _, err := b.Get(ctx, "small"); err != nil {
		t.Errorf("a refused write disturbed others: %v", err)
	}
}

func contractRange(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c", "d"} {
		if _, err := b.Update(ctx, id, addItem("p-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	var seen []string
	err := b.Range(ctx, func(s *model.Session) bool {
		if len(s.Cart.Items) != 1 || s.Cart.Items[0].ProductID != "p-"+s.ID || s.Version != 1 {
			t.Errorf("Range gave %+v", s)
		}
		seen = append(seen, s.ID)
		return true
	})
	slices.Sort(seen)
	if err != nil || fmt.Sprint(seen) != "[a c d]" {
		t.Errorf("Range saw %v, %v; want [a c d]", seen, err)
	}
	n := 0
	if err := b.Range(ctx, func(*model.Session) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("Range after fn said stop: %d calls, %v", n, err)
	}
}

func contractLinked(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	set := func(id string, fn func(s *model.Session)) {
		t.Helper()
		if _, err := b.Update(ctx, id, func(s *model.Session) error { fn(s); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	linked := func(ref string) string {
		t.Helper()
		got, err := b.Linked(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range got {
			if !s.LinkedTo(ref) {
				t.Errorf("Linked gave %s, not linked", s.ID)
			}
			ids = append(ids, s.ID)
		}
		slices.Sort(ids)
		return fmt.Sprint(ids)
	}
	set("customer", func(s *model.Session) { s.Customer.CustomerReference = "c-1" })
	set("buyer", func(s *model.Session) {
		s.Orders = append(s.Orders, model.Order{OrderNumber: "o-1", Buyer: model.Customer{CustomerReference: "c-1"}})
	})
	set("both", func(s *model.Session) {
		s.Customer.CustomerReference = "c-1"
		s.Orders = append(s.Orders, model.Order{OrderNumber: "o-2", Buyer: model.Customer{CustomerReference: "c-1"}})
	})
	// The bytes are there but the link is not.
	set("lookalike", func(s *model.Session) {
		s.Customer.CustomerReference = "c-10"
		s.Cart.Items = []model.CartItem{{ProductID: "c-1", Quantity: 1}}
	})
	set("other", func(s *model.Session) { s.Customer.CustomerReference = "c-2" })
	set("gone", func(s *model.Session) { s.Customer.CustomerReference = "c-1" })
	set("unlinked", func(s *model.Session) { s.Customer.CustomerReference = "c-1" })
	set("unlinked", func(s *model.Session) { s.Customer.CustomerReference = "c-3" })
	if err := b.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}

	if got := linked("c-1"); got != "[both buyer customer]" {
		t.Errorf("Linked(c-1) = %v, want [both buyer customer]", got)
	}
	if got := linked("c-10"); got != "[lookalike]" {
		t.Errorf("Linked(c-10) = %v, want [lookalike]", got)
	}
	if got := linked("c-3"); got != "[unlinked]" {
		t.Errorf("Linked(c-3) = %v, want [unlinked]", got)
	}
	if got, err := b.Linked(ctx, ""); err != nil || len(got) != 0 || linked("nobody") != "[]" {
		t.Errorf("Linked(\"\") = %v, %v; nobody %s", got, err, linked("nobody"))
	}
	// A guest known only by an email, in any case; a session linked to a
	// customer only through a tenant's context.
	set("guest", func(s *model.Session) { s.Customer.Email = "Guest@Example.com" })
	set("tenant", func(s *model.Session) { s.Contexts = []model.TenantContext{{Tenant: "t", CustomerID: "c-9"}} })
	if got := linked(model.EmailKey("guest@example.COM")); got != "[guest]" {
		t.Errorf("Linked(email) = %v, want [guest]", got)
	}
	if got := linked("c-9"); got != "[tenant]" {
		t.Errorf("Linked(c-9) = %v, want [tenant]", got)
	}
}

func contractClose(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	if _, err := b.Update(ctx, "a", addItem("p")); err != nil {
		t.Fatal(err)
	}
	if err1, err2 := b.Close(), b.Close(); err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := b.Get(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
	if _, err := b.Update(ctx, "a", addItem("p")); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close = %v", err)
	}
	if err := b.Delete(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Delete after Close = %v", err)
	}
	if err := b.Range(ctx, func(*model.Session) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Range after Close = %v", err)
	}
	if _, err := b.Linked(ctx, "c-1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Linked after Close = %v", err)
	}
	b.Stats() // must not panic
}

// UpdatedSince lists every session written since a time, once each when
// none is written during the walk, in pages that resume from a cursor; a
// session deleted leaves it.
func contractUpdatedSince(t *testing.T, newStore storeFactory) {
	b := newStore(t, nil)
	ctx := context.Background()
	write := func(prefix string, n int) {
		for i := range n {
			if _, err := b.Update(ctx, fmt.Sprintf("%s-%03d", prefix, i), addItem("p")); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("old", 20)
	time.Sleep(30 * time.Millisecond)
	since := time.Now()
	time.Sleep(5 * time.Millisecond) // the server's clock may run a little behind ours
	write("new", 150)
	if err := b.Delete(ctx, "new-007"); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Second)
	seen := map[string]int{}
	cursor, pages := "", 0
	for {
		list, next, err := b.UpdatedSince(ctx, since, until, cursor, 40)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range list {
			seen[e.ID]++
			// Each entry's cursor resumes right after it.
			if i == 2 && pages == 0 {
				rest, _, err := b.UpdatedSince(ctx, since, until, e.Cursor, 1)
				if err != nil || len(rest) != 1 || rest[0].ID != list[3].ID {
					t.Errorf("resuming after entry 2: %v, %v; want %s", rest, err, list[3].ID)
				}
			}
		}
		pages++
		if next == "" {
			break
		}
		if pages > 100 {
			t.Fatal("UpdatedSince never ends")
		}
		cursor = next
	}
	for id, n := range seen {
		if n != 1 || !strings.HasPrefix(id, "new-") || id == "new-007" {
			t.Errorf("%s listed %d times", id, n)
		}
	}
	if len(seen) != 149 {
		t.Errorf("%d sessions listed, want the 149 written since and not deleted", len(seen))
	}
	// A session written after until is not listed: a walk has an end.
	if list, _, err := b.UpdatedSince(ctx, since, since, "", 500); err != nil || len(list) != 0 {
		t.Errorf("until = since listed %d sessions, %v", len(list), err)
	}
}
