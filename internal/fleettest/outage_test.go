//go:build linux

package fleettest

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	outage     = 10 * time.Second
	maxLatency = time.Second // what a visitor may wait for a page, Redis or not
)

// loadStats is what the load loop saw.
type loadStats struct {
	mu         sync.Mutex
	requests   int
	failures   []string
	maxLatency time.Duration
	maxDuring  time.Duration // while Redis was stopped
	slow       int           // over maxLatency
	slowOnes   []string      // the first of them
	pausedAt   time.Time
	up, down   []time.Duration // every latency, Redis answering or not
}

// pct is the p-th percentile of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[min(len(s)-1, len(s)*p/100)].Round(100 * time.Microsecond)
}

func (l *loadStats) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures = append(l.failures, fmt.Sprintf(format, args...))
}

// pageLoad GETs product pages through node n until stop is closed, as
// returning visitors (cookies) and new ones in turn, and checks every page
// is the shop's, byte for byte, in time.
func pageLoad(shop *Shop, n *Node, cookies []string, stop <-chan struct{}, down *atomic.Bool, l *loadStats) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		hdr := []string{"Accept", "text/html"}
		if i%2 == 0 {
			hdr = append(hdr, "Cookie", CookieHeader(cookies[i/2%len(cookies)]))
		}
		path := "/page/" + strconv.Itoa(100+i%50)
		during := down.Load()
		start := time.Now()
		res, body, err := n.Do("GET", path, nil, hdr...)
		took := time.Since(start)
		l.mu.Lock()
		l.requests++
		l.maxLatency = max(l.maxLatency, took)
		if during {
			l.maxDuring = max(l.maxDuring, took)
			l.down = append(l.down, took)
		} else {
			l.up = append(l.up, took)
		}
		if took > maxLatency {
			l.slow++
			if len(l.slowOnes) < 10 {
				l.slowOnes = append(l.slowOnes, fmt.Sprintf("node %s: GET %s (%s) took %s, sent %s after SIGSTOP",
					n.Name, path, map[bool]string{true: "returning", false: "new"}[i%2 == 0], took.Round(time.Millisecond),
					start.Sub(l.pausedAt).Round(time.Millisecond)))
			}
		}
		l.mu.Unlock()
		switch {
		case err != nil:
			l.fail("node %s: GET %s after %s: %v", n.Name, path, took, err)
		case res.StatusCode != 200:
			l.fail("node %s: GET %s: %d after %s: %.200s", n.Name, path, res.StatusCode, took, body)
		case !bytes.Equal(body, shop.Served(res.Header.Get("X-Shop-Serial"))):
			l.fail("node %s: GET %s: %d bytes, not the %d the shop sent (serial %q)", n.Name, path,
				len(body), len(shop.Served(res.Header.Get("X-Shop-Serial"))), res.Header.Get("X-Shop-Serial"))
		}
	}
}

// While Redis answers nothing for 10 s (SIGSTOP), pages keep flowing
// through both nodes unchanged and in time: the session store is not on the
// page's critical path. Once Redis is back, sessions are stored again, read
// through the other node, and delivered to both upstreams, by themselves.
func TestFleetRedisStoppedPagesFlow(t *testing.T) {
	u := StartUpstreams(t)
	f := StartFleet(t, 2, u.Deliver(shortLease))
	// Returning visitors, with sessions stored while Redis is up.
	var cookies []string
	for i, n := range f.Nodes {
		for j := range 4 {
			res, _, err := n.Do("GET", "/page/"+strconv.Itoa(10*i+j), nil, "Accept", "text/html")
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("warm-up page: %v %v", res, err)
			}
			cookies = append(cookies, SessionCookie(res))
		}
	}

	var l loadStats
	var down atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range f.Nodes {
		for range 2 {
			wg.Go(func() { pageLoad(f.Shop, n, cookies, stop, &down, &l) })
		}
	}
	resumed := false
	resume := func() {
		if !resumed {
			f.Redis.Resume()
			down.Store(false)
			resumed = true
		}
	}
	defer resume()

	time.Sleep(time.Second)
	l.mu.Lock()
	before := l.requests
	l.pausedAt = time.Now()
	l.mu.Unlock()
	down.Store(true)
	f.Redis.Pause()
	t.Logf("redis-server stopped (SIGSTOP) after %d requests", before)
	time.Sleep(outage)
	resume()
	t.Log("redis-server continued (SIGCONT)")
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	t.Logf("%d page requests, max latency %s (%s while Redis was stopped), %d over %s; "+
		"p50/p99 %s/%s with Redis, %s/%s without", l.requests, l.maxLatency.Round(time.Millisecond),
		l.maxDuring.Round(time.Millisecond), l.slow, maxLatency, pct(l.up, 50), pct(l.up, 99), pct(l.down, 50), pct(l.down, 99))
	if len(l.failures) > 0 {
		t.Errorf("%d of %d pages failed, first ones:\n%s", len(l.failures), l.requests,
			strings.Join(l.failures[:min(10, len(l.failures))], "\n"))
	}
	if l.maxLatency > maxLatency {
		t.Errorf("%d pages took longer than %s, the slowest %s:\n%s", l.slow, maxLatency, l.maxLatency.Round(time.Millisecond),
			strings.Join(l.slowOnes, "\n"))
	}
	if l.requests-before < 40 {
		t.Errorf("only %d pages during and after the outage: the load loop stalled", l.requests-before)
	}

	// Back: a new visitor's page on one node is a session with its cart on
	// the other, and a new visitor's collect is stored and delivered, on
	// each node. Bounded: reconnecting.
	start := time.Now()
	for i, n := range f.Nodes {
		other := f.Nodes[1-i]
		ok := Poll(10*time.Second, func() bool {
			res, _, err := n.Do("GET", "/page/777", nil, "Accept", "text/html")
			if err != nil || res.StatusCode != 200 {
				return false
			}
			id, _, _ := strings.Cut(SessionCookie(res), ".")
			return Poll(time.Second, func() bool {
				code, s := other.Session(t, id)
				return code == 200 && len(s.Cart.Items) == 1 && s.Cart.Items[0].ProductID == "777"
			})
		})
		if !ok {
			t.Errorf("node %s after Redis came back: no page's session stored within 10s", n.Name)
		}
		_, s, err := collect(n, "", cart(1))
		if err != nil {
			t.Errorf("node %s after Redis came back: %v", n.Name, err)
			continue
		}
		if code, got := other.Session(t, s.ID); code != 200 || got.Version != 1 {
			t.Errorf("node %s's collect after Redis came back: node %s reads %d, version %d; want 200, 1", n.Name, other.Name, code, got.Version)
		}
		if !Poll(10*time.Second, func() bool { return u.Talon.Last(s.ID) == 1 && u.Hook.Last(s.ID) == 1 }) {
			t.Errorf("node %s's collect after Redis came back: not delivered within 10s (talonone %v, webhook %v)",
				n.Name, versions(u.Talon.Of(s.ID)), versions(u.Hook.Of(s.ID)))
		}
	}
	t.Logf("sessions stored again %s after SIGCONT+1s", time.Since(start).Round(time.Millisecond))
}
