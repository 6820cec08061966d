package cache

import (
	"bytes"
	"context"
	"testing"
)

func TestBigcacheSecretIsStable(t *testing.T) {
	b, err := NewBigcache(context.Background(), BigcacheConfig{MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	k1, _ := b.Secret(context.Background(), "cookie")
	k2, _ := b.Secret(context.Background(), "cookie")
	other, _ := b.Secret(context.Background(), "other")
	if len(k1) != SecretSize || !bytes.Equal(k1, k2) || bytes.Equal(k1, other) {
		t.Fatalf("secrets: %x %x %x", k1, k2, other)
	}
}

// Two nodes of a fleet read one key; a Redis that lost its data gets the
// fleet's key back from the first node that asks again.
func TestRedisSecretIsSharedAndSurvivesDataLoss(t *testing.T) {
	a := newRedisStore(t, RedisConfig{})
	b := newRedisStore(t, RedisConfig{Prefix: a.cfg.Prefix})
	ctx := context.Background()
	ka, err := a.Secret(ctx, "cookie")
	if err != nil {
		t.Fatal(err)
	}
	kb, err := b.Secret(ctx, "cookie")
	if err != nil || !bytes.Equal(ka, kb) || len(ka) != SecretSize {
		t.Fatalf("node a %x, node b %x (%v)", ka, kb, err)
	}
	if err := a.c.Do(ctx, a.c.B().Del().Key(a.cfg.Prefix+"secret:cookie").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	again, err := b.Secret(ctx, "cookie")
	if err != nil || !bytes.Equal(again, ka) {
		t.Fatalf("after the key was lost: %x, want the fleet's %x (%v)", again, ka, err)
	}
}
