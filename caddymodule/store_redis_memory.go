package caddymodule

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sessiontap/caddy-sessiontap/cache"
)

// memoryEvery is how often a Redis store reads its server's memory and
// evictions.
var memoryEvery = 10 * time.Second

// redisEvictions counts the keys the server evicted (INFO stats
// evicted_keys, server-wide, summed over a cluster's primaries) while a store used it: every one may be a
// session lost before its ttl, or delivery state.
var redisEvictions = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "redis_evicted_keys_total",
	Help: "Keys the Redis server evicted (maxmemory reached), server-wide, seen by a store.",
}, []string{"store"})

// redisMemoryUsed is the server's used memory as a share of maxmemory (0
// without a maxmemory); on a cluster, the fullest primary's.
var redisMemoryUsed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Namespace: "caddy", Subsystem: "sessiontap", Name: "redis_memory_used_ratio",
	Help: "The Redis server's used_memory over its maxmemory (0: no maxmemory set); on a cluster, the fullest primary's.",
}, []string{"store"})

// memoryWatch reads a store's server's memory settings and evictions: it
// warns once at start when the eviction policy can evict what has no TTL
// (the delivery queues), and counts and logs evictions, at most a line
// per interval, so that memory never fills silently.
type memoryWatch struct {
	store *cache.Redis
	name  string
	stop  chan struct{}
	done  sync.WaitGroup

	// evicted is each server's count at the last look, by run_id: a
	// server restarted, or another primary after a failover, starts its
	// own count, which is not new evictions.
	evicted map[string]int64
}

func startMemoryWatch(store *cache.Redis, name string) *memoryWatch {
	w := &memoryWatch{store: store, name: name, stop: make(chan struct{})}
	w.done.Go(w.run)
	return w
}

func (w *memoryWatch) close() {
	close(w.stop)
	w.done.Wait()
}

func (w *memoryWatch) log() *zap.Logger { return caddy.Log().Named("sessiontap.stores.redis") }

func (w *memoryWatch) run() {
	w.checkPolicy()
	t := time.NewTicker(memoryEvery)
	defer t.Stop()
	for {
		w.look()
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// checkPolicy warns about a maxmemory-policy that evicts keys without a
// TTL: the outbox's queues have none, and losing one loses deliveries.
func (w *memoryWatch) checkPolicy() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	servers, err := w.store.Info(ctx, "memory")
	if err != nil {
		return // the outage log says why
	}
	for _, mem := range servers {
		policy, max := mem["maxmemory_policy"], mem["maxmemory"]
		if max != "0" && max != "" && strings.HasPrefix(policy, "allkeys-") {
			w.log().Warn("this Redis evicts any key when maxmemory is reached, the delivery queues too (they have no TTL): "+
				"set maxmemory-policy volatile-lru (sessions go first, oldest first) or noeviction (writes fail instead)",
				zap.String("store", w.name), zap.String("maxmemory_policy", policy), zap.String("maxmemory", max))
			return
		}
	}
}

// newEvictions is how many keys the servers (a cluster's primaries)
// evicted since the last look, each server known by its run_id.
func (w *memoryWatch) newEvictions(servers []map[string]string) int64 {
	seen := make(map[string]int64, len(servers))
	var n int64
	for _, s := range servers {
		v, err := strconv.ParseInt(s["evicted_keys"], 10, 64)
		if err != nil {
			continue
		}
		id := s["run_id"]
		if last, ok := w.evicted[id]; ok && v > last {
			n += v - last
		}
		seen[id] = v
	}
	w.evicted = seen
	return n
}

// look counts new evictions and the memory in use.
func (w *memoryWatch) look() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	servers, err := w.store.Info(ctx, "server", "stats")
	if err != nil {
		return
	}
	if n := w.newEvictions(servers); n > 0 {
		redisEvictions.WithLabelValues(w.name).Add(float64(n))
		w.log().Warn("Redis evicted keys: it reached maxmemory, and sessions (or delivery state) were lost before their ttl; "+
			"give it more memory or a shorter ttl",
			zap.String("store", w.name), zap.Int64("evicted", n), zap.Duration("within", memoryEvery))
	}
	if servers, err := w.store.Info(ctx, "memory"); err == nil {
		ratio := 0.0 // the fullest server's: a cluster's slots fill unevenly
		for _, mem := range servers {
			used, _ := strconv.ParseFloat(mem["used_memory"], 64)
			max, _ := strconv.ParseFloat(mem["maxmemory"], 64)
			if max > 0 {
				ratio = math.Max(ratio, used/max)
			}
		}
		redisMemoryUsed.WithLabelValues(w.name).Set(ratio)
	}
}
