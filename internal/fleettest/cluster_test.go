//go:build linux

package fleettest

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A Redis Cluster primary killed -9 under load: its replica takes over
// its slots; the nodes follow by themselves, and so do the outbox and the
// write log, whose keys share each session's slot. The old primary is
// started again, empty, and rejoins as a replica. Reports what was
// acknowledged, stored, lost and delivered, and fails when writes stop for
// longer than the failover takes, when a write is lost that was
// acknowledged more than a second before the primary died (asynchronous
// replication may lose that last second: see the README), or when a
// session's stored write never reaches both upstreams.
func TestChaosClusterFailover(t *testing.T) {
	const nodeTimeout = time.Second
	u := StartUpstreams(t)
	cl := StartCluster(t, nodeTimeout)
	shop := StartShop(t)
	// Every visitor here comes from 127.0.0.1, one client, which a queue
	// lets hold a 16th of its room: room enough that the share is not
	// what this test measures (TestClusterClientShare does).
	extra := u.Extra(shortLease + "\nqueue_size 200000")
	var nodes []*Node
	for _, name := range []string{"a", "b"} {
		nodes = append(nodes, StartNode(t, NodeConfig{Name: name, Cluster: strings.Join(cl.Addrs(), " "),
			Upstream: shop.HostPort(), Prefix: "fleettest:", Timeout: "200ms", Extra: extra}))
	}
	v := &visitors{last: map[string]written{}}
	stop := make(chan struct{})
	wg := v.run(nodes, 8, stop)

	time.Sleep(2 * time.Second)
	victim := cl.Primaries()[0]
	victim.Kill()
	killed := time.Now()
	if !Poll(30*time.Second, func() bool { return len(cl.Primaries()) == 3 }) {
		close(stop)
		wg.Wait()
		t.Fatalf("no replica took over the killed primary's slots within 30s")
	}
	promoted := time.Since(killed)
	// Writes flowing again for 2 s.
	if !Poll(30*time.Second, v.flowing) {
		t.Errorf("writes did not flow again within 30s of the promotion")
	}
	healed := time.Since(killed)
	victim.Start() // empty; it rejoins as a replica of the promoted one
	restarted := time.Now()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	failedAfterRestart := v.failedAfter(restarted.Add(time.Second))
	sessions, lost, stored := v.checkLost(t, nodes[0], killed)
	undelivered := 0
	deadline := time.Now().Add(30 * time.Second)
	for id, sv := range stored {
		if !Poll(time.Until(deadline), func() bool { return u.Talon.Last(id) >= sv && u.Hook.Last(id) >= sv }) {
			undelivered++
			if undelivered <= 10 {
				t.Errorf("session %s: stored v%d, delivered talonone v%d, webhook v%d", id, sv, u.Talon.Last(id), u.Hook.Last(id))
			}
		}
	}
	for name, rc := range map[string]*Recorder{"talonone": u.Talon, "webhook": u.Hook} {
		for id := range stored {
			checkOrder(t, name, id, versions(rc.Of(id)))
		}
	}
	t.Logf("cluster primary killed: replica promoted after %s, writes flowing again after %s (longest gap %s); "+
		"%d writes acknowledged, %d failed; %d sessions, %d lost their last write (all acknowledged within 1s of the kill); "+
		"%d stored sessions' last write delivered to both upstreams, %d not; %d writes failed after the old primary rejoined",
		promoted.Round(time.Millisecond), healed.Round(time.Millisecond), v.outage(killed).Round(time.Millisecond),
		v.acked.Load(), v.failures.Load(), sessions, lost, len(stored)-undelivered, undelivered, failedAfterRestart)
	if g := v.outage(killed); g > nodeTimeout+10*time.Second {
		t.Errorf("no write acknowledged for %s after the kill", g)
	}
	if failedAfterRestart > 0 {
		t.Errorf("%d writes failed after the old primary rejoined", failedAfterRestart)
	}
	t.Logf("%d updates not queued (the primary of their slot was down), %d writes relayed by the write log",
		droppedCount(t, nodes), relayedCount(t, nodes))
}

var droppedLine = regexp.MustCompile(`(?m)^caddy_sessiontap_deliveries_total\{outcome="dropped",sink="[^"]+"\} (\S+)$`)

// droppedCount sums the nodes' dropped deliveries (since their last
// start): updates not queued, for a full queue, a client past its share,
// or Redis failing the enqueue.
func droppedCount(t *testing.T, nodes []*Node) int64 {
	var n int64
	for _, nd := range nodes {
		_, b, err := nd.do("http://"+nd.Admin, "GET", "/metrics", nil)
		if err != nil {
			t.Fatalf("metrics of %s: %v", nd.Name, err)
		}
		for _, m := range droppedLine.FindAllSubmatch(b, -1) {
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			n += int64(v)
		}
	}
	return n
}

// A replica of a Redis Cluster killed: writes and deliveries go on at
// once. A replica down must not stop the shards whose primaries are up:
// with rueidis's ExecMulti, which loads the script on every node first,
// every claim failed until the dead replica left the topology (8 s here).
func TestChaosClusterReplicaDownDeliveriesGoOn(t *testing.T) {
	u := StartUpstreams(t)
	cl := StartCluster(t, 5*time.Second) // the dead replica stays in the topology a while
	n := StartNode(t, NodeConfig{Name: "a", Cluster: strings.Join(cl.Addrs(), " "), Upstream: StartShop(t).HostPort(),
		Prefix: "fleettest:", Timeout: "200ms", Extra: u.Extra(shortLease)})
	for _, r := range cl.Servers {
		if infoField(r, "replication", "role") == "slave" {
			r.Kill()
			break
		}
	}
	var ids []string
	for range 50 {
		_, s, err := collect(n, "", cart(1))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	start := time.Now()
	deadline := start.Add(3 * time.Second)
	for _, id := range ids {
		if !Poll(time.Until(deadline), func() bool { return u.Talon.Last(id) >= 1 && u.Hook.Last(id) >= 1 }) {
			t.Fatalf("session %s not delivered within 3s of being written with a replica down: talonone v%d, webhook v%d",
				id, u.Talon.Last(id), u.Hook.Last(id))
		}
	}
	t.Logf("a replica down: 50 sessions written and delivered to both upstreams within %s", time.Since(start).Round(time.Millisecond))
}
