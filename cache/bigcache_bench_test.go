package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/model"
)

// benchSession is a typical stored session: a 3-item cart and a customer.
func benchSession(id string) *model.Session {
	now := time.Now().UTC()
	item := func(n int) model.CartItem {
		return model.CartItem{
			ProductID:         fmt.Sprintf("prod-%d", 1000+n),
			SkuID:             fmt.Sprintf("sku-%d-blue-m", 1000+n),
			Name:              fmt.Sprintf("Organic cotton t-shirt %d", n),
			Quantity:          n,
			UnitPrice:         model.Decimal(19_990_000 + n),
			PriceCurrencyCode: "EUR",
		}
	}
	return &model.Session{
		ID:        id,
		Version:   7,
		CreatedAt: now.Add(-time.Hour),
		UpdatedAt: now,
		Cart:      model.Cart{Items: []model.CartItem{item(1), item(2), item(3)}},
		Customer: model.Customer{
			CustomerReference:   "cust-000123",
			Email:               "jane.doe@example.com",
			FirstName:           "Jane",
			LastName:            "Doe",
			MarketingPermission: true,
		},
		PageType: model.PageCart,
		Action:   model.ActionViewCart,
	}
}

// setTo replaces the stored session's content with tmpl's, as a cart
// update from the handler would.
func setTo(tmpl *model.Session) UpdateFunc {
	return func(s *model.Session) error {
		s.Cart, s.Customer, s.PageType, s.Action = tmpl.Cart, tmpl.Customer, tmpl.PageType, tmpl.Action
		return nil
	}
}

const benchIDs = 1024

func benchStore(b *testing.B) (*Bigcache, []string) {
	store := newTestStore(b, BigcacheConfig{MaxSize: 64 << 20})
	return store, seedBench(b, store)
}

// seedBench stores benchIDs sessions of benchSession's shape in store.
func seedBench(b *testing.B, store Store) []string {
	ids := make([]string, benchIDs)
	for i := range ids {
		ids[i] = fmt.Sprintf("sess-%016x", i*7919)
		if _, err := store.Update(context.Background(), ids[i], setTo(benchSession(ids[i]))); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// benchGets reads the seeded sessions in turn, b.N times.
func benchGets(b *testing.B, store Store, ids []string) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := store.Get(ctx, ids[i%benchIDs]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchUpdates rewrites the seeded sessions in turn, b.N times, and
// reports the median and 99th percentile of one Update's latency.
func benchUpdates(b *testing.B, store Store, ids []string) {
	ctx := context.Background()
	fn := setTo(benchSession(""))
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		start := time.Now()
		if _, err := store.Update(ctx, ids[i%benchIDs], fn); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
		i++
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		b.ReportMetric(float64(lat[n/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[n*99/100].Nanoseconds()), "p99-ns")
	}
}

func BenchmarkGet(b *testing.B) {
	store, ids := benchStore(b)
	benchGets(b, store, ids)
}

func BenchmarkGetParallel(b *testing.B) {
	store, ids := benchStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 97
		for pb.Next() {
			if _, err := store.Get(ctx, ids[i%benchIDs]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	store, ids := benchStore(b)
	benchUpdates(b, store, ids)
}

func BenchmarkUpdateParallel(b *testing.B) {
	store, ids := benchStore(b)
	benchUpdatesParallel(b, store, ids)
}

// benchUpdatesParallel updates the sessions of ids from b's parallel
// goroutines, each starting on a run of its own.
func benchUpdatesParallel(b *testing.B, store Store, ids []string) {
	ctx := context.Background()
	fn := setTo(benchSession(""))
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 97
		for pb.Next() {
			if _, err := store.Update(ctx, ids[i%benchIDs], fn); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkEncodedSize reports what one typical session costs in the store
// (bigcache adds 18 bytes of header plus the id) against its JSON.
func BenchmarkEncodedSize(b *testing.B) {
	s := benchSession("sess-00000000deadbeef")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendBinary(buf[:0])
	}
	js, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(buf)), "bytes/session")
	b.ReportMetric(float64(len(js)), "json-bytes/session")
}

func TestEncodedSizeBeatsJSON(t *testing.T) {
	s := benchSession("sess-00000000deadbeef")
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	n := len(s.AppendBinary(nil))
	t.Logf("binary %d bytes, JSON %d bytes", n, len(js))
	if n >= len(js)/2 {
		t.Errorf("binary encoding %d bytes is not under half of JSON's %d", n, len(js))
	}
}

// BenchmarkRange100k is the scan behind GDPR takeout and delete by
// customer: one op reads every one of 100,000 sessions.
func BenchmarkRange100k(b *testing.B) {
	store := fill100k(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		store.Range(context.Background(), func(*model.Session) bool { n++; return true })
		if n != 100_000 {
			b.Fatalf("scanned %d sessions", n)
		}
	}
}

// BenchmarkLinked100k is a GDPR takeout over 100,000 sessions, one of them
// linked: the pre-filter leaves the others undecoded.
func BenchmarkLinked100k(b *testing.B) {
	store := fill100k(b)
	store.Update(context.Background(), "linked", func(s *model.Session) error {
		s.Customer.CustomerReference = "cust-linked"
		return nil
	})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got, err := store.Linked(context.Background(), "cust-linked"); err != nil || len(got) != 1 {
			b.Fatalf("linked %d, %v", len(got), err)
		}
	}
}

func fill100k(b *testing.B) *Bigcache {
	store := newTestStore(b, BigcacheConfig{MaxSize: 256 << 20})
	tmpl := benchSession("")
	for i := range 100_000 {
		if _, err := store.Update(context.Background(), fmt.Sprintf("sess-%016x", i), setTo(tmpl)); err != nil {
			b.Fatal(err)
		}
	}
	return store
}
