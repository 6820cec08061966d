//go:build linux

package fleettest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// updates cart updates go to one session, half through each node, from
// workers at once: enough to keep both nodes' compare-and-sets colliding,
// and done in a few seconds on two cores.
const (
	updates = 1000
	workers = 16
)

// fanOut runs do(i) for i in [0, n) on workers goroutines and returns the
// errors, in no order.
func fanOut(n int, do func(i int) error) []error {
	jobs := make(chan int)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				if err := do(i); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("update %d: %w", i, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return errs
}

func reportErrs(t *testing.T, errs []error) {
	t.Helper()
	if len(errs) == 0 {
		return
	}
	msgs := make([]string, 0, 10)
	for _, err := range errs[:min(10, len(errs))] {
		msgs = append(msgs, err.Error())
	}
	t.Errorf("%d of %d updates failed, first ones:\n%s", len(errs), updates, strings.Join(msgs, "\n"))
}

// scriptCalls is how many Lua scripts the server has run: one per
// compare-and-set, won or lost.
func scriptCalls(t *testing.T, r *Redis) int64 {
	t.Helper()
	var sum int64
	for _, name := range []string{"cmdstat_evalsha", "cmdstat_eval"} {
		n, err := r.Stat("commandstats", name, "calls")
		if err != nil {
			t.Fatal(err)
		}
		sum += n
	}
	return sum
}

// noErrorLogs fails the test for every error a node logged.
func noErrorLogs(t *testing.T, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		var bad []string
		for line := range strings.Lines(n.Log()) {
			if strings.Contains(line, `"level":"error"`) {
				bad = append(bad, line)
			}
		}
		if len(bad) > 0 {
			t.Errorf("node %s logged %d errors, first: %s", n.Name, len(bad), bad[0])
		}
	}
}

// Every one of 1000 concurrent collects through two nodes is a write of its
// own: the answers' versions are exactly the 1000 after the first page's,
// once each (two answers with one version would be one write lost), and the
// session ends at the last of them with that update's cart, on both nodes.
// Both nodes deliver it: Talon.One and the webhook get its versions in
// non-decreasing order (coalesced, never two at once), ending with the last.
func TestFleetConcurrentCollect(t *testing.T) {
	u := StartUpstreams(t)
	f := StartFleet(t, 2, u.Deliver(shortLease))
	a := f.Nodes[0]

	// The first page view creates the session: capture and visit in one write.
	res, _, err := a.Do("GET", "/page/7", nil, "Accept", "text/html")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("first page: %v %v", res, err)
	}
	cookie := SessionCookie(res)
	id, _, _ := strings.Cut(cookie, ".")
	var first Session
	if !Poll(5*time.Second, func() bool { code, s := a.Session(t, id); first = s; return code == 200 }) {
		t.Fatal("the first page view stored no session")
	}
	if first.Version != 1 || len(first.Cart.Items) != 1 || first.Enrichment.PageViews != 1 {
		t.Fatalf("after the first page: version %d, %d cart lines, %d page views; want 1, 1, 1",
			first.Version, len(first.Cart.Items), first.Enrichment.PageViews)
	}

	// Update i's cart is i+2 of product "p": its own, and what Talon.One
	// records of it (the first page's cart has no "p": 0).
	cartOf := func(i int) Item {
		return Item{ProductID: "p", Quantity: i + 2, UnitPrice: json.Number("2.5")}
	}
	versions := make([]uint64, updates)
	scripts := scriptCalls(t, f.Redis)
	start := time.Now()
	errs := fanOut(updates, func(i int) error {
		it := cartOf(i)
		body := fmt.Sprintf(`{"cart":{"items":[{"product_id":%q,"quantity":%d,"unit_price":%s}]}}`, it.ProductID, it.Quantity, it.UnitPrice)
		res, b, err := f.Nodes[i%2].Do("POST", Collect, []byte(body), "Cookie", CookieHeader(cookie), "Content-Type", "application/json")
		if err != nil {
			return err
		}
		if res.StatusCode != 200 {
			return fmt.Errorf("node %s: %d %s", f.Nodes[i%2].Name, res.StatusCode, b)
		}
		// Node a signed the cookie: node b must verify it with the key
		// the store keeps for the fleet, not start a session of its own.
		if set := SessionCookie(res); set != "" {
			return fmt.Errorf("node %s did not take the cookie node a issued: it set %q", f.Nodes[i%2].Name, set)
		}
		var got Session
		if err := json.Unmarshal(b, &got); err != nil {
			return err
		}
		versions[i] = got.Version
		return nil
	})
	t.Logf("%d collects through 2 nodes, %d at a time: %s, %d Lua scripts more than one a write "+
		"(compare-and-sets lost to the other node and retried, and the outbox's)",
		updates, workers, time.Since(start).Round(time.Millisecond), scriptCalls(t, f.Redis)-scripts-updates)
	reportErrs(t, errs)

	// The versions answered are a permutation of 2..1001.
	last := slices.Index(versions, slices.Max(versions))
	sorted := slices.Sorted(slices.Values(versions))
	var dup, gaps []uint64
	for i, v := range sorted {
		if i > 0 && v == sorted[i-1] {
			dup = append(dup, v)
		}
	}
	for v := first.Version + 1; v <= first.Version+updates; v++ {
		if _, found := slices.BinarySearch(sorted, v); !found {
			gaps = append(gaps, v)
		}
	}
	if len(dup) > 0 || len(gaps) > 0 {
		t.Errorf("answered versions: %d given twice (lost writes) %v, %d never given %v",
			len(dup), dup[:min(10, len(dup))], len(gaps), gaps[:min(10, len(gaps))])
	}
	want := first.Version + updates
	for _, n := range f.Nodes {
		code, s := n.Session(t, id)
		if code != 200 || s.Version != want {
			t.Errorf("node %s: %d, version %d; want 200, version %d", n.Name, code, s.Version, want)
		}
		if len(s.Cart.Items) != 1 || s.Cart.Items[0] != cartOf(last) {
			t.Errorf("node %s: cart %+v; want the last write's (update %d, version %d) %+v",
				n.Name, s.Cart.Items, last, versions[last], cartOf(last))
		}
	}
	checkConcurrentDelivery(t, u, id, first.Version, versions)
	noErrorLogs(t, f.Nodes...)
}

// checkConcurrentDelivery waits for the session's last version at both
// upstreams and checks the order they got its versions in. answered[i] is
// the version update i (quantity i+2) was answered; firstVersion the page's.
func checkConcurrentDelivery(t *testing.T, u *Upstreams, id string, firstVersion uint64, answered []uint64) {
	t.Helper()
	want := slices.Max(answered)
	versionOf := map[uint64]uint64{0: firstVersion} // Talon.One's quantity of "p" -> the version
	for i, v := range answered {
		versionOf[uint64(i+2)] = v
	}
	talon := func() []uint64 {
		var vs []uint64
		for _, a := range u.Talon.Of(id) {
			v, ok := versionOf[a.Version]
			if !ok {
				t.Fatalf("Talon.One got a cart of %d of product p, which no update wrote", a.Version)
			}
			vs = append(vs, v)
		}
		return vs
	}
	start := time.Now()
	if !Poll(20*time.Second, func() bool { vs := talon(); return u.Hook.Last(id) == want && len(vs) > 0 && slices.Max(vs) == want }) {
		tv := talon()
		t.Fatalf("version %d not at both upstreams within 20s: talonone's last %v, webhook's last %d", want, tv[max(0, len(tv)-3):], u.Hook.Last(id))
	}
	tv, hv := talon(), versions(u.Hook.Of(id))
	checkOrder(t, "talonone", id, tv)
	checkOrder(t, "webhook", id, hv)
	for name, rc := range map[string]*Recorder{"talonone": u.Talon, "webhook": u.Hook} {
		if o := rc.Overlaps(); len(o) > 0 {
			t.Errorf("%s: two requests for one session at once, %d times", name, len(o))
		}
	}
	t.Logf("version %d at both upstreams (waited %s for it); Talon.One got %d versions, the webhook %d (the rest coalesced)",
		want, time.Since(start).Round(time.Millisecond), len(tv), len(hv))
}

// 1000 products added at once to one cart through two nodes (Shopify's
// /cart/add.js, captured from the shop's answer, merged line by line): every
// line is in the cart afterwards, once, on both nodes, and the session was
// written exactly 1000 times, the first of them creating it.
func TestFleetConcurrentCartLines(t *testing.T) {
	f := StartFleet(t, 2, nil)
	a := f.Nodes[0]

	// A page that stores nothing: the visitor gets a cookie, no session yet.
	res, _, err := a.Do("GET", "/plain", nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("plain page: %v %v", res, err)
	}
	cookie := SessionCookie(res)
	id, _, _ := strings.Cut(cookie, ".")
	if code, _ := a.Session(t, id); code != 404 {
		t.Fatalf("a session exists before the first write: %d", code)
	}

	scripts := scriptCalls(t, f.Redis)
	start := time.Now()
	errs := fanOut(updates, func(i int) error {
		n := f.Nodes[i%2]
		res, b, err := n.Do("POST", "/cart/add.js", []byte("id="+strconv.Itoa(i+1)),
			"Cookie", CookieHeader(cookie), "Content-Type", "application/x-www-form-urlencoded")
		if err != nil {
			return err
		}
		if res.StatusCode != 200 || !strings.Contains(string(b), fmt.Sprintf(`"product_id":%d,`, i+1)) {
			return fmt.Errorf("node %s: %d %s", n.Name, res.StatusCode, b)
		}
		return nil
	})
	t.Logf("%d add.js through 2 nodes, %d at a time: %s", updates, workers, time.Since(start).Round(time.Millisecond))
	reportErrs(t, errs)

	// Captures are written after each answer is sent: wait for the last.
	var s Session
	Poll(10*time.Second, func() bool { _, s = a.Session(t, id); return s.Version >= updates })
	t.Logf("%d compare-and-sets lost to the other node and retried", scriptCalls(t, f.Redis)-scripts-updates)
	for _, n := range f.Nodes {
		code, s := n.Session(t, id)
		if code != 200 || s.Version != updates {
			t.Errorf("node %s: %d, version %d; want 200, version %d", n.Name, code, s.Version, updates)
		}
		seen := make(map[string]int)
		for _, it := range s.Cart.Items {
			p, _ := strconv.Atoi(it.ProductID)
			if it.SkuID != strconv.Itoa(900000+p) || it.Quantity != 1 || it.UnitPrice != "19.99" || it.Name != "Item "+it.ProductID {
				t.Errorf("node %s: line %+v is not what the shop answered for product %d", n.Name, it, p)
			}
			seen[it.ProductID]++
		}
		var lost []int
		for p := 1; p <= updates; p++ {
			if seen[strconv.Itoa(p)] != 1 {
				lost = append(lost, p)
			}
		}
		if len(lost) > 0 || len(s.Cart.Items) != updates {
			t.Errorf("node %s: %d lines; %d products missing or twice, first %v", n.Name, len(s.Cart.Items), len(lost), lost[:min(10, len(lost))])
		}
	}
	noErrorLogs(t, f.Nodes...)
}
