package twonode

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Redis stopped (SIGSTOP: connections held, nothing answered) for 10 s
// while visitors load pages through both nodes: every page arrives byte
// for byte, none waits much longer than the store's timeout (200ms); when
// Redis is back, sessions are stored and delivered again by themselves.
func TestRedisStoppedUnderLoad(t *testing.T) {
	f := newFleet(t, shortLease)
	a, b := startNode(t, "A", f.cfg), startNode(t, "B", f.cfg)
	stop := make(chan struct{})
	var pages, bad atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			v := newVisitor(t)
			node := []*node{a, b}[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				code, body := v.get(t, node, "/")
				d := time.Since(start)
				for m := slowest.Load(); int64(d) > m && !slowest.CompareAndSwap(m, int64(d)); m = slowest.Load() {
				}
				pages.Add(1)
				if code != 200 || body != string(f.page) {
					bad.Add(1)
				}
			}
		})
	}
	time.Sleep(time.Second)
	f.redis.pause(t)
	time.Sleep(10 * time.Second)
	f.redis.resume(t)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if bad.Load() > 0 {
		t.Errorf("%d of %d pages were not the shop's bytes with status 200", bad.Load(), pages.Load())
	}
	if d := time.Duration(slowest.Load()); d > time.Second {
		t.Errorf("the slowest page took %s with Redis stopped (store timeout 200ms)", d)
	}
	// Back: a new cart is stored, read through the other node, and
	// delivered.
	v := newVisitor(t)
	var s collected
	eventually(t, 10*time.Second, "collect works again", func() bool {
		code, out := v.collect(a, cart(1))
		if code == 200 {
			s = mustCollect(t, v, a, cart(2))
		}
		_ = out
		return code == 200
	})
	if code, _ := api(t, b, "GET", "/sessions/"+s.ID); code != 200 {
		t.Errorf("B cannot read the session stored after the outage: %d", code)
	}
	eventually(t, 10*time.Second, "the delivery after the outage", func() bool { return f.hook.last(s.ID) == s.Version })
	t.Logf("%d pages during the run, slowest %s", pages.Load(), time.Duration(slowest.Load()))
}
