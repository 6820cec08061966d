package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// claimed is shopper as only a browser said it: it must never reach a
// third party as the customer.
var claimed = func() model.Customer {
	c := shopper
	c.Verified = false
	c.MarketingPermission = true
	return c
}()

func TestTalonOneClaimedCustomerIsAGuest(t *testing.T) {
	f := newFakeTalonOne(t)
	sink := newTestTalonOne(t, f, nil)
	sess := model.Session{ID: "sid-claim", Cart: testCart(t), Customer: claimed}
	if _, err := deliver(t, sink, sess, model.ChangeCustomer); err != nil {
		t.Fatal(err)
	}
	r, body := f.last(t)
	if p := body["customerSession"].(map[string]any)["profileId"]; p != "" {
		t.Errorf("profileId = %v for a claimed customer, want a guest session", p)
	}
	assertNoPersonalData(t, r.Body)

	// Nor does a claimed buyer make the closing session a profile's.
	sess = model.Session{ID: "sid-claim-order", State: model.StateClosed,
		Orders: []model.Order{{OrderNumber: "1", Buyer: claimed, Items: testCart(t).Items}}}
	if _, err := deliver(t, sink, sess, model.ChangeOrder); err != nil {
		t.Fatal(err)
	}
	if _, body = f.last(t); body["customerSession"].(map[string]any)["profileId"] != "" {
		t.Errorf("profileId = %v for a claimed buyer", body["customerSession"].(map[string]any)["profileId"])
	}
	// A verified buyer does.
	sess.ID, sess.Orders[0].Buyer = "sid-verified-order", shopper
	if _, err := deliver(t, sink, sess, model.ChangeOrder); err != nil {
		t.Fatal(err)
	}
	if _, body = f.last(t); body["customerSession"].(map[string]any)["profileId"] != testHasher.Hash(shopper.CustomerReference) {
		t.Errorf("profileId = %v for a verified buyer", body["customerSession"].(map[string]any)["profileId"])
	}
}

func TestEmporixClaimedCustomerNotInContext(t *testing.T) {
	f := newFakeEmporix(t)
	sink := newTestEmporix(t, f, nil)
	sess := model.Session{ID: "sid-claim", Cart: testCart(t), Customer: claimed}
	if _, err := deliver(t, sink, sess, model.ChangeCustomer); err != nil {
		t.Fatal(err)
	}
	r, body := lastPut(t, f)
	if c, ok := body["context"].(map[string]any)["customer"]; ok {
		t.Errorf("context.customer %v for a claimed customer", c)
	}
	assertNoPersonalData(t, r.Body)
}

func TestNostoClaimedCustomerNotSent(t *testing.T) {
	f := newNostoFake(t, nil)
	n := newTestNosto(t, f)
	for _, changed := range []model.Change{model.ChangeCustomer, model.ChangeCart} {
		u := nostoTestUpdate(changed, true)
		u.Session.Customer.Verified = false
		if _, err := n.Deliver(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		seen := f.last(t)
		c := seen.vars.Params.Customer
		switch {
		case changed == model.ChangeCart && c != nil:
			t.Errorf("changed %v: customer %v sent for a claimed customer", changed, c)
		case changed == model.ChangeCustomer && (c == nil || c["customerReference"] != nil || string(c["marketingPermission"]) != "false"):
			// The claim replaced whatever Nosto knew: a logout.
			t.Errorf("changed %v: customer %v, want a logout (empty customer)", changed, c)
		}
		for _, v := range []string{"jane", "4711"} {
			if bytes.Contains(bytes.ToLower(seen.body), []byte(strings.ToLower(v))) {
				t.Errorf("changed %v: %q sent for a claimed customer: %s", changed, v, seen.body)
			}
		}
	}
	// A logout (no customer at all) is still sent, so Nosto forgets it.
	u := nostoTestUpdate(model.ChangeCustomer, false)
	u.Session.Customer = model.Customer{}
	if _, err := n.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if c := f.last(t).vars.Params.Customer; c == nil || c["customerReference"] != nil || string(c["marketingPermission"]) != "false" {
		t.Errorf("logout: customer %v, want an empty one", c)
	}
}

func TestWebhookClaimedCustomerSaysSo(t *testing.T) {
	f := newWebhookFake(t, nil)
	w := newTestWebhook(t, f)
	u := webhookTestUpdate(model.ChangeCustomer)
	u.Session.Customer = claimed
	if _, err := w.Deliver(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Customer map[string]any `json:"customer"`
	}
	json.Unmarshal(f.all()[0].body, &body)
	// The shop's own endpoint keeps the claim, marked as one.
	if body.Customer["verified"] != false || body.Customer["customer_reference"] != claimed.CustomerReference {
		t.Errorf("customer %v, want the claim with verified false", body.Customer)
	}
}
