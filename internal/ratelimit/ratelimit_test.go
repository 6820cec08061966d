package ratelimit

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TestBucketPerNetwork: an IPv6 client's /64 shares one bucket, whatever
// addresses it picks in it; the next /64 and another IPv4 address each
// have their own.
func TestBucketPerNetwork(t *testing.T) {
	tab := New([]Rule{{Events: 2, Per: time.Minute}}, 100)
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if ok, _ := tab.Allow(0, a, t0); !ok {
			t.Fatalf("%s refused within the burst", a)
		}
	}
	if ok, wait := tab.Allow(0, "2001:db8:1:2:abcd::1", t0); ok || wait != 30*time.Second {
		t.Fatalf("a third address of the same /64: ok %v wait %s, want refused for 30s", ok, wait)
	}
	for _, a := range []string{"2001:db8:1:3::1", "192.0.2.1", "192.0.2.2", "::ffff:192.0.2.3"} {
		if ok, _ := tab.Allow(0, a, t0); !ok {
			t.Errorf("%s refused: it shares no bucket with the exhausted /64", a)
		}
	}
	if ok, _ := tab.Allow(0, "2001:db8:1:2::1", t0.Add(30*time.Second)); !ok {
		t.Error("refused after a token's refill time")
	}
}

// TestIPv4MappedSharesTheIPv4Bucket: an IPv4 address written as IPv6 is
// the same client.
func TestIPv4MappedSharesTheIPv4Bucket(t *testing.T) {
	tab := New([]Rule{{Events: 1, Per: time.Hour}}, 10)
	tab.Allow(0, "192.0.2.7", t0)
	if ok, _ := tab.Allow(0, "::ffff:192.0.2.7", t0); ok {
		t.Error("the IPv4-mapped form got a bucket of its own")
	}
	if got := Network("fe80::1%eth0"); got != netip.MustParsePrefix("fe80::/64") {
		t.Errorf("zoned address: %s", got)
	}
}

// TestRulesAreIndependent: one rule's bucket running dry leaves the other's.
func TestRulesAreIndependent(t *testing.T) {
	tab := New([]Rule{{Events: 1, Per: time.Hour}, {Events: 1, Per: time.Hour, Burst: 3}}, 10)
	tab.Allow(0, "192.0.2.1", t0)
	if ok, _ := tab.Allow(0, "192.0.2.1", t0); ok {
		t.Fatal("rule 0 allowed past its burst")
	}
	for i := range 3 {
		if ok, _ := tab.Allow(1, "192.0.2.1", t0); !ok {
			t.Fatalf("rule 1 refused its token %d of a burst of 3", i+1)
		}
	}
	if ok, _ := tab.Allow(1, "192.0.2.1", t0); ok {
		t.Fatal("rule 1 allowed past its burst")
	}
}

// TestOffRuleKeepsNothing: a rule that is off allows all and adds no entry.
func TestOffRuleKeepsNothing(t *testing.T) {
	tab := New([]Rule{{}}, 10)
	for i := range 100 {
		if ok, _ := tab.Allow(0, fmt.Sprintf("192.0.2.%d", i), t0); !ok {
			t.Fatal("an off rule refused")
		}
	}
	if tab.Len() != 0 {
		t.Errorf("an off rule kept %d entries", tab.Len())
	}
}

// TestTableBound: the table never holds more than its maximum, and what it
// forgets is the network idle longest, not the one just used.
func TestTableBound(t *testing.T) {
	tab := New([]Rule{{Events: 1, Per: time.Hour}}, 3)
	tab.Allow(0, "192.0.2.1", t0) // its bucket is now empty
	tab.Allow(0, "192.0.2.2", t0)
	tab.Allow(0, "192.0.2.3", t0)
	tab.Wait(0, "192.0.2.1", t0) // .1 used again: .2 is the idlest
	tab.Allow(0, "192.0.2.4", t0)
	if tab.Len() != 3 {
		t.Fatalf("table holds %d networks, bound 3", tab.Len())
	}
	if ok, _ := tab.Allow(0, "192.0.2.1", t0); ok {
		t.Error("the recently used .1 was forgotten (its bucket came back full)")
	}
	if ok, _ := tab.Allow(0, "192.0.2.2", t0); !ok {
		t.Error("the idlest .2 was kept: it should have been forgotten and start full")
	}
	for i := range 1000 {
		tab.Allow(0, fmt.Sprintf("2001:db8:%x::1", i), t0)
	}
	if tab.Len() != 3 {
		t.Errorf("after 1000 networks the table holds %d, bound 3", tab.Len())
	}
}

// TestTableMemory measures a full table's heap per network, which the
// README states for the default bound.
func TestTableMemory(t *testing.T) {
	const n = 100_000
	tab := New([]Rule{{Events: 20, Per: time.Minute}, {Events: 60, Per: time.Minute}}, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
		tab.Allow(0, a, t0)
		tab.Allow(1, a, t0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d networks with both buckets: %.0f bytes each, %.1f MiB", n, per, per*n/(1<<20))
	if per > 1024 {
		t.Errorf("%.0f bytes a network: the README's bound is out of date", per)
	}
	runtime.KeepAlive(tab)
}

// BenchmarkAllow is the cost a new session or a collect pays: one lookup
// in a full table, from many clients at once.
func BenchmarkAllow(b *testing.B) {
	tab := New([]Rule{{Events: 20, Per: time.Minute, Burst: 40}}, 20000)
	addrs := make([]string, 50000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tab.Allow(0, addrs[i%len(addrs)], time.Now())
			i += 7
		}
	})
}
