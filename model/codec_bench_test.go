package model

import (
	"testing"
	"time"
)

// benchCart is the session the store benchmarks keep: a 3-item cart with
// a customer.
func benchCart() *Session {
	now := time.Now().UTC()
	items := make([]CartItem, 3)
	for i := range items {
		items[i] = CartItem{ProductID: "prod-100" + string(rune('1'+i)), SkuID: "sku-100" + string(rune('1'+i)) + "-blue-m",
			Name: "Organic cotton t-shirt", Quantity: i + 1, UnitPrice: Decimal(19_990_000 + i), PriceCurrencyCode: "EUR"}
	}
	return &Session{ID: "sess-0000000000001f0f", Version: 7, CreatedAt: now.Add(-time.Hour), UpdatedAt: now,
		Cart:     Cart{Items: items},
		Customer: Customer{CustomerReference: "cust-000123", Email: "jane.doe@example.com", FirstName: "Jane", LastName: "Doe", MarketingPermission: true},
		PageType: PageCart, Action: ActionViewCart}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	enc := benchCart().AppendBinary(nil)
	b.ReportAllocs()
	for b.Loop() {
		var s Session
		if err := s.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendBinary(b *testing.B) {
	s := benchCart()
	buf := s.AppendBinary(nil)
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendBinary(buf[:0])
	}
}

// UnmarshalBinary's strings share its own copy of the input, never the
// caller's bytes: changing them afterwards changes nothing decoded.
func TestUnmarshalBinaryOwnsItsStrings(t *testing.T) {
	want := benchCart()
	enc := want.AppendBinary(nil)
	var got Session
	if err := got.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	clear(enc)
	if got.ID != want.ID || got.Cart.Items[2].SkuID != want.Cart.Items[2].SkuID || got.Customer.Email != want.Customer.Email {
		t.Errorf("decoded strings followed the caller's bytes: %+v", got)
	}
	if n := testing.AllocsPerRun(100, func() {
		var s Session
		_ = s.UnmarshalBinaryShared(want.AppendBinary(make([]byte, 0, 512)))
	}); n > 3 {
		t.Errorf("UnmarshalBinaryShared of a 3-item cart: %v allocations, want the buffer, the items and no more", n)
	}
}
