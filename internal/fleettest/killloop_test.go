//go:build linux

package fleettest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Kill-loop sizes: enough kills during writes that some land between a
// write being stored and its deliveries being queued (which, before the
// write log, lost the last write's delivery in dozens of sessions), in
// well under a minute.
const (
	loopVersions = 3
	loopWriters  = 12
	loopKills    = 16
)

// kill -9 of the two nodes in turn, many times, while visitors write
// through both: every session's last stored write reaches both upstreams
// (the write log relays what a killed node stored and did not queue), and
// what each upstream got of a session never went back.
func TestChaosKillLoopLosesNoStoredWrite(t *testing.T) {
	u := StartUpstreams(t)
	f := StartFleet(t, 2, u.Deliver(shortLease))
	nodes := f.Nodes
	var down [2]atomic.Bool
	pick := func() *Node {
		switch {
		case down[0].Load():
			return nodes[1]
		case down[1].Load():
			return nodes[0]
		}
		return nodes[rand.IntN(2)]
	}
	// Each visitor writes loopVersions versions and leaves: a kill that
	// falls between storing a visitor's last write and queuing it leaves
	// no later write to carry that state.
	var mu sync.Mutex
	var ids []string
	var acked, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range loopWriters {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cookie := ""
				for v := 1; v <= loopVersions; v++ {
					c, s, err := collect(pick(), cookie, cart(v))
					if err != nil {
						failed.Add(1)
						break
					}
					acked.Add(1)
					if cookie == "" {
						mu.Lock()
						ids = append(ids, s.ID)
						mu.Unlock()
					}
					cookie = c
				}
			}
		})
	}
	start := time.Now()
	for k := range loopKills {
		time.Sleep(time.Duration(100+rand.IntN(200)) * time.Millisecond)
		j := k % 2
		down[j].Store(true)
		nodes[j].Kill()
		nodes[j].Start()
		down[j].Store(false)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d kills in %s: %d sessions, %d writes acknowledged, %d failed (requests to a dying node)",
		loopKills, time.Since(start).Round(time.Millisecond), len(ids), acked.Load(), failed.Load())

	stored := make([]uint64, len(ids))
	for i, id := range ids {
		code, s := nodes[i%2].Session(t, id)
		if code != 200 {
			t.Fatalf("session %s: %d", id, code)
		}
		stored[i] = s.Version
	}
	deadline := time.Now().Add(30 * time.Second)
	lost := 0
	for i, id := range ids {
		if !Poll(time.Until(deadline), func() bool { return u.Talon.Last(id) >= stored[i] && u.Hook.Last(id) >= stored[i] }) {
			lost++
			if lost <= 10 {
				t.Errorf("session %s: stored v%d, delivered talonone v%d, webhook v%d", id, stored[i], u.Talon.Last(id), u.Hook.Last(id))
			}
		}
	}
	for name, rc := range map[string]*Recorder{"talonone": u.Talon, "webhook": u.Hook} {
		for _, id := range ids {
			checkOrder(t, name, id, versions(rc.Of(id)))
		}
	}
	t.Logf("%d sessions: last stored write delivered to both upstreams in %d, lost in %d; %d writes relayed by the write log",
		len(ids), len(ids)-lost, lost, relayedCount(t, nodes))
	if lost > 0 {
		t.Errorf("%d of %d sessions' last stored write never reached both upstreams", lost, len(ids))
	}
}

// relayedCount sums the nodes' relayed_writes_total (since their last start).
func relayedCount(t *testing.T, nodes []*Node) int64 {
	var n int64
	for _, nd := range nodes {
		_, b, err := nd.do("http://"+nd.Admin, "GET", "/metrics", nil)
		if err != nil {
			t.Logf("metrics of %s: %v", nd.Name, err)
			continue
		}
		var v float64
		for _, line := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "caddy_sessiontap_relayed_writes_total %g", &v); err == nil {
				n += int64(v)
			}
		}
	}
	return n
}
