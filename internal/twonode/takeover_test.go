package twonode

import (
	"testing"
	"time"
)

// kill -9 of a node holding deliveries in flight: the other node delivers
// them once the lease runs out, in order, with the same event ids, and
// every session's final version reaches both upstreams.
func TestKillNineTakeover(t *testing.T) {
	f := newFleet(t, shortLease)
	a := startNode(t, "A", f.cfg)
	f.talon.hold()
	f.hook.hold()
	// Six sessions whose one version is in flight when A dies (so it is
	// delivered again), then six with three versions, the later ones
	// waiting behind the first (so the takeover delivers the newest).
	single := sessions(t, a, 6, 1)
	waitStarted(t, f.hook, 6)
	multi := sessions(t, a, 6, 3)
	waitStarted(t, f.hook, 2) // A's concurrency: 8 in flight per sink
	a.kill()
	killed := time.Now()
	b := startNode(t, "B", f.cfg)
	f.talon.release()
	f.hook.release()
	f.checkDelivered(t, single, 1, 15*time.Second)
	f.checkDelivered(t, multi, 3, 15*time.Second)
	ids := append(single, multi...)
	took := time.Since(killed)
	if took > 3*time.Second+5*time.Second {
		t.Errorf("took %s after the kill; the lease is 3s", took)
	}
	n := f.checkSameEventIDs(t, ids)
	if n == 0 {
		t.Error("nothing was redelivered: the kill did not catch deliveries in flight")
	}
	t.Logf("B delivered everything %s after A's kill -9 (lease 3s); %d redeliveries, same event ids", took, n)
	_ = b
}

// SIGTERM gives attempts in flight the grace, then hands their leases
// back: the other node goes on at once, long before the lease would run
// out, and nothing is lost.
func TestSIGTERMHandsLeasesBack(t *testing.T) {
	f := newFleet(t, `			timeout 20s
			lease 60s
			grace 1s
			max_attempts 100
			max_backoff 200ms`)
	a := startNode(t, "A", f.cfg)
	f.talon.hold()
	f.hook.hold()
	ids := sessions(t, a, 12, 3)
	waitStarted(t, f.hook, 8)
	stopped := time.Now()
	a.terminate(15 * time.Second)
	exited := time.Since(stopped)
	startNode(t, "B", f.cfg)
	f.talon.release()
	f.hook.release()
	took := f.checkDelivered(t, ids, 3, 20*time.Second)
	if total := time.Since(stopped); total > 20*time.Second {
		t.Errorf("everything delivered %s after SIGTERM: waited for the 60s lease?", total)
	}
	t.Logf("A exited %s after SIGTERM (grace 1s); B then delivered everything in %s (lease 60s)", exited, took)
}

// caddy reload to another delivery config: the new outbox goes on with
// what is queued, and the old one hands back what it held after its grace.
func TestReloadMovesOn(t *testing.T) {
	f := newFleet(t, `			timeout 20s
			lease 60s
			grace 1s
			max_attempts 100
			max_backoff 200ms`)
	a := startNode(t, "A", f.cfg)
	f.talon.hold()
	f.hook.hold()
	ids := sessions(t, a, 12, 3)
	waitStarted(t, f.hook, 8)
	next := f.cfg
	next.delivery += "\n\t\t\tconcurrency 4"
	reloaded := time.Now()
	a.reload(next)
	time.Sleep(2 * time.Second) // past the old config's grace, still held
	f.talon.release()
	f.hook.release()
	f.checkDelivered(t, ids, 3, 20*time.Second)
	if took := time.Since(reloaded); took > 20*time.Second {
		t.Errorf("delivered %s after the reload: waited for the 60s lease?", took)
	}
	res, body := newVisitor(t).get(t, a, "/")
	if res != 200 || body != string(f.page) {
		t.Errorf("after the reload the shop's page is %d %q", res, body[:min(len(body), 80)])
	}
}
