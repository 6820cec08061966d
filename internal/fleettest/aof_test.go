//go:build linux

package fleettest

import (
	"testing"
	"time"
)

// Redis with an append-only file fsynced on every write, killed -9 under
// load and started again from its file: every write a visitor was told
// was stored is there. (Without persistence everything goes: see
// TestChaosRedisRestartedEmptyEpochMovesOn.)
func TestChaosRedisKilledWithAOFKeepsAcknowledgedWrites(t *testing.T) {
	r := StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	shop := StartShop(t)
	n := StartNode(t, NodeConfig{Name: "a", Redis: r.Addr, Upstream: shop.HostPort(), Prefix: "fleettest:", Extra: cookieSecret})
	v := &visitors{last: map[string]written{}}
	stop := make(chan struct{})
	wg := v.run([]*Node{n}, 8, stop)
	time.Sleep(1500 * time.Millisecond)
	r.Kill()
	killed := time.Now()
	time.Sleep(500 * time.Millisecond)
	r.Start() // from the append-only file
	restarted := time.Now()
	if !Poll(15*time.Second, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.acks) > 0 && v.acks[len(v.acks)-1].After(restarted)
	}) {
		t.Error("no write acknowledged within 15s of Redis starting again")
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	v.mu.Lock()
	last := v.last
	v.mu.Unlock()
	lost := 0
	for id, w := range last {
		code, s := n.Session(t, id)
		if code == 200 && len(s.Cart.Items) == 1 && s.Cart.Items[0].Quantity >= w.q {
			continue
		}
		lost++
		if lost <= 5 {
			t.Errorf("session %s: write %d acknowledged %s before the kill is gone (%d, %+v)", id, w.q, killed.Sub(w.at).Round(time.Millisecond), code, s.Cart)
		}
	}
	t.Logf("appendfsync always, Redis killed -9 and started again after 500ms: %d writes acknowledged, %d failed; %d sessions, %d lost their last acknowledged write",
		v.acked.Load(), v.failures.Load(), len(last), lost)
}
