//go:build linux

package fleettest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Delivery settings. shortLease: a takeover after a kill -9 is quick, and
// the grace is shorter than the lease, so that handing back is seen.
// longLease: far longer than the tests wait, so that what is delivered in
// time was handed back, not taken over when the lease ran out.
const (
	shortLease = "timeout 2s\nlease 3s\ngrace 1s\nmax_attempts 100\nmax_backoff 200ms"
	longLease  = "timeout 20s\nlease 60s\ngrace 1s\nmax_attempts 100\nmax_backoff 200ms"
)

// cart is a collect body whose cart holds q of product "p": tests make q
// the session's version, so that what Talon.One gets shows the order too.
func cart(q int) string {
	return fmt.Sprintf(`{"cart":{"items":[{"product_id":"p","quantity":%d,"unit_price":1}]}}`, q)
}

// collect posts body to the node's collect endpoint as the visitor with
// that cookie ("" for a new one) and returns the cookie and the session's
// id (the cookie's) and version (all collect answers). It does not fail
// the test (safe in goroutines).
func collect(n *Node, cookie, body string) (string, Session, error) {
	hdr := []string{"Content-Type", "application/json"}
	if cookie != "" {
		hdr = append(hdr, "Cookie", CookieHeader(cookie))
	}
	var s Session
	res, b, err := n.Do("POST", Collect, []byte(body), hdr...)
	if err != nil {
		return "", s, fmt.Errorf("node %s: collect: %w", n.Name, err)
	}
	if res.StatusCode != 200 {
		return "", s, fmt.Errorf("node %s: collect: %d %s", n.Name, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, &s); err != nil || s.ID != "" {
		return "", s, fmt.Errorf("node %s: collect answered more than a version: %v: %s", n.Name, err, b)
	}
	if set := SessionCookie(res); set != "" {
		cookie = set
	}
	s.ID, _, _ = strings.Cut(cookie, ".")
	return cookie, s, nil
}

// sessions makes count visitors at once, each writing versions
// 1..versions of its cart (cart(v)) through n, and returns their ids.
func sessions(t *testing.T, n *Node, count, versions int) []string {
	t.Helper()
	ids := make([]string, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			cookie := ""
			for v := 1; v <= versions; v++ {
				c, s, err := collect(n, cookie, cart(v))
				if err == nil && s.Version != uint64(v) {
					err = fmt.Errorf("node %s: write %d of session %s answered version %d", n.Name, v, s.ID, s.Version)
				}
				if err != nil {
					t.Error(err)
					return
				}
				cookie, ids[i] = c, s.ID
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// waitStarted waits until n more requests have arrived at rc.
func waitStarted(t *testing.T, rc *Recorder, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-rc.Started:
		case <-timeout:
			t.Fatalf("%d of %d deliveries started within 10s", i, n)
		}
	}
}

// checkDelivered waits until both upstreams have every session's final
// version, then checks that each got its versions in non-decreasing order
// (a redelivery repeats one) and never two requests for one session at
// once. It returns how long the wait was.
func checkDelivered(t *testing.T, u *Upstreams, ids []string, final uint64, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for _, id := range ids {
		if !Poll(within-time.Since(start), func() bool { return u.Talon.Last(id) == final && u.Hook.Last(id) == final }) {
			t.Fatalf("session %s not at its final version %d at both upstreams within %s: talonone %v, webhook %v",
				id, final, within, versions(u.Talon.Of(id)), versions(u.Hook.Of(id)))
		}
	}
	took := time.Since(start)
	for name, rc := range map[string]*Recorder{"talonone": u.Talon, "webhook": u.Hook} {
		if o := rc.Overlaps(); len(o) > 0 {
			t.Errorf("%s: two requests for one session at once: %v", name, o)
		}
		for _, id := range ids {
			checkOrder(t, name, id, versions(rc.Of(id)))
		}
	}
	return took
}

// checkOrder fails the test when the versions an upstream got went back.
func checkOrder(t *testing.T, name, id string, vs []uint64) {
	t.Helper()
	for i := 1; i < len(vs); i++ {
		if vs[i] < vs[i-1] {
			t.Errorf("%s: session %s's versions went back at arrival %d: %v", name, id, i, vs[max(0, i-10):min(len(vs), i+10)])
			return
		}
	}
}

func versions(as []Arrival) []uint64 {
	vs := make([]uint64, 0, len(as))
	for _, a := range as {
		vs = append(vs, a.Version)
	}
	return vs
}

// checkSameEventIDs checks that every webhook redelivery of a version
// carried the first attempt's event id, and counts the redeliveries.
func checkSameEventIDs(t *testing.T, u *Upstreams, ids []string) (redelivered int) {
	t.Helper()
	for _, id := range ids {
		first := map[uint64]string{}
		for _, a := range u.Hook.Of(id) {
			if e, ok := first[a.Version]; ok {
				redelivered++
				if e != a.EventID {
					t.Errorf("session %s v%d redelivered with event id %s, first %s", id, a.Version, a.EventID, e)
				}
			} else {
				first[a.Version] = a.EventID
			}
		}
	}
	return redelivered
}
