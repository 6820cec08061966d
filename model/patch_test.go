package model

import (
	"fmt"
	"slices"
	"testing"
)

func TestPatchNilLeavesAndEmptyResets(t *testing.T) {
	s := Session{Cart: Cart{Items: []CartItem{{ProductID: "1", Quantity: 1}}}, Customer: Customer{Email: "a@b"}}
	if (Patch{}).Apply(&s) || len(s.Cart.Items) != 1 || s.Customer.Email == "" {
		t.Fatalf("empty patch changed the session: %+v", s)
	}
	if !(Patch{Cart: &Cart{}, Customer: &Customer{}}).Apply(&s) || len(s.Cart.Items) != 0 || !s.Customer.IsZero() {
		t.Fatalf("{} did not reset: %+v", s)
	}
}

func TestPatchCartIsCopied(t *testing.T) {
	items := []CartItem{{ProductID: "1", Quantity: 1}}
	var s Session
	Patch{Cart: &Cart{Items: items}}.Apply(&s)
	items[0].Quantity = 5
	if s.Cart.Items[0].Quantity != 1 {
		t.Error("the session aliases the patch's items")
	}
}

func TestPatchOrderClosesSessionOnce(t *testing.T) {
	s := Session{Cart: Cart{Items: []CartItem{{ProductID: "1", Quantity: 2}}}, State: StateOpen}
	order := &Order{OrderNumber: "M-1", Items: []CartItem{{ProductID: "1", Quantity: 2}}}
	if !(Patch{Order: order}).Apply(&s) {
		t.Fatal("order not applied")
	}
	if len(s.Cart.Items) != 0 || s.State != StateClosed || s.Action != ActionAddOrder || len(s.Orders) != 1 {
		t.Fatalf("after order: %+v", s)
	}
	// A reloaded thank-you page repeats the order: nothing changes.
	if (Patch{Order: order}).Apply(&s) || len(s.Orders) != 1 {
		t.Errorf("order recorded twice: %+v", s.Orders)
	}
	// Shopping again reopens.
	Patch{Cart: &Cart{Items: []CartItem{{ProductID: "2", Quantity: 1}}}}.Apply(&s)
	if s.State != StateOpen {
		t.Errorf("state %q after a new cart", s.State)
	}
}

func TestPatchOrdersBounded(t *testing.T) {
	var s Session
	for i := range MaxOrders + 5 {
		Patch{Order: &Order{OrderNumber: fmt.Sprint(i)}}.Apply(&s)
	}
	if len(s.Orders) != MaxOrders || s.Orders[0].OrderNumber != "5" {
		t.Errorf("%d orders, first %q", len(s.Orders), s.Orders[0].OrderNumber)
	}
}

func TestCartTotals(t *testing.T) {
	c := Cart{Items: []CartItem{{Quantity: 2, UnitPrice: 123_450000}, {Quantity: 3, UnitPrice: 100000}}}
	if c.Count() != 5 || c.Total().String() != "247.2" {
		t.Errorf("count %d total %s", c.Count(), c.Total())
	}
}

func TestPatchLinesMergeByProductAndSku(t *testing.T) {
	s := Session{Cart: Cart{Items: []CartItem{{ProductID: "1", SkuID: "a", Quantity: 1}, {ProductID: "2", Quantity: 1}}}}
	changed := Patch{Lines: []CartItem{{ProductID: "1", SkuID: "a", Quantity: 3}, {ProductID: "1", SkuID: "b", Quantity: 1}}}.Apply(&s)
	if !changed || len(s.Cart.Items) != 3 || s.Cart.Items[0].Quantity != 3 || s.Cart.Items[1].ProductID != "2" || s.Cart.Items[2].SkuID != "b" {
		t.Errorf("lines merged into %+v", s.Cart.Items)
	}
	if (Patch{Lines: []CartItem{{ProductID: "2", Quantity: 1}}}).Apply(&s) {
		t.Error("an unchanged line counted as a change")
	}
}

func TestPatchMergeCustomerKeepsOtherFields(t *testing.T) {
	s := Session{Customer: Customer{Email: "a@b", MarketingPermission: true}}
	Patch{Customer: &Customer{CustomerReference: "c1"}, MergeCustomer: true}.Apply(&s)
	if s.Customer != (Customer{Email: "a@b", CustomerReference: "c1", MarketingPermission: true}) {
		t.Errorf("merged customer %+v", s.Customer)
	}
}

func TestClaimedCustomerNeverReplacesVerified(t *testing.T) {
	verified := Customer{CustomerReference: "alice", Email: "alice@example.com", Verified: true}
	s := Session{Customer: verified}
	claimed := Customer{CustomerReference: "mallory", Email: "m@example.com", MarketingPermission: true}
	if (Patch{Customer: &claimed}).Apply(&s) || s.Customer != verified {
		t.Fatalf("a claimed customer replaced a verified one: %+v", s.Customer)
	}
	if !(Patch{Customer: &Customer{}}).Apply(&s) || !s.Customer.IsZero() || s.Customer.Verified {
		t.Fatalf("a claimed reset must clear the customer: %+v", s.Customer)
	}
	if !(Patch{Customer: &claimed}).Apply(&s) || s.Customer != claimed {
		t.Fatalf("a claimed customer on a session without one must be kept: %+v", s.Customer)
	}
	// A verified cart answer with only a reference must not launder the
	// claimed email into a verified one.
	bob := Customer{CustomerReference: "bob", Verified: true}
	if !(Patch{Customer: &bob, MergeCustomer: true}).Apply(&s) || s.Customer != bob {
		t.Fatalf("verified merge over a claimed customer: %+v, want %+v", s.Customer, bob)
	}
	if (Patch{Customer: &Customer{Verified: true}, MergeCustomer: true}).Apply(&s) || !s.Customer.Verified {
		t.Fatalf("an empty verified merge must change nothing: %+v", s.Customer)
	}
}

func TestTrustedCustomer(t *testing.T) {
	c := Customer{Email: "a@example.com", MarketingPermission: true}
	if !c.Trusted().IsZero() || c.Trusted().MarketingPermission {
		t.Fatal("a claimed customer must not be trusted")
	}
	c.Verified = true
	if c.Trusted() != c {
		t.Fatal("a verified customer is trusted as it is")
	}
}

// A session's contexts follow its verified customer: a change of customer
// removes what belonged to the previous one (or names another), and keeps
// an anonymous session's contexts through a login.
func TestCustomerChangeDetachesContexts(t *testing.T) {
	alice := Customer{CustomerReference: "cust-a", Email: "alice@example.com", Verified: true}
	bob := Customer{CustomerReference: "cust-b", Verified: true}
	claimed := Customer{CustomerReference: "cust-a"}
	for name, tc := range map[string]struct {
		before, after Customer
		contexts      map[string]string // tenant → customerId
		want          []string          // tenants kept
	}{
		"login keeps anonymous contexts":   {Customer{}, alice, map[string]string{"t1": "", "t2": "cust-a", "t3": "cust-m"}, []string{"t1", "t2"}},
		"another login takes everything":   {alice, bob, map[string]string{"t1": "", "t2": "cust-a"}, nil},
		"logout keeps only named contexts": {alice, Customer{}, map[string]string{"t1": "", "t2": "cust-a"}, []string{"t2"}},
		"a claim decides nothing":          {Customer{}, claimed, map[string]string{"t1": "", "t2": "cust-m"}, []string{"t1", "t2"}},
		"verifying a claim":                {claimed, alice, map[string]string{"t1": "", "t2": "cust-a", "t3": "cust-m"}, []string{"t1", "t2"}},
		"new email, same customer":         {alice, Customer{CustomerReference: "cust-a", Email: "a2@example.com", Verified: true}, map[string]string{"t1": "", "t2": "cust-a"}, []string{"t1", "t2"}},
	} {
		t.Run(name, func(t *testing.T) {
			s := &Session{Customer: tc.before}
			for tenant, customer := range tc.contexts {
				if _, err := s.AddTenantContext(TenantContext{Tenant: tenant, CustomerID: customer}); err != nil {
					t.Fatal(err)
				}
			}
			after := tc.after
			if !(Patch{Customer: &after}).Apply(s) {
				t.Fatal("the customer did not change")
			}
			var kept []string
			for _, c := range s.Contexts {
				kept = append(kept, c.Tenant)
			}
			if !slices.Equal(kept, tc.want) {
				t.Errorf("kept %v, want %v", kept, tc.want)
			}
		})
	}
}

// The same order seen again with another status (an order status page)
// changes only its status and payment provider, at a version of its own;
// the cart and the session's state are left; the same status again, or
// none, changes nothing.
func TestPatchOrderStatusChange(t *testing.T) {
	s := Session{Version: 4}
	Patch{Order: &Order{OrderNumber: "M-1", StatusCode: "pending", PaymentProvider: "klarna"}}.Apply(&s)
	s.Version = 5
	last := s.LastOrderEvent()
	s.Cart = Cart{Items: []CartItem{{ProductID: "2", Quantity: 1}}}
	s.State = StateOpen
	if !(Patch{Order: &Order{OrderNumber: "M-1", StatusCode: "paid"}}).Apply(&s) {
		t.Fatal("a new status changed nothing")
	}
	o := s.Orders[0]
	if o.StatusCode != "paid" || o.PaymentProvider != "klarna" || o.StatusVersion != 6 || o.Version != 5 {
		t.Errorf("order after the status change: %+v", o)
	}
	if len(s.Orders) != 1 || len(s.Cart.Items) != 1 || s.State != StateOpen || s.LastOrderEvent() <= last {
		t.Errorf("session after the status change: %+v", s)
	}
	for _, p := range []*Order{{OrderNumber: "M-1", StatusCode: "paid"}, {OrderNumber: "M-1"}} {
		if (Patch{Order: p}).Apply(&s) {
			t.Errorf("%+v changed the session again", p)
		}
	}
}
