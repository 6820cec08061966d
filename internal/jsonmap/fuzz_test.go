package jsonmap

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzExtract runs every document through the shopify and talonone
// mappings (and the test mapping): no panic, the same result twice, never
// more than MaxItems lines, and only valid JSON accepted.
func FuzzExtract(f *testing.F) {
	for _, name := range []string{"shopify_cart.json", "shopify_add_single.json", "shopify_add_multi.json",
		"talonone_session.json", "emporix_context.json"} {
		f.Add(readDoc(f, name))
	}
	f.Add([]byte(`{"items":[{"product_id":"a\"b","quantity":"1","price":"1.5"}],"currency":"eur"}`))
	f.Add([]byte(`{"customerSession":{"cartItems":[{"sku":1,"quantity":1,"price":1e400}]}}`))
	shopify, _ := LookupPreset("shopify")
	talon, _ := LookupPreset("talonone")
	mappings := []Mapping{shopify.Routes[0].Mapping, shopifyAdded, talon.Routes[0].Mapping, emporix, simple}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, m := range mappings {
			r1, err1 := m.Extract(doc)
			r2, err2 := m.Extract(doc)
			if (err1 != nil) != (err2 != nil) || !reflect.DeepEqual(r1, r2) {
				t.Fatalf("not deterministic: %v %v", err1, err2)
			}
			if (err1 == nil) != json.Valid(doc) {
				t.Fatalf("err %v for json.Valid %v", err1, json.Valid(doc))
			}
			checkResult(t, r1)
		}
	})
}

func checkResult(t *testing.T, r Result) {
	if r.Cart != nil && len(r.Cart.Items) > MaxItems || len(r.Lines) > MaxItems {
		t.Fatal("more than MaxItems lines")
	}
	lines := r.Lines
	if r.Cart != nil {
		lines = append(lines, r.Cart.Items...)
	}
	for _, it := range lines {
		if it.ProductID == "" || it.Quantity < 1 || it.UnitPrice < 0 {
			t.Fatalf("kept a bad line %+v", it)
		}
	}
}
