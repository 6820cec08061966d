package twonode

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// 1000 concurrent cart updates to one session, half through each node:
// no write is lost (the versions the nodes answered are exactly 1..1000),
// and both upstreams end with the last one.
func TestConcurrentUpdatesOneSession(t *testing.T) {
	f := newFleet(t, shortLease)
	a, b := startNode(t, "A", f.cfg), startNode(t, "B", f.cfg)
	v := newVisitor(t)
	first := mustCollect(t, v, a, cart(1))
	const n = 1000
	got := make([]uint64, 0, n)
	var mu sync.Mutex
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := 2; i <= n; i++ {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			node := a
			if i%2 == 0 {
				node = b
			}
			c := mustCollect(t, v, node, cart(i))
			if c.ID != first.ID {
				t.Errorf("update %d went to session %s, not %s", i, c.ID, first.ID)
			}
			mu.Lock()
			got = append(got, c.Version)
			mu.Unlock()
		})
	}
	wg.Wait()
	got = append(got, first.Version)
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	seen := map[uint64]int{}
	for _, ver := range got {
		seen[ver]++
	}
	var missing, doubled []uint64
	for ver := uint64(1); ver <= n; ver++ {
		if seen[ver] == 0 {
			missing = append(missing, ver)
		}
		if seen[ver] > 1 {
			doubled = append(doubled, ver)
		}
	}
	if len(missing) > 0 || len(doubled) > 0 || len(got) != n {
		t.Fatalf("%d answers; versions missing %v, answered twice %v (lost or doubled writes)", len(got), missing, doubled)
	}
	for _, node := range []*node{a, b} {
		code, body := api(t, node, "GET", "/sessions/"+first.ID)
		var s collected
		json.Unmarshal([]byte(body), &s)
		if code != 200 || s.Version != n {
			t.Errorf("%s reads version %d (%d), want %d", node.name, s.Version, code, n)
		}
	}
	// The last stored cart is whichever update won the last write: read
	// it, and wait for both upstreams to have it.
	_, body := api(t, a, "GET", "/sessions/"+first.ID)
	var s struct {
		Cart struct {
			Items []struct {
				Quantity uint64 `json:"quantity"`
			} `json:"items"`
		} `json:"cart"`
	}
	json.Unmarshal([]byte(body), &s)
	final := s.Cart.Items[0].Quantity
	eventually(t, 20*time.Second, "the last cart at Talon.One", func() bool {
		as := f.talon.of(first.ID)
		return len(as) > 0 && as[len(as)-1].version == final
	})
	eventually(t, 20*time.Second, "the last version at the webhook", func() bool { return f.hook.last(first.ID) == n })
	if o := f.hook.overlapping(); len(o) > 0 {
		t.Errorf("two webhook requests for one session at once")
	}
	if hv := versions(f.hook.of(first.ID)); !sort.SliceIsSorted(hv, func(i, j int) bool { return hv[i] < hv[j] }) {
		t.Errorf("webhook versions out of order: %v", hv)
	}
	t.Logf("1000 updates, versions 1..1000; the webhook got %d of them (the rest coalesced)", len(f.hook.of(first.ID)))
}

// A session written through A is read through B; a GDPR delete through B
// is a 404 through A at once, and no delivery of it starts after the
// delete answered. Customer takeout and delete through B find what A wrote.
func TestGDPRAcrossNodes(t *testing.T) {
	f := newFleet(t, shortLease)
	a, b := startNode(t, "A", f.cfg), startNode(t, "B", f.cfg)
	v := newVisitor(t)
	s := mustCollect(t, v, a, cart(1))
	if code, body := api(t, b, "GET", "/sessions/"+s.ID); code != 200 || !strings.Contains(body, `"quantity":1`) {
		t.Fatalf("B reads A's session: %d %s", code, body)
	}
	f.hook.hold()
	f.talon.hold()
	mustCollect(t, v, a, cart(2))
	// Version 2 in flight at both (version 1 went through before the hold).
	waitStarted(t, f.hook, 2)
	waitStarted(t, f.talon, 2)
	mustCollect(t, v, a, cart(3)) // waits behind it
	if code, _ := api(t, b, "DELETE", "/sessions/"+s.ID); code != 204 {
		t.Fatalf("DELETE through B: %d", code)
	}
	deleted := time.Now()
	if code, _ := api(t, a, "GET", "/sessions/"+s.ID); code != 404 {
		t.Errorf("A still has the session B deleted: %d", code)
	}
	f.hook.release()
	f.talon.release()
	time.Sleep(1500 * time.Millisecond) // a poll interval many times over
	for name, rc := range map[string]*recorder{"webhook": f.hook, "talonone": f.talon} {
		for _, ar := range rc.of(s.ID) {
			if ar.at.After(deleted) {
				t.Errorf("%s: a delivery of the deleted session (v%d) started %s after the delete", name, ar.version, ar.at.Sub(deleted))
			}
		}
	}

	// Two sessions of one customer, written through A; takeout and delete
	// through B.
	ref := fmt.Sprintf("cust-%d", time.Now().UnixNano())
	var mine []string
	for range 2 {
		c := mustCollect(t, newVisitor(t), a, `{"customer":{"customer_reference":"`+ref+`"},`+cart(1)[1:])
		mine = append(mine, c.ID)
	}
	code, body := api(t, b, "GET", "/customers/"+ref+"/sessions")
	for _, id := range mine {
		if code != 200 || !strings.Contains(body, id) {
			t.Errorf("takeout through B misses %s: %d %s", id, code, body)
		}
	}
	if code, body := api(t, b, "DELETE", "/customers/"+ref+"/sessions"); code != 200 || !strings.Contains(body, `"deleted":2`) {
		t.Errorf("customer delete through B: %d %s", code, body)
	}
	for _, id := range mine {
		if code, _ := api(t, a, "GET", "/sessions/"+id); code != 404 {
			t.Errorf("A still has %s after the customer delete: %d", id, code)
		}
	}
}
