//go:build linux

package fleettest

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// bigCart is a collect body with a 40-line cart: about 3 KiB stored.
func bigCart(q int) string {
	items := make([]string, 40)
	for i := range items {
		items[i] = fmt.Sprintf(`{"product_id":"product-%02d","name":"A product with a longish name %02d","quantity":%d,"unit_price":19.99}`, i, i, q)
	}
	return `{"cart":{"items":[` + strings.Join(items, ",") + `]}}`
}

// metric reads one series' value from a node's /metrics (0 when absent).
func metric(t *testing.T, n *Node, series string) float64 {
	_, b, err := n.do("http://"+n.Admin, "GET", "/metrics", nil)
	if err != nil {
		return 0
	}
	var v float64
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			fmt.Sscanf(rest, "%g", &v)
		}
	}
	return v
}

// A Redis that reaches maxmemory never fills silently. With allkeys-lru
// (which may evict the delivery queues) a node warns when it loads; with
// volatile-lru, sessions are evicted while every write is still answered,
// and the evictions are counted in a metric and logged.
func TestChaosMaxmemoryCounted(t *testing.T) {
	shop := StartShop(t)
	risky := StartRedis(t, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
	warned := StartNode(t, NodeConfig{Name: "warned", Redis: risky.Addr, Upstream: shop.HostPort(), Prefix: "fleettest:"})
	if !Poll(5*time.Second, func() bool { return strings.Contains(warned.Log(), "evicts any key when maxmemory is reached") }) {
		t.Errorf("no warning about maxmemory-policy allkeys-lru:\n%s", warned.Tail(10))
	}

	r := StartRedis(t, "--maxmemory", "12mb", "--maxmemory-policy", "volatile-lru")
	n := StartNode(t, NodeConfig{Name: "a", Redis: r.Addr, Upstream: shop.HostPort(), Prefix: "fleettest:"})
	var acked, failed atomic.Int64
	stop := make(chan struct{})
	wg := func() func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			errs := fanOut(8000, func(i int) error {
				select {
				case <-stop:
					return nil
				default:
				}
				if _, _, err := collect(n, "", bigCart(i+1)); err != nil {
					failed.Add(1)
					return err
				}
				acked.Add(1)
				return nil
			})
			if len(errs) > 0 {
				t.Errorf("%d writes failed while Redis evicted, first: %v", len(errs), errs[0])
			}
		}()
		return func() { <-done }
	}()
	if !Poll(60*time.Second, func() bool { v, _ := r.Stat("stats", "evicted_keys", ""); return v > 0 }) {
		close(stop)
		wg()
		t.Fatalf("Redis evicted nothing after %d writes", acked.Load())
	}
	wg()
	evicted, _ := r.Stat("stats", "evicted_keys", "")
	const series = `caddy_sessiontap_redis_evicted_keys_total{store="redis"}`
	if !Poll(25*time.Second, func() bool { return metric(t, n, series) > 0 }) {
		t.Errorf("%s stayed 0 while Redis evicted %d keys", series, evicted)
	}
	if !strings.Contains(n.Log(), "Redis evicted keys") {
		t.Errorf("no log line about the evictions:\n%s", n.Tail(10))
	}
	t.Logf("maxmemory 12mb, volatile-lru: %d writes acknowledged, %d failed; Redis evicted %d keys; the metric says %v",
		acked.Load(), failed.Load(), evicted, metric(t, n, series))
}
