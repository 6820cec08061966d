package caddymodule

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/rueidis"
)

// With the Redis store, deliveries go through the outbox in Redis: the
// webhook gets every session's last version in order, the delivery state
// is in Redis under the store's prefix, and a reload to another forward
// config (a new outbox) delivers what the old one had queued.
func TestRedisStoreDeliversThroughOutbox(t *testing.T) {
	addr := redisAddr(t)
	prefix := testRedisPrefix()
	rc, srv := newReceiver(t)
	site := func(attempts int, body string) string {
		store := fmt.Sprintf(`
		store redis {
			address %s
			prefix %s
			index_key %s
			timeout 2s
		}`, addr, prefix, testIndexKey)
		return storeSiteConfig(store, fmt.Sprintf(`
		forward webhook %s {
			secret whsec
		}
		hmac_key %s
		delivery {
			max_attempts %d
			timeout 2s
			lease 30s
			grace 1s
		}`, srv.URL, testHMACKey, attempts), body)
	}
	tester := newTester(t)
	tester.InitServer(site(100, "one"), "caddyfile")
	var last session
	for i := 1; i <= 20; i++ {
		last = collect(t, tester, fmt.Sprintf(`{"cart":{"items":[{"product_id":"p","quantity":%d,"unit_price":1}]}}`, i))
	}
	waitFor(t, "the last version", func() bool {
		v := rc.seen(last.ID)
		return len(v) > 0 && v[len(v)-1] == last.Version
	})
	if v := rc.seen(last.ID); !increasing(v) {
		t.Fatalf("versions out of order: %v", v)
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	state := prefix + "o:webhook:s:" + last.ID
	waitFor(t, "the delivery state in Redis", func() bool {
		dfp, err := c.Do(context.Background(), c.B().Hget().Key(state).Field("dfp").Build()).ToString()
		return err == nil && dfp != ""
	})

	// Held at the upstream, then a reload to another forward config: the
	// old outbox hands its lease back after its grace (1s), long before
	// the lease (30s) would run out, and the new one delivers.
	release := rc.hold()
	held := collect(t, tester, `{"cart":{}}`)
	select {
	case <-rc.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery arrived")
	}
	tester.InitServer(site(50, "two"), "caddyfile")
	queued := collect(t, tester, `{"cart":{"items":[{"product_id":"q","quantity":1,"unit_price":1}]}}`)
	time.Sleep(1500 * time.Millisecond) // past the old config's grace, still held
	release()
	released := time.Now()
	// Not "the last one seen": the old node's attempt, cut short when its
	// grace ended, was still held at the receiver, which records it when
	// released, possibly after the new node's delivery of the queued one.
	// An upstream may finish a request its client gave up on; the event
	// id tells such a late duplicate apart.
	for !slices.Contains(rc.seen(held.ID), queued.Version) {
		if time.Since(released) > 20*time.Second {
			t.Fatalf("the queued version was not delivered within 20s of the release: %v", rc.seen(held.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the queued version arrived %s after the release", time.Since(released).Round(time.Millisecond))
	if _, metrics := do(t, tester, "GET", "http://localhost:2999/metrics", ""); !strings.Contains(metrics, `caddy_sessiontap_deliveries_total{outcome="delivered",sink="webhook"}`) {
		t.Errorf("no delivered metric for the outbox")
	}
}

func increasing(v []uint64) bool {
	for i := 1; i < len(v); i++ {
		if v[i] <= v[i-1] {
			return false
		}
	}
	return true
}

// lease is for the Redis outbox: with the embedded store it is refused,
// forward or not, and it must be longer than the attempt timeout.
func TestLeaseNeedsRedis(t *testing.T) {
	// As `caddy validate` sees it: no forward, the embedded store.
	err := validateCaddyfile(t, site("\t\tdelivery {\n\t\t\tlease 15s\n\t\t}"))
	if err == nil || !strings.Contains(err.Error(), "lease applies to the Redis store only") {
		t.Errorf("lease with the embedded store, through a Caddyfile: %v", err)
	}
	for _, tc := range []struct {
		store          any
		lease, timeout time.Duration
		want           string
	}{
		{&BigcacheStore{}, 15 * time.Second, 0, "lease applies to the Redis store only"},
		{&RedisStore{}, 5 * time.Second, 0, "lease 5s must be longer than the attempt timeout 10s"},
		{&RedisStore{}, 5 * time.Second, 5 * time.Second, "lease 5s must be longer than the attempt timeout 5s"},
		{&RedisStore{}, 15 * time.Second, 0, ""},
	} {
		h := Handler{storeMod: tc.store, Delivery: &Delivery{Lease: caddy.Duration(tc.lease), Timeout: caddy.Duration(tc.timeout)}}
		err := h.validateLease()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%T lease %s timeout %s: %v, want %q", tc.store, tc.lease, tc.timeout, err, tc.want)
		}
	}
}
