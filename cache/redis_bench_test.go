package cache

import (
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
	return store, seedBench(b, store)
}

func BenchmarkRedisGet(b *testing.B) {
	store, ids := benchRedisStore(b)
	benchGets(b, store, ids)
}

func BenchmarkRedisUpdate(b *testing.B) {
	store, ids := benchRedisStore(b)
	benchUpdates(b, store, ids)
}
