//go:build linux

package fleettest

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"
)

// collectNew posts a body to the node's collect endpoint as a new visitor
// (or as cookie's, when given) and returns the cookie and the answer.
func collectNew(t *testing.T, n *Node, cookie, body string) (string, Session) {
	t.Helper()
	cookie, s, err := collect(n, cookie, body)
	if err != nil {
		t.Fatal(err)
	}
	return cookie, s
}

func customerBody(ref string) string {
	return fmt.Sprintf(`{"customer":{"customer_reference":%q,"email":"x@example.com"}}`, ref)
}

// A session written through one node is the same session through the
// other, in the API and in placeholders; erased through one, it is gone
// from the other at once.
func TestFleetOneSessionEverywhere(t *testing.T) {
	f := StartFleet(t, 2, func(c *NodeConfig) {
		c.Site = "header >X-Cart-Count {sessiontap.cart.count}\nheader >X-Session-Version {sessiontap.version}"
	})
	a, b := f.Nodes[0], f.Nodes[1]

	cookie, s := collectNew(t, a, "", `{"cart":{"items":[`+
		`{"product_id":"181503","sku_id":"181505","quantity":2,"unit_price":123.45,"price_currency_code":"EUR"},`+
		`{"product_id":"181510","quantity":3,"unit_price":9.5,"price_currency_code":"EUR"}]},"page_type":"cart"}`)
	if _, mine := a.Session(t, s.ID); s.Version != 1 || len(mine.Cart.Items) != 2 {
		t.Fatalf("collect on a answered version %d, a reads %d lines; want 1, 2", s.Version, len(mine.Cart.Items))
	} else {
		s.Cart = mine.Cart
	}
	code, got := b.Session(t, s.ID)
	if code != 200 || got.Version != 1 || got.PageType != "cart" || !slices.Equal(got.Cart.Items, s.Cart.Items) {
		t.Errorf("b reads %d %+v; want what a wrote: %+v", code, got, s)
	}

	// Placeholders on b see a's write. /plain stores nothing itself.
	res, body, err := b.Do("GET", "/plain", nil, "Cookie", CookieHeader(cookie))
	if err != nil || res.StatusCode != 200 || string(body) != "plain" {
		t.Fatalf("plain through b: %v %v %q", res, err, body)
	}
	if c, v := res.Header.Get("X-Cart-Count"), res.Header.Get("X-Session-Version"); c != "5" || v != "1" {
		t.Errorf("b's placeholders: cart count %q, version %q; want 5, 1", c, v)
	}

	// b writes, a sees it.
	_, s2 := collectNew(t, b, cookie, `{"cart":{}}`)
	if code, got := a.Session(t, s.ID); code != 200 || got.Version != 2 || s2.Version != 2 || len(got.Cart.Items) != 0 {
		t.Errorf("after b emptied the cart, a reads %d, version %d, %d lines; want 200, 2, 0", code, got.Version, len(got.Cart.Items))
	}

	// GDPR delete on a: b answers 404 on the very next request.
	if code, body := a.API(t, "DELETE", "/sessions/"+s.ID); code != 204 {
		t.Fatalf("DELETE on a: %d %s", code, body)
	}
	if code, body := b.API(t, "GET", "/sessions/"+s.ID); code != 404 {
		t.Errorf("b after a's DELETE: %d %s; want 404", code, body)
	}
	if code, _ := b.API(t, "DELETE", "/sessions/"+cookie); code != 404 {
		t.Errorf("DELETE again on b: %d; want 404", code)
	}
	if n, err := f.Redis.Do("EXISTS", "fleettest:s:"+s.ID); err != nil || n != "0" {
		t.Errorf("the session's key after DELETE: EXISTS %q %v; want 0", n, err)
	}
	noErrorLogs(t, f.Nodes...)
}

// takeout is the ids a node's customer takeout lists, sorted.
func takeout(t *testing.T, n *Node, ref string) []string {
	t.Helper()
	code, body := n.APIBody(t, "POST", "/customers/takeout", refBody(ref))
	if code != 200 {
		t.Fatalf("node %s: takeout: %d %s", n.Name, code, body)
	}
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("node %s: takeout %s: %v", n.Name, body, err)
	}
	var ids []string
	for _, s := range out.Sessions {
		if s.Customer.CustomerReference != ref {
			t.Errorf("node %s: takeout for %s lists session %s of customer %q", n.Name, ref, s.ID, s.Customer.CustomerReference)
		}
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// The customer index is the fleet's: takeout and delete on b find the
// customer's sessions written on a, and only those.
func TestFleetCustomerTakeoutAcrossNodes(t *testing.T) {
	f := StartFleet(t, 2, nil)
	a, b := f.Nodes[0], f.Nodes[1]
	ref, other := "cust-ref-1", "cust-ref-2"

	var want []string
	for range 3 { // three visitors on a, one on b, logged in as ref
		_, s := collectNew(t, a, "", customerBody(ref))
		want = append(want, s.ID)
	}
	_, s := collectNew(t, b, "", customerBody(ref))
	want = append(want, s.ID)
	slices.Sort(want)
	_, keep := collectNew(t, a, "", customerBody(other))
	// A visitor who was ref and then logged in as other is other's only.
	moved, _ := collectNew(t, a, "", customerBody(ref))
	_, movedS := collectNew(t, a, moved, customerBody(other))

	if got := takeout(t, b, ref); !slices.Equal(got, want) {
		t.Errorf("takeout on b for %s: %v; want %v", ref, got, want)
	}
	if got, want := takeout(t, b, other), slices.Sorted(slices.Values([]string{keep.ID, movedS.ID})); !slices.Equal(got, want) {
		t.Errorf("takeout on b for %s: %v; want %v", other, got, want)
	}

	code, body := b.APIBody(t, "POST", "/customers/delete", refBody(ref))
	var del struct{ Deleted int }
	if err := json.Unmarshal(body, &del); code != 200 || err != nil || del.Deleted != len(want) {
		t.Errorf("delete on b: %d %s; want 200, %d deleted", code, body, len(want))
	}
	for _, id := range want {
		if code, _ := a.Session(t, id); code != 404 {
			t.Errorf("session %s after b's customer delete: a answers %d; want 404", id, code)
		}
	}
	if got := takeout(t, a, ref); len(got) != 0 {
		t.Errorf("takeout on a after the delete: %v; want none", got)
	}
	for _, id := range []string{keep.ID, movedS.ID} {
		if code, s := a.Session(t, id); code != 200 || s.Customer.CustomerReference != other {
			t.Errorf("other customer's session %s: %d %+v; want it untouched", id, code, s)
		}
	}
	noErrorLogs(t, f.Nodes...)
}

// A GDPR delete through b while a delivers the session: a answers 404 at
// once, and no delivery of it starts after the delete answered — not the
// version then in flight again, not the one queued behind it.
func TestFleetDeleteStopsDelivery(t *testing.T) {
	u := StartUpstreams(t)
	f := StartFleet(t, 2, u.Deliver(shortLease))
	a, b := f.Nodes[0], f.Nodes[1]
	arrived := func(id string, v uint64) bool { return u.Talon.Has(id, v) && u.Hook.Has(id, v) }

	cookie, s := collectNew(t, a, "", cart(1))
	if !Poll(10*time.Second, func() bool { return arrived(s.ID, 1) }) {
		t.Fatalf("version 1 not delivered within 10s: talonone %v, webhook %v", versions(u.Talon.Of(s.ID)), versions(u.Hook.Of(s.ID)))
	}
	u.Talon.Hold()
	u.Hook.Hold()
	// Version 2 in flight at both, held; version 3 queued behind it.
	if _, s2 := collectNew(t, a, cookie, cart(2)); s2.Version != 2 {
		t.Fatalf("second write answered version %d", s2.Version)
	}
	if !Poll(10*time.Second, func() bool { return arrived(s.ID, 2) }) {
		t.Fatalf("version 2 not started at both within 10s: talonone %v, webhook %v", versions(u.Talon.Of(s.ID)), versions(u.Hook.Of(s.ID)))
	}
	if _, s3 := collectNew(t, a, cookie, cart(3)); s3.Version != 3 {
		t.Fatalf("third write answered version %d", s3.Version)
	}
	if code, body := b.API(t, "DELETE", "/sessions/"+s.ID); code != 204 {
		t.Fatalf("DELETE through b: %d %s", code, body)
	}
	deleted := time.Now()
	if code, body := a.API(t, "GET", "/sessions/"+s.ID); code != 404 {
		t.Errorf("a after b's DELETE: %d %s; want 404", code, body)
	}
	// The held version 2 fails: only the delete keeps it from a retry.
	u.Talon.ReleaseFailing()
	u.Hook.ReleaseFailing()
	time.Sleep(1500 * time.Millisecond) // the poll interval (100ms) and the backoff (≤200ms) many times over
	for name, rc := range map[string]*Recorder{"webhook": u.Hook, "talonone": u.Talon} {
		for _, ar := range rc.Of(s.ID) {
			if ar.At.After(deleted) {
				t.Errorf("%s: a delivery of the deleted session (v%d) started %s after the delete answered",
					name, ar.Version, ar.At.Sub(deleted).Round(time.Millisecond))
			}
		}
		if o := rc.Overlaps(); len(o) > 0 {
			t.Errorf("%s: two requests for one session at once: %v", name, o)
		}
	}
	if code, _ := a.Session(t, s.ID); code != 404 {
		t.Errorf("the deleted session is back on a after the deliveries: %d", code)
	}
}

// refBody is the body of a takeout or delete for ref.
func refBody(ref string) []byte {
	b, _ := json.Marshal(map[string]string{"customer_reference": ref})
	return b
}
