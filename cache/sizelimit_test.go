package cache

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// TestSizeLimitFromContext: a caller's bound is enforced below the store's
// own, and cannot loosen it, by both stores.
func TestSizeLimitFromContext(t *testing.T) {
	t.Run("bigcache", func(t *testing.T) {
		b, err := NewBigcache(context.Background(), BigcacheConfig{MaxSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		checkSizeLimit(t, b)
	})
	t.Run("redis", func(t *testing.T) { checkSizeLimit(t, newRedisStore(t, RedisConfig{})) })
}

func checkSizeLimit(t *testing.T, b Store) {
	name := func(n int) UpdateFunc {
		return func(s *model.Session) error { s.Customer.FirstName = strings.Repeat("x", n); return nil }
	}
	ctx := WithSizeLimit(context.Background(), 4096)
	if _, err := b.Update(ctx, "aaaaaaaaaaaaaaaaaaaaaa", name(5000)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("5000 bytes under a 4096 bound: %v, want ErrTooLarge", err)
	}
	if _, err := b.Update(ctx, "aaaaaaaaaaaaaaaaaaaaaa", name(3000)); err != nil {
		t.Errorf("3000 bytes under a 4096 bound: %v", err)
	}
	if SizeLimit(WithSizeLimit(context.Background(), 10*model.MaxEncodedSize)) != model.MaxEncodedSize {
		t.Error("a bound above MaxEncodedSize loosened the store's guard")
	}
}
