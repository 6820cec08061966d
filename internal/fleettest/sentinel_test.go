//go:build linux

package fleettest

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// written is what a visitor was told of its session's last write.
type written struct {
	id  string
	q   int // the cart quantity written (the visitor's write number)
	at  time.Time
	vis int // the visitor
}

// visitors write through the nodes until stop: each visitor writes
// loopVersions carts to a new session, then leaves for another. It
// returns what each session was last told, and when writes failed.
type visitors struct {
	mu       sync.Mutex
	last     map[string]written
	fails    []time.Time
	acks     []time.Time
	acked    atomic.Int64
	failures atomic.Int64
}

func (v *visitors) run(nodes []*Node, n int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for k := 0; ; k++ {
				cookie, id := "", ""
				for q := 1; q <= loopVersions; q++ {
					select {
					case <-stop:
						return
					default:
					}
					c, s, err := collect(nodes[(w+q)%len(nodes)], cookie, cart(q))
					now := time.Now()
					v.mu.Lock()
					if err != nil {
						v.fails = append(v.fails, now)
						v.mu.Unlock()
						v.failures.Add(1)
						time.Sleep(20 * time.Millisecond)
						break // a new visitor: this one's state is uncertain
					}
					if cookie == "" {
						id = s.ID
					}
					cookie = c
					v.last[id] = written{id: id, q: q, at: now, vis: w}
					v.acks = append(v.acks, now)
					v.mu.Unlock()
					v.acked.Add(1)
				}
			}
		})
	}
	return &wg
}

// flowing: a write was acknowledged within 100 ms, and none failed for
// 2 s.
func (v *visitors) flowing() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.acks) > 0 && time.Since(v.acks[len(v.acks)-1]) < 100*time.Millisecond &&
		(len(v.fails) == 0 || time.Since(v.fails[len(v.fails)-1]) > 2*time.Second)
}

// failedAfter counts the writes that failed after at.
func (v *visitors) failedAfter(at time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, f := range v.fails {
		if f.After(at) {
			n++
		}
	}
	return n
}

// checkLost reads each session back from node after a primary was killed:
// it counts the sessions that lost their last acknowledged write, fails
// the test for one acknowledged more than a second before the kill
// (asynchronous replication may lose that last second), and returns how
// many sessions there were and each readable one's stored version.
func (v *visitors) checkLost(t *testing.T, node *Node, killed time.Time) (sessions, lost int, stored map[string]uint64) {
	t.Helper()
	v.mu.Lock()
	last := maps.Clone(v.last)
	v.mu.Unlock()
	stored = map[string]uint64{}
	for id, w := range last {
		code, s := node.Session(t, id)
		if code == 200 {
			stored[id] = s.Version
		}
		if code == 200 && len(s.Cart.Items) == 1 && s.Cart.Items[0].Quantity >= w.q {
			continue
		}
		lost++
		if w.at.Before(killed.Add(-time.Second)) {
			t.Errorf("session %s: write %d acknowledged %s before the kill is gone (%d, %+v)",
				id, w.q, killed.Sub(w.at).Round(time.Millisecond), code, s.Cart)
		}
	}
	return len(last), lost, stored
}

// outage is the longest time after from without an acknowledged write.
func (v *visitors) outage(from time.Time) time.Duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	acks := slices.Clone(v.acks)
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	longest, prev := time.Duration(0), from
	for _, a := range acks {
		if a.Before(from) {
			continue
		}
		longest, prev = max(longest, a.Sub(prev)), a
	}
	return longest
}

// A Sentinel failover under load: the primary killed -9, the replica
// promoted by the sentinels; the nodes follow the promotion by
// themselves. Then the old primary is started again, empty, as an
// operator would: the nodes never write to it. Reports what was
// acknowledged, stored and lost, and fails when writes stop for longer
// than the failover takes or when a write is lost that was acknowledged
// more than a second before the primary died (asynchronous replication
// may lose that last second: see the README).
func TestChaosSentinelFailover(t *testing.T) {
	const down = time.Second
	set := StartSentinels(t, down)
	shop := StartShop(t)
	var nodes []*Node
	for _, name := range []string{"a", "b"} {
		nodes = append(nodes, StartNode(t, NodeConfig{Name: name, Sentinels: strings.Join(set.Addrs, " "),
			Upstream: shop.HostPort(), Prefix: "fleettest:", Timeout: "200ms"}))
	}
	v := &visitors{last: map[string]written{}}
	stop := make(chan struct{})
	wg := v.run(nodes, 8, stop)

	time.Sleep(2 * time.Second)
	old := set.Primary.Addr
	set.Primary.Kill()
	killed := time.Now()
	if !Poll(30*time.Second, func() bool { a := set.PrimaryAddr(); return a != "" && a != old }) {
		close(stop)
		wg.Wait()
		t.Fatalf("the sentinels did not promote the replica within 30s")
	}
	promoted := time.Since(killed)
	// Writes flowing again for 2 s.
	if !Poll(30*time.Second, v.flowing) {
		t.Errorf("writes did not flow again within 30s of the promotion")
	}
	healed := time.Since(killed)
	set.Primary.Start() // empty, and a primary by its own config
	restarted := time.Now()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	failedAfterRestart := v.failedAfter(restarted.Add(time.Second))
	sessions, lost, _ := v.checkLost(t, nodes[0], killed)
	t.Logf("primary killed: promoted after %s, writes flowing again after %s (longest gap %s); "+
		"%d writes acknowledged, %d failed; %d sessions, %d lost their last write (all acknowledged within 1s of the kill); "+
		"%d writes failed after the old primary came back empty",
		promoted.Round(time.Millisecond), healed.Round(time.Millisecond), v.outage(killed).Round(time.Millisecond),
		v.acked.Load(), v.failures.Load(), sessions, lost, failedAfterRestart)
	if g := v.outage(killed); g > down+10*time.Second {
		t.Errorf("no write acknowledged for %s after the kill", g)
	}
	if failedAfterRestart > 0 {
		t.Errorf("%d writes failed after the old primary came back empty: the nodes wrote to it", failedAfterRestart)
	}
}
