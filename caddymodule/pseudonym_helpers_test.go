package caddymodule

import (
	"context"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/internal/delivery"
)

// storePseudonyms are the pseudonyms a config without hmac_key sends: under
// the key the bigcache store named name keeps (it must be in use).
func storePseudonyms(t *testing.T, name string) *delivery.Pseudonyms {
	t.Helper()
	var key []byte
	stores.Range(func(k, v any) bool {
		if k == "bigcache/"+name {
			key, _ = v.(*lazyBigcache).Secret(context.Background(), "session-pseudonym")
			return false
		}
		return true
	})
	if key == nil {
		t.Fatalf("no bigcache store %q in use", name)
	}
	return delivery.NewPseudonyms(key)
}
