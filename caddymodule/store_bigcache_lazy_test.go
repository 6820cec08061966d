package caddymodule

import (
	"context"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/cache"
	"github.com/sessiontap/caddy-sessiontap/model"
)

// Caddy provisions servers in no set order: the operator site naming the
// store without sizes may come first. The first config that gives sizes
// builds the store, whichever came before it; a later one with other
// sizes is told (warnIfChanged) and changes nothing.
func TestLazyBigcacheTakesTheFirstSizesGiven(t *testing.T) {
	var l lazyBigcache
	t.Cleanup(func() { l.Destruct() })
	shop := cache.BigcacheConfig{TTL: time.Hour, MaxSize: 16 << 20}
	if _, sized := l.size(cache.BigcacheConfig{}, false); sized {
		t.Fatal("a config without sizes counts as sizing the store")
	}
	if have, sized := l.size(shop, true); !sized || have.TTL != shop.TTL || have.MaxSize != shop.MaxSize {
		t.Fatalf("the shop's sizes after the operator's reference: %+v %v", have, sized)
	}
	if have, _ := l.size(cache.BigcacheConfig{TTL: time.Minute, MaxSize: 1 << 20}, true); have.TTL != shop.TTL {
		t.Errorf("a later config's sizes replaced the first: %+v", have)
	}
	// Nothing is built until a session is used; then with the shop's sizes.
	if l.built.Load() != nil {
		t.Fatal("built at Provision")
	}
	if _, err := l.Update(context.Background(), "s", func(*model.Session) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if b := l.built.Load(); b == nil || b.Config().TTL != shop.TTL || b.Config().MaxSize != shop.MaxSize {
		t.Errorf("built with %+v, want the shop's sizes", b.Config())
	}
}
