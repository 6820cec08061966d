//go:build linux

package fleettest

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

// kill -9 of a node holding deliveries in flight: a node started after it
// delivers them once the lease (3s) runs out, within a few seconds more, in
// order, with the first attempts' event ids, and every session's final
// version reaches both upstreams.
func TestFleetKillNineTakeover(t *testing.T) {
	u := StartUpstreams(t)
	f := StartFleet(t, 1, u.Deliver(shortLease))
	a := f.Nodes[0]
	u.Talon.Hold()
	u.Hook.Hold()
	// Six sessions whose one version is in flight when a dies (so it is
	// delivered again), then six with three versions, the later ones
	// waiting behind the first (so the takeover delivers the newest).
	single := sessions(t, a, 6, 1)
	waitStarted(t, u.Hook, 6)
	multi := sessions(t, a, 6, 3)
	waitStarted(t, u.Hook, 2) // a's concurrency: 8 in flight per sink
	a.Kill()
	killed := time.Now()
	if a.Running() {
		t.Fatal("node a still runs after kill -9")
	}
	f.AddNode(t)
	u.Talon.Release()
	u.Hook.Release()
	checkDelivered(t, u, single, 1, 15*time.Second)
	checkDelivered(t, u, multi, 3, 15*time.Second)
	took := time.Since(killed)
	if took > 3*time.Second+5*time.Second {
		t.Errorf("everything delivered %s after the kill; the lease is 3s", took.Round(time.Millisecond))
	}
	n := checkSameEventIDs(t, u, slices.Concat(single, multi))
	if n == 0 {
		t.Error("nothing was redelivered: the kill did not catch deliveries in flight")
	}
	t.Logf("b delivered everything %s after a's kill -9 (lease 3s); %d redeliveries, same event ids", took.Round(time.Millisecond), n)
}

// SIGTERM gives attempts in flight the grace (1s), then hands their leases
// back: a node started after it goes on at once, long before the lease
// (60s) would run out, and nothing is lost.
func TestFleetSIGTERMHandsLeasesBack(t *testing.T) {
	u := StartUpstreams(t)
	f := StartFleet(t, 1, u.Deliver(longLease))
	a := f.Nodes[0]
	u.Talon.Hold()
	u.Hook.Hold()
	ids := sessions(t, a, 12, 3)
	waitStarted(t, u.Hook, 8) // a's concurrency
	stopped := time.Now()
	if err := a.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	exited := time.Since(stopped)
	if exited > 5*time.Second {
		t.Errorf("a took %s to exit after SIGTERM with a 1s grace: it waited for its attempts", exited.Round(time.Millisecond))
	}
	f.AddNode(t)
	u.Talon.Release()
	u.Hook.Release()
	// Within 20s, well under the 60s lease: only handed-back leases make it.
	took := checkDelivered(t, u, ids, 3, 20*time.Second)
	n := checkSameEventIDs(t, u, ids)
	t.Logf("a exited %s after SIGTERM (grace 1s); b then delivered everything in %s (lease 60s); %d redeliveries, same event ids",
		exited.Round(time.Millisecond), took.Round(time.Millisecond), n)
}

// caddy reload to another delivery config: the new outbox goes on with
// what is queued, and the old one hands back what it held after its grace
// (1s), long before the lease (60s); the shop's pages flow as before.
func TestFleetReloadMovesOn(t *testing.T) {
	u := StartUpstreams(t)
	f := StartFleet(t, 1, u.Deliver(longLease))
	a := f.Nodes[0]
	u.Talon.Hold()
	u.Hook.Hold()
	ids := sessions(t, a, 12, 3)
	waitStarted(t, u.Hook, 8)
	a.Cfg.Extra = u.Extra(longLease + "\nconcurrency 4")
	reloaded := time.Now()
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // past the old config's grace, still held
	u.Talon.Release()
	u.Hook.Release()
	// Within 20s, well under the 60s lease: only handed-back leases make it.
	checkDelivered(t, u, ids, 3, 20*time.Second)
	took := time.Since(reloaded)
	n := checkSameEventIDs(t, u, ids)
	if res, body, err := a.Do("GET", "/page/3", nil, "Accept", "text/html"); err != nil {
		t.Errorf("a page after the reload: %v", err)
	} else if res.StatusCode != 200 || !bytes.Equal(body, f.Shop.Served(res.Header.Get("X-Shop-Serial"))) {
		t.Errorf("after the reload the page is %d, %d bytes, not the shop's: %.80q", res.StatusCode, len(body), body)
	}
	t.Logf("delivered everything %s after the reload (grace 1s, lease 60s); %d redeliveries, same event ids", took.Round(time.Millisecond), n)
}
