//go:build linux

package fleettest

import (
	"testing"
	"time"
)

// cookieSecret signs the visitors' cookies on every node, so that a
// cookie outlives the store (without it, the key is one the store keeps).
const cookieSecret = "cookie sessiontap_id secret fleettest-cookie-secret-0123456789abcdef"

// Redis restarted empty (no persistence): the visitor's next write
// creates the session again under the same id, at version 1. Its
// deliveries carry a later epoch, so a receiver that drops stale updates
// by (epoch, version), as the webhook's documentation says, takes every
// one of them; one comparing versions alone would drop them.
func TestChaosRedisRestartedEmptyEpochMovesOn(t *testing.T) {
	u := StartUpstreams(t)
	deliver := u.Deliver(shortLease)
	f := StartFleet(t, 1, func(c *NodeConfig) {
		deliver(c)
		c.Extra += "\n" + cookieSecret
	})
	n := f.Nodes[0]
	cookie, id := "", ""
	for q := 1; q <= 3; q++ {
		c, s, err := collect(n, cookie, cart(q))
		if err != nil {
			t.Fatal(err)
		}
		cookie, id = c, s.ID
	}
	if !Poll(10*time.Second, func() bool { return u.Hook.Last(id) == 3 }) {
		t.Fatalf("v3 not delivered: %v", versions(u.Hook.Of(id)))
	}
	f.Redis.Kill()
	f.Redis.Start() // empty
	var again Session
	if !Poll(15*time.Second, func() bool {
		_, s, err := collect(n, cookie, cart(7))
		again = s
		return err == nil
	}) {
		t.Fatal("no write accepted within 15s of Redis coming back")
	}
	if again.Version != 1 {
		t.Fatalf("the session written again after the data loss is at version %d, want 1 (a new session)", again.Version)
	}
	// The client's other connections to the old server are found dead
	// only when used: a write may still fail once ("outcome unknown",
	// as the README's table says of a restart), and is sent again.
	var next Session
	if !Poll(15*time.Second, func() bool {
		_, s, err := collect(n, cookie, cart(8))
		next = s
		return err == nil
	}) {
		t.Fatal("the next write not accepted within 15s")
	}
	if !Poll(15*time.Second, func() bool {
		as := u.Hook.Of(id)
		return len(as) > 0 && as[len(as)-1].Version == next.Version && as[len(as)-1].Epoch > as[0].Epoch
	}) {
		t.Fatalf("the new session's v%d not delivered with a later epoch: %+v", next.Version, u.Hook.Of(id))
	}
	// A receiver keeping the last (epoch, version) it took.
	var lastE int64
	var lastV uint64
	took, versionsOnly := 0, 0
	var maxV uint64
	for _, a := range u.Hook.Of(id) {
		if a.Epoch > lastE || (a.Epoch == lastE && a.Version > lastV) {
			took++
			lastE, lastV = a.Epoch, a.Version
		}
		if a.Version > maxV {
			versionsOnly++
			maxV = a.Version
		}
	}
	arrivals := len(u.Hook.Of(id))
	if took != arrivals {
		t.Errorf("a receiver comparing (epoch, version) took %d of %d deliveries: %+v", took, arrivals, u.Hook.Of(id))
	}
	t.Logf("%d deliveries across the data loss: (epoch, version) takes %d, version alone would take %d",
		arrivals, took, versionsOnly)
}
