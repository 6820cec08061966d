package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// nostoOrderUpdate is a session that placed order 1001 at version 8.
func nostoOrderUpdate(consent bool) *Update {
	u := nostoTestUpdate(model.ChangeOrder|model.ChangeAction, consent)
	u.Session.Version = 8
	u.Session.Action = model.ActionAddOrder
	u.Session.Orders = []model.Order{{OrderNumber: "1001", StatusCode: "pending", PaymentProvider: "klarna", Version: 8,
		Buyer: model.Customer{Email: "jane.doe@example.com", FirstName: "Jane", LastName: "Doe", MarketingPermission: consent, Verified: true},
		Items: u.Session.Cart.Items}}
	u.Session.Cart = model.Cart{}
	u.Since = 7
	return u
}

func (f *nostoFake) queries() []*nostoSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*nostoSeen(nil), f.seen...)
}

func opOf(s *nostoSeen) string {
	for _, op := range []string{"placeOrder", "updateStatus", "updateSession"} {
		if strings.Contains(s.req.Query, op+"(") {
			return op
		}
	}
	return "?"
}

// An order reaches Nosto once, as placeOrder by the hashed customer
// reference, before the session's update; without marketing permission
// the customer is {} and no personal value is in the request.
func TestNostoPlaceOrderByRef(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	u := nostoOrderUpdate(false)
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	seen := f.queries()
	if len(seen) != 2 || opOf(seen[0]) != "placeOrder" || opOf(seen[1]) != "updateSession" {
		t.Fatalf("requests: %d, want placeOrder then updateSession", len(seen))
	}
	p := seen[0]
	var v map[string]any
	_ = json.Unmarshal(mustJSON(t, p.req.Variables), &v)
	if v["by"] != "BY_REF" || v["id"] != NewHasher("hash-key").Hash("cust-4711") || v["number"] != "1001" ||
		v["orderStatus"] != "pending" || v["paymentProvider"] != "klarna" || v["ref"] != "1001" {
		t.Errorf("placeOrder variables: %v", v)
	}
	if !strings.Contains(p.req.Query, "customer: {}") {
		t.Errorf("without marketing permission the customer must be {}: %s", p.req.Query)
	}
	for _, personal := range []string{"jane.doe@example.com", "Jane", "cust-4711"} {
		if strings.Contains(string(p.body), personal) {
			t.Errorf("placeOrder carries %q", personal)
		}
	}
	if p.key != orderEventID(&u.Session, "1001", "") || p.key == "" || p.key == seen[1].key {
		t.Errorf("placeOrder's Idempotency-Key %q", p.key)
	}
}

// With marketing permission from a verified buyer, the names and email go
// with the order.
func TestNostoPlaceOrderWithConsent(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	if _, err := n.Deliver(context.Background(), nostoOrderUpdate(true)); err != nil {
		t.Fatal(err)
	}
	p := f.queries()[0]
	if v := p.req.Variables; string(v["email"]) != `"jane.doe@example.com"` || string(v["marketingPermission"]) != "true" {
		t.Errorf("placeOrder with consent: %s", p.body)
	}
}

// The session id read from Nosto's 2c.cId cookie names the visitor.
func TestNostoPlaceOrderByCID(t *testing.T) {
	f := newNostoFake(t, nil)
	n, err := NewNosto(NostoConfig{URL: f.URL + "/v1/graphql", Token: nostoTestToken, Hasher: NewHasher("k"), SessionIsCID: true})
	if err != nil {
		t.Fatal(err)
	}
	u := nostoOrderUpdate(false)
	u.Session.Customer = model.Customer{} // no reference at all
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	p := f.queries()[0]
	if string(p.req.Variables["by"]) != `"BY_CID"` || string(p.req.Variables["id"]) != `"5b1a481060b221115c4a251e"` {
		t.Errorf("placeOrder by %s %s, want BY_CID and the 2c.cId", p.req.Variables["by"], p.req.Variables["id"])
	}
}

// Neither Nosto's id nor a verified reference: no order (Nosto could not
// attribute it), counted; a claimed customer is no reference. The session
// update still goes.
func TestNostoOrderUnattributed(t *testing.T) {
	f := newNostoFake(t, nil)
	var n atomic.Int32
	sink, _ := NewNosto(NostoConfig{URL: f.URL + "/v1/graphql", Token: nostoTestToken, Hasher: NewHasher("k"),
		OnUnattributed: func() { n.Add(1) }})
	u := nostoOrderUpdate(false)
	u.Session.Customer.Verified = false
	u.Session.Orders[0].Buyer.Verified = false
	if _, err := sink.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	seen := f.queries()
	if len(seen) != 1 || opOf(seen[0]) != "updateSession" || n.Load() != 1 {
		t.Errorf("%d requests (%s), %d counted unattributed; want updateSession alone and 1", len(seen), opOf(seen[0]), n.Load())
	}
}

// An update retried after its session update failed does not send the
// order again; a redelivery that the sink could not remember (its node
// died after Nosto took the order) carries the same Idempotency-Key.
func TestNostoOrderOnceAndRecognisable(t *testing.T) {
	var failSession atomic.Bool
	failSession.Store(true)
	f := newNostoFake(t, nil)
	f.answer = func(w http.ResponseWriter) {
		last := f.queries()
		if opOf(last[len(last)-1]) == "updateSession" && failSession.Load() {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = io.WriteString(w, `{"data":{"x":{"id":"1"}}}`)
	}
	n := newTestNosto(t, f)
	u := nostoOrderUpdate(false)
	if _, err := n.Deliver(context.Background(), u); err == nil {
		t.Fatal("the failed session update was not reported")
	}
	failSession.Store(false)
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	places := 0
	for _, s := range f.queries() {
		if opOf(s) == "placeOrder" {
			places++
		}
	}
	if places != 1 {
		t.Errorf("placeOrder sent %d times across a retry, want once", places)
	}
	again := newTestNosto(t, f) // another node, which never saw the order sent
	if _, err := again.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range f.queries() {
		if opOf(s) == "placeOrder" {
			keys = append(keys, s.key)
		}
	}
	if len(keys) != 2 || keys[0] != keys[1] {
		t.Errorf("placeOrder's keys across a redelivery: %v, want two alike", keys)
	}
}

// A later status of an order Nosto has goes as updateStatus, once.
func TestNostoUpdateStatus(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	u := nostoOrderUpdate(false)
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	paid := nostoOrderUpdate(false)
	paid.Session.Version, paid.Since, paid.Changed = 9, 8, model.ChangeOrder
	paid.Session.Orders[0].StatusCode, paid.Session.Orders[0].StatusVersion = "paid", 9
	paid.OccurredAt = time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	for range 2 {
		if _, err := n.Deliver(context.Background(), paid); err != nil {
			t.Fatal(err)
		}
	}
	var statuses []*nostoSeen
	for _, s := range f.queries() {
		if opOf(s) == "updateStatus" {
			statuses = append(statuses, s)
		}
	}
	if len(statuses) != 1 {
		t.Fatalf("updateStatus sent %d times, want once", len(statuses))
	}
	v := statuses[0].req.Variables
	if string(v["number"]) != `"1001"` || string(v["orderStatus"]) != `"paid"` || string(v["statusDate"]) != `"2026-12-07T10:30:00"` {
		t.Errorf("updateStatus variables: %s", statuses[0].body)
	}
}

// An order Nosto never got (a guest's, not attributed) gets no status
// change either, even once the visitor signed in.
func TestNostoNoStatusForAnOrderNeverPlaced(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	guest := nostoOrderUpdate(false)
	guest.Session.Customer = model.Customer{}
	guest.Session.Orders[0].Buyer.Verified = false
	if _, err := n.Deliver(context.Background(), guest); err != nil {
		t.Fatal(err)
	}
	paid := nostoOrderUpdate(false) // signed in since, verified
	paid.Session.Version, paid.Since, paid.Changed = 10, 8, model.ChangeOrder
	paid.Session.Orders[0].StatusCode, paid.Session.Orders[0].StatusVersion = "paid", 10
	if _, err := n.Deliver(context.Background(), paid); err != nil {
		t.Fatal(err)
	}
	for _, s := range f.queries() {
		if op := opOf(s); op != "updateSession" {
			t.Errorf("sent %s for an order Nosto never got", op)
		}
	}
}
