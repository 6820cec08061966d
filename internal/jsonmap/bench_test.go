package jsonmap

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"
)

// shopifyCart20 builds a realistic 20-line cart.js body (about 20 KB) from the fixture's
// first line.
func shopifyCart20(b testing.TB) []byte {
	doc := readDoc(b, "shopify_cart.json")
	start := bytes.Index(doc, []byte(`"items": [`)) + len(`"items": [`)
	end := bytes.Index(doc[start:], []byte("\n    },")) + start + len("\n    }")
	item := doc[start:end]
	var out bytes.Buffer
	out.Write(doc[:start])
	for i := range 20 {
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(item)
	}
	out.Write(doc[bytes.Index(doc, []byte("\n  ],")):])
	// Shopify answers with compact JSON.
	var compact bytes.Buffer
	if err := json.Compact(&compact, out.Bytes()); err != nil {
		b.Fatal(err)
	}
	return compact.Bytes()
}

func BenchmarkExtractShopifyCart(b *testing.B) {
	doc := shopifyCart20(b)
	r, err := shopifyCart.Extract(doc)
	if err != nil || len(r.Cart.Items) != 20 || len(r.Dropped) != 0 {
		b.Fatalf("bad fixture: %v %+v", err, r)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := shopifyCart.Extract(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValid compares our validator (gjson's and our depth check)
// with gjson's alone and with encoding/json's, which it replaces for speed.
func BenchmarkValid(b *testing.B) {
	doc := shopifyCart20(b)
	for _, bm := range []struct {
		name  string
		valid func([]byte) bool
	}{{"jsonmap", valid}, {"gjson", gjson.ValidBytes}, {"encoding-json", json.Valid}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if !bm.valid(doc) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
