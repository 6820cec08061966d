package feed

import (
	"context"
	"testing"
	"time"

	"github.com/sessiontap/caddy-sessiontap/internal/redistest"
	"github.com/sessiontap/caddy-sessiontap/model"
)

func benchEvent(v uint64) Event {
	return Event{SessionID: "bench-session-0123456789", Version: v, At: time.Now(), Source: model.SourceHTML,
		Changes: model.ChangeCart | model.ChangeAction, Path: "/products/organic-cotton-t-shirt", PageType: model.PageProduct,
		CartLines: 3, CartTotal: model.Decimal(59_970_000), Node: "node-a"}
}

// BenchmarkRingPublish is what the request path pays per change with the
// embedded store's feed and one inspector watching.
func BenchmarkRingPublish(b *testing.B) {
	r := NewRing(DefaultSize)
	ch, cancel := r.Subscribe()
	defer cancel()
	go func() {
		for range ch {
		}
	}()
	b.ReportAllocs()
	for i := range b.N {
		r.Publish(benchEvent(uint64(i)))
	}
}

// BenchmarkStreamPublish is how many changes a node's feed writes to Redis
// per second, end to end: published, written (XADD in batches) and read
// back into the node's own ring. One op is one event.
func BenchmarkStreamPublish(b *testing.B) {
	if testing.Short() {
		b.Skip("needs Redis")
	}
	client := redistest.Client(b)
	s := NewStream(client, redistest.Prefix(b)+"feed", DefaultSize, nil)
	defer s.Close()
	time.Sleep(50 * time.Millisecond) // following the stream
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for len(s.queue) == cap(s.queue) {
			time.Sleep(time.Millisecond) // Publish would drop: measure throughput, not loss
		}
		s.Publish(benchEvent(uint64(i + 1)))
	}
	// Read back: the ring's newest event is the last one published.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		r, _ := s.Recent(context.Background(), 1)
		if len(r) == 1 && r[0].Version == uint64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the last of %d events never came back (dropped %d)", b.N, s.Dropped())
		}
	}
	b.StopTimer()
	if d := s.Dropped(); d != 0 {
		b.Fatalf("%d events were not written", d)
	}
}
