package cache

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// The Redis store's benchmarks, the same sessions as the bigcache ones;
// they need SESSIONTAP_REDIS_ADDR and are skipped without it.

func benchRedisStore(b *testing.B) (*Redis, []string) {
	if os.Getenv(redisAddrEnv) == "" {
		b.Skip(redisAddrEnv + " is not set") // even under CI: benchmarks are run by hand
	}
	store := newRedisStore(b, RedisConfig{Timeout: DefaultRedisTimeout})
	ids := make([]string, benchIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("sess-%016x", i*7919)
		if _, err := store.Update(context.Background(), ids[i], setTo(benchSession(ids[i]))); err != nil {
			b.Fatal(err)
		}
	}
	return store, ids
}

func BenchmarkRedisGet(b *testing.B) {
	store, ids := benchRedisStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := store.Get(ctx, ids[i%benchIDs]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkRedisUpdate(b *testing.B) {
	store, ids := benchRedisStore(b)
	ctx := context.Background()
	fn := setTo(benchSession(""))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := store.Update(ctx, ids[i%benchIDs], fn); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
