package twonode

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fleet is a Redis, the upstreams and the config every node shares.
type fleet struct {
	redis       *redisServer
	talon, hook *recorder
	page        []byte
	cfg         nodeConfig
}

// The delivery settings of most tests: a short lease, so that a takeover
// is quick, and a grace shorter than it, so that handing back is seen.
const shortLease = `			timeout 2s
			lease 3s
			grace 1s
			max_attempts 100
			max_backoff 200ms`

func newFleet(t *testing.T, delivery string) *fleet {
	f := &fleet{redis: startRedis(t)}
	var talonURL, hookURL, shopURL string
	f.talon, talonURL = talonServer(t)
	f.hook, hookURL = webhookServer(t)
	f.page, shopURL = shopServer(t)
	f.cfg = nodeConfig{redis: f.redis.addr, talon: talonURL, webhook: hookURL, shop: shopURL, delivery: delivery}
	return f
}

// cart is a collect body whose cart holds q of product "p": the tests
// make q the session's version, so that what Talon.One gets shows order.
func cart(q int) string {
	return fmt.Sprintf(`{"cart":{"items":[{"product_id":"p","quantity":%d,"unit_price":1}]}}`, q)
}

type collected struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
}

func mustCollect(t *testing.T, v *visitor, n *node, body string) collected {
	t.Helper()
	code, out := v.collect(n, body)
	if code != 200 {
		t.Fatalf("collect on %s: %d %s", n.name, code, out)
	}
	var c collected
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// sessions makes n visitors, each writing versions 1..versions of its cart
// through node, and returns their session ids.
func sessions(t *testing.T, node *node, n, versions int) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v := newVisitor(t)
			for q := 1; q <= versions; q++ {
				ids[i] = mustCollect(t, v, node, cart(q)).ID
			}
		})
	}
	wg.Wait()
	return ids
}

// waitStarted waits until n deliveries have started at rc.
func waitStarted(t *testing.T, rc *recorder, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case <-rc.started:
		case <-timeout:
			t.Fatalf("fewer than %d deliveries started", n)
		}
	}
}

// checkDelivered checks, for every session, that both upstreams got its
// final version, in non-decreasing order (a redelivery repeats one), never
// two requests for one session at once.
func (f *fleet) checkDelivered(t *testing.T, ids []string, final uint64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for _, id := range ids {
		eventually(t, within, id+"'s final version at both upstreams", func() bool {
			return f.talon.last(id) == final && f.hook.last(id) == final
		})
	}
	took := time.Since(start)
	for name, rc := range map[string]*recorder{"talonone": f.talon, "webhook": f.hook} {
		if o := rc.overlapping(); len(o) > 0 {
			t.Errorf("%s: two requests for one session at once: %v", name, o)
		}
		for _, id := range ids {
			got := rc.of(id)
			for i := 1; i < len(got); i++ {
				if got[i].version < got[i-1].version {
					t.Errorf("%s: %s's versions went back: %v", name, id, versions(got))
					break
				}
			}
		}
	}
	return took
}

func versions(as []arrival) []uint64 {
	var vs []uint64
	for _, a := range as {
		vs = append(vs, a.version)
	}
	return vs
}

// checkSameEventIDs checks that every webhook redelivery of a version
// carried the first attempt's event id.
func (f *fleet) checkSameEventIDs(t *testing.T, ids []string) (redelivered int) {
	t.Helper()
	for _, id := range ids {
		first := map[uint64]string{}
		for _, a := range f.hook.of(id) {
			if e, ok := first[a.version]; ok {
				redelivered++
				if e != a.eventID {
					t.Errorf("%s v%d redelivered with event id %s, first %s", id, a.version, a.eventID, e)
				}
			} else {
				first[a.version] = a.eventID
			}
		}
	}
	return redelivered
}
