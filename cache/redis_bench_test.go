package cache

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
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

// BenchmarkRedisUpdateParallel measures one node's update throughput on
// distinct sessions: 32 goroutines per CPU, 64 here (a Redis round trip,
// not the CPU, bounds one goroutine), each on its own run of sessions.
func BenchmarkRedisUpdateParallel(b *testing.B) {
	store, ids := benchRedisStore(b)
	b.SetParallelism(32)
	start := time.Now()
	benchUpdatesParallel(b, store, ids)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "updates/s")
}

// BenchmarkRedisBytesPerSession reports what Redis itself says one stored
// session costs (MEMORY USAGE: value, key and Redis's overhead) for the
// benchmarks' session: a 3-item cart with a customer.
func BenchmarkRedisBytesPerSession(b *testing.B) {
	store, ids := benchRedisStore(b)
	c := store.c
	var used int64
	for range b.N {
		n, err := c.Do(context.Background(), c.B().MemoryUsage().Key(store.sessionKey(ids[0])).Samples(0).Build()).AsInt64()
		if err != nil {
			b.Fatal(err)
		}
		used = n
	}
	s, err := store.Get(context.Background(), ids[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(used), "redis-bytes/session")
	b.ReportMetric(float64(len(s.AppendBinary(nil))), "value-bytes/session")
}

// BenchmarkRedisBytesPerSessionFullHistory is BenchmarkRedisBytesPerSession
// for the same session with a full history (the default 20 entries, each
// with a page path): what the history costs at most.
func BenchmarkRedisBytesPerSessionFullHistory(b *testing.B) {
	store, ids := benchRedisStore(b)
	_, err := store.Update(context.Background(), ids[0], func(s *model.Session) error {
		for i := range model.DefaultMaxHistory {
			s.Record(model.HistoryEntry{Version: s.Version + uint64(i), At: time.Now(), Source: model.SourceHTML,
				Changes: model.ChangeCart | model.ChangeAction, Path: fmt.Sprintf("/products/organic-cotton-t-shirt-%d", i)}, model.DefaultMaxHistory)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	c := store.c
	var used int64
	for range b.N {
		if used, err = c.Do(context.Background(), c.B().MemoryUsage().Key(store.sessionKey(ids[0])).Samples(0).Build()).AsInt64(); err != nil {
			b.Fatal(err)
		}
	}
	s, err := store.Get(context.Background(), ids[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(used), "redis-bytes/session")
	b.ReportMetric(float64(len(s.AppendBinary(nil))), "value-bytes/session")
}
